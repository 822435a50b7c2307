/**
 * Importers: another tool's migrations become pgstack's `NNNN_name.sql` files, in the tool's
 * order, each starting with a provenance comment. {@link convertFolder} converts in memory;
 * {@link writeMigrations} (in `write.ts`) validates and writes atomically.
 */
import { importAlembicSql } from "./alembic.js";
import { importDbmate } from "./dbmate.js";
import { importDrizzle } from "./drizzle.js";
import { importFlyway } from "./flyway.js";
import { importGolangMigrate } from "./golang-migrate.js";
import { importGoose } from "./goose.js";
import { importPrisma } from "./prisma.js";
import { parse, renderMigration, type ImportResult, type Importer, type ToolName } from "./shared.js";

export * from "./shared.js";
export { writeMigrations, type ConvertedFile, type WriteOptions, type WriteResult } from "./write.js";
import type { ConvertedFile } from "./write.js";
export { foreignAppliedVersions, mapForeignHistory, readForeignHistory, type ForeignHistory } from "./foreign-history.js";

/** The `--from` values, and the importer and tool each one stands for. */
export const SOURCES = {
  drizzle: { tool: "drizzle", run: importDrizzle },
  prisma: { tool: "prisma", run: importPrisma },
  flyway: { tool: "flyway", run: importFlyway },
  "golang-migrate": { tool: "golang-migrate", run: importGolangMigrate },
  dbmate: { tool: "dbmate", run: importDbmate },
  goose: { tool: "goose", run: importGoose },
  "alembic-sql": { tool: "alembic", run: importAlembicSql },
} as const satisfies Record<string, { tool: ToolName; run: Importer }>;

/** A `--from` value. */
export type SourceFormat = keyof typeof SOURCES;

/** True when `s` is a known `--from` value. */
export function isSourceFormat(s: string): s is SourceFormat {
  return Object.hasOwn(SOURCES, s);
}

/** The files of an import, numbered 0001, 0002, … in the tool's order, and the importer's notes. */
export interface Conversion {
  tool: ToolName;
  files: ConvertedFile[];
  notes: string[];
}

/** Converts `dir` from `format` into pgstack files (in memory). Call `loadSqlParser()` first. */
export async function convertFolder(format: SourceFormat, dir: string): Promise<Conversion> {
  const result: ImportResult = await SOURCES[format].run(dir);
  for (const m of result.migrations) {
    if (parse(m.sql, m.source).length > 0) continue;
    // pgstack refuses an empty migration, but the tool's history may name this one: keep a no-op.
    const why = `-- ${m.source} has no SQL of its own (an empty or merge migration); kept so the tool's history maps onto it`;
    m.sql = [why, m.sql.trim(), "SELECT 1;"].filter((part) => part !== "").join("\n");
    result.notes.push(`${m.source} has no SQL of its own: its file holds a no-op SELECT 1`);
  }
  const files = result.migrations.map((m, i) => ({
    file: `${String(i + 1).padStart(4, "0")}_${m.name}.sql`,
    source: m.source,
    text: renderMigration(result.tool, m),
    noTransaction: m.noTransaction,
  }));
  return { tool: result.tool, files, notes: result.notes };
}
