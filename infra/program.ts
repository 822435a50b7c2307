/**
 * The pgstack program: one {@link PostgresDatabase} per database of a validated config, and the
 * per-database outputs (tables, foreign keys, migration head, reset generation, last backup,
 * fingerprint, drift, inventory). {@link pgstackProgram} is this project's own program (run by
 * `index.ts` under the Pulumi CLI, or as an inline program of the Automation API); it is
 * one consumer of {@link declareDatabases}, which other Pulumi programs call with their own server.
 */
import * as path from "node:path";
import { CONFIG_NAMESPACE, migrationsDir, safetyPolicyOf, type DatabaseConfig, type StackConfig } from "./config.js";
import { PostgresDatabase, type DatabaseOutputs, type ServerInput } from "./components/database.js";
// The modules the program needs, not the lifecycle's barrel: every preview loads the program.
import { mayCreateSchema } from "./lifecycle/migration-schemas.js";
import { loadMigrations, nodeFileReader, type Migration } from "./lifecycle/source.js";
import { loadSqlParser } from "./lifecycle/sql.js";
import { fileParseCache, projectParseCacheDir } from "./lifecycle/parse-cache.js";
import type * as pulumi from "@pulumi/pulumi";
import { loadStack } from "./stack.js";

/** Options of {@link pgstackProgram}. */
export interface ProgramOptions {
  /** The project folder: migrations, `.pgstack/` and backups are found relative to it. */
  projectRoot: string;
}

/** Declares every database of the current stack's config; resolves to the stack outputs. */
export async function pgstackProgram(options: ProgramOptions): Promise<Record<string, DatabaseOutputs>> {
  const { projectRoot } = options;
  const { stack, config, adminPassword, rolePasswords, rootCert } = loadStack(projectRoot);
  const { host, port, adminUser, sslmode } = config.server;
  const server = { host, port, adminUser, sslmode, adminPassword, ...(rootCert ? { rootCert } : {}) };
  const databases = await declareDatabases({ stack, config, server, rolePasswords, projectRoot });
  return Object.fromEntries(Object.entries(databases).map(([name, db]) => [name, db.outputs]));
}

/** Options of {@link declareDatabases}. */
export interface DeclareDatabasesOptions {
  /** The validated config (`parseStackConfig`): its databases and safety policy (its `server` is not used). */
  config: Pick<StackConfig, "databases" | "safety">;
  /** The server every database lives on; its settings may be outputs of other resources. */
  server: ServerInput;
  /** Passwords of login roles, by role name; the others get generated passwords. */
  rolePasswords?: Readonly<Record<string, pulumi.Input<string>>>;
  /** The stack, for messages and the reset policy. Default: the current Pulumi stack. */
  stack?: string;
  /** The folder migrations folders, `.pgstack/` and backups are relative to. Default: the working directory (the program's folder). */
  projectRoot?: string;
  /** Passed to each {@link PostgresDatabase} (a parent, a provider…). */
  opts?: pulumi.ComponentResourceOptions;
}

/**
 * Declares one {@link PostgresDatabase} per database of `config`, by name. Every migration folder
 * is loaded and checked first, so a bad file stops the run before anything is declared.
 */
export async function declareDatabases(options: DeclareDatabasesOptions): Promise<Record<string, PostgresDatabase>> {
  const { config } = options;
  const sources = await loadDatabaseMigrations(config.databases, options.projectRoot);
  const out: Record<string, PostgresDatabase> = {};
  config.databases.forEach((db, index) => {
    out[db.name] = new PostgresDatabase(
      db.name,
      {
        server: options.server,
        db,
        migrations: sources[index] ?? [],
        configPath: `${CONFIG_NAMESPACE}:databases[${index}]`,
        safety: safetyPolicyOf(config, db),
        ...(options.rolePasswords ? { rolePasswords: options.rolePasswords } : {}),
        ...(options.stack !== undefined ? { stack: options.stack } : {}),
        ...(options.projectRoot !== undefined ? { projectRoot: options.projectRoot } : {}),
      },
      options.opts,
    );
  });
  return out;
}

/**
 * Loads and parses the migrations of each database, in order, from its folder under
 * `projectRoot` (default: the working directory). Parses are cached by checksum in
 * `.pgstack/cache/parse/`, so only files never parsed on this machine are parsed. File paths
 * come back relative to `projectRoot`, so messages and state read the same on every machine.
 * Throws on the first bad file, naming it.
 */
export async function loadDatabaseMigrations(databases: readonly DatabaseConfig[], projectRoot = process.cwd()): Promise<Migration[][]> {
  const cache = fileParseCache(projectParseCacheDir(projectRoot));
  const sources = await Promise.all(databases.map((db) => loadMigrations(path.join(projectRoot, migrationsDir(db)), nodeFileReader, { cache })));
  // The one rule on managed schemas a migration creates needs the parser, only when a file may create one.
  if (sources.some((ms) => ms.some((m) => mayCreateSchema(m.sql)))) await loadSqlParser();
  return sources.map((ms) => ms.map((m) => ({ ...m, file: path.relative(projectRoot, m.file) })));
}
