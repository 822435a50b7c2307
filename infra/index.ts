/**
 * The pgstack program: one {@link PostgresDatabase} per database in the stack config, and the
 * per-database outputs (tables, foreign keys, migration head, reset generation, last backup,
 * fingerprint, drift, inventory).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { migrationsDir } from "./config.js";
import { PostgresDatabase, type DatabaseOutputs } from "./components/database.js";
import { loadMigrations, loadSqlParser, type Migration } from "./lifecycle/index.js";
import { loadStack } from "./stack.js";

/** The project root: Pulumi runs the program there. */
const projectRoot = path.resolve(__dirname, "..");

async function main(): Promise<Record<string, DatabaseOutputs>> {
  const { stack, config, adminPassword, rolePasswords } = loadStack(projectRoot);
  await loadSqlParser();
  // Load every migration folder before declaring anything: a bad file stops the whole run.
  const sources = await Promise.all(
    config.databases.map((db) => loadMigrations(path.join(projectRoot, migrationsDir(db))).then((ms) => relativeFiles(ms))),
  );
  const outputs: Record<string, DatabaseOutputs> = {};
  config.databases.forEach((db, index) => {
    const component = new PostgresDatabase(db.name, {
      stack,
      index,
      server: config.server,
      db,
      adminPassword,
      rolePasswords,
      migrations: sources[index] ?? [],
      backupDir: `backups/${stack}/${db.name}`,
    });
    outputs[db.name] = component.outputs;
  });
  return outputs;
}

/** File paths relative to the project, so messages and state read the same on every machine. */
function relativeFiles(ms: Migration[]): Migration[] {
  return ms.map((m) => ({ ...m, file: path.relative(projectRoot, m.file) }));
}

// Pulumi exports the resolved object's keys as stack outputs: one per database.
export = main().catch((err: unknown) => {
  // A RunError prints as a plain message (no stack trace): these are user errors.
  throw new pulumi.RunError(err instanceof Error ? err.message : String(err));
});
