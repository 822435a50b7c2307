/**
 * The pgstack program: one {@link PostgresDatabase} per database in the stack config, and the
 * per-database outputs (tables, foreign keys, migration head, reset generation, last backup,
 * fingerprint, drift, inventory). Run by `infra/index.ts` under the Pulumi CLI, or passed as an
 * inline program to the Automation API.
 */
import * as path from "node:path";
import { migrationsDir, safetyPolicyOf } from "./config.js";
import { PostgresDatabase, type DatabaseOutputs } from "./components/database.js";
// The modules the program needs, not the lifecycle's barrel: every preview loads the program.
import { mayCreateSchema } from "./lifecycle/migration-schemas.js";
import { loadMigrations, nodeFileReader, type Migration } from "./lifecycle/source.js";
import { loadSqlParser } from "./lifecycle/sql.js";
import { fileParseCache, projectParseCacheDir } from "./lifecycle/parse-cache.js";
import { loadStack } from "./stack.js";

/** Options of {@link pgstackProgram}. */
export interface ProgramOptions {
  /** The project folder: migrations, `.pgstack/` and backups are found relative to it. */
  projectRoot: string;
}

/** Declares every database of the current stack; resolves to the stack outputs. */
export async function pgstackProgram(options: ProgramOptions): Promise<Record<string, DatabaseOutputs>> {
  const { projectRoot } = options;
  const { stack, config, adminPassword, rolePasswords } = loadStack(projectRoot);
  // Load every migration folder before declaring anything: a bad file stops the whole run.
  // Parses are cached by checksum, so only files never parsed on this machine are parsed (and
  // the SQL parser is not even loaded when there are none).
  const cache = fileParseCache(projectParseCacheDir(projectRoot));
  const sources = await Promise.all(
    config.databases.map((db) => loadMigrations(path.join(projectRoot, migrationsDir(db)), nodeFileReader, { cache })),
  );
  // The one rule on managed schemas a migration creates needs the parser, only when a file may create one.
  if (sources.some((ms) => ms.some((m) => mayCreateSchema(m.sql)))) await loadSqlParser();
  // File paths relative to the project, so messages and state read the same on every machine.
  const relative = (ms: Migration[]) => ms.map((m) => ({ ...m, file: path.relative(projectRoot, m.file) }));
  const outputs: Record<string, DatabaseOutputs> = {};
  config.databases.forEach((db, index) => {
    const component = new PostgresDatabase(db.name, {
      stack,
      index,
      server: config.server,
      db,
      adminPassword,
      rolePasswords,
      migrations: relative(sources[index] ?? []),
      backupDir: `backups/${stack}/${db.name}`,
      safety: safetyPolicyOf(config, db),
    });
    outputs[db.name] = component.outputs;
  });
  return outputs;
}
