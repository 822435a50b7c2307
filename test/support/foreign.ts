/**
 * Databases another migration tool built, for the adoption tests: a tool's folder imported as
 * `npm run import` does, and its migrations run the way the tool runs them (no pgstack history).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import { convertFolder, writeMigrations, type SourceFormat } from "../../infra/importers/index.js";
import { loadMigrations, splitStatements, type Migration } from "../../infra/lifecycle/index.js";

/** Imports a tool's folder into `<tmp>/<format>-*\/app` and loads it back with pgstack's loader. */
export async function importFixture(tmp: string, format: SourceFormat, dir: string): Promise<Migration[]> {
  const out = path.join(fs.mkdtempSync(path.join(tmp, `${format}-`)), "app");
  await writeMigrations(out, (await convertFolder(format, dir)).files);
  return loadMigrations(out);
}

/** Runs migrations the way the tool would: each in a transaction, or statement by statement. */
export async function runByTool(cl: pg.Client, ms: readonly Migration[]): Promise<void> {
  for (const m of ms) {
    if (m.inTransaction) await cl.query(`BEGIN;\n${m.sql}\n;\nCOMMIT`);
    else for (const s of splitStatements(m.sql, m.file)) await cl.query(s.sql);
  }
}

/** golang-migrate's history table as the tool creates it, at `version` (clean). */
export async function golangMigrateAt(cl: pg.Client, version: number): Promise<void> {
  await cl.query(`CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (${version}, false)`);
}
