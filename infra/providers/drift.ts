/**
 * Drift for SchemaVerification: the live database against the declared schema (its migration
 * files applied to a shadow database), compared by name. Measured against the files, never
 * against what the last `up` saw, so no `up` blesses a hand-made change.
 */
import * as path from "node:path";
import {
  buildDeclaredSchema,
  cachedDeclaredSchema,
  diffSchemas,
  readSchema,
  judgeDrift,
  loadMigrations,
  loadSqlParser,
  PgstackError,
  scanMigrationFiles,
  sha256,
  type ConnectionOptions,
  type ManagedSchema,
  type Migration,
  type MigrationIdentity,
  type SchemaSnapshot,
} from "../lifecycle/index.js";
import { logger, readOrGone } from "./common.js";

/** What the declared schema is built from, and the stack's drift policy. */
export interface DeclaredInput {
  /** The migrations folder, relative to the project (`migrations/fltr`). */
  dir: string;
  /** {@link migrationsDigest} of the files the program loaded: a changed folder re-verifies. */
  digest: string;
  /** The role migrations run as (the owner), in the shadow too. */
  role: string;
  /** `refuse`: `up` fails on unaccepted drift; `warn`: it only warns. */
  policy: "refuse" | "warn";
  /** Report lines the stack accepts as known drift. */
  accept: string[];
  /** Where the policy lives in the config, for messages (`pgstack:databases[0].drift`). */
  configPath: string;
}

/** sha256 over the files' versions, names and checksums, in order. */
export function migrationsDigest(migrations: readonly MigrationIdentity[]): string {
  return sha256(JSON.stringify(migrations.map((m) => [m.id, m.name, m.checksum])));
}

/** `up` refused: the live schema differs from the migrations and the config does not accept it. */
export class DriftRefusedError extends PgstackError {
  readonly lines: readonly string[];
  constructor(database: string, lines: readonly string[], configPath: string) {
    super(
      "DRIFT_REFUSED",
      `database "${database}" has drifted from its migrations (${lines.length} difference(s) the stack does not accept):\n` +
        lines.map((l) => `    ${l}`).join("\n"),
      {
        hint:
          `make each change real with a migration, or undo it by hand; or, if it is known and wanted, accept the exact line(s) in ` +
          `${configPath}.accept (or set ${configPath}.policy: warn)`,
      },
    );
    this.lines = lines;
  }
}

/** The project folder: providers load the migration files from it. */
function projectRoot(): string {
  return path.resolve(__dirname, "..", "..");
}

/** Loads the migrations the declared input names, from the project. */
async function loadDeclared(declared: DeclaredInput): Promise<Migration[]> {
  const root = projectRoot();
  await loadSqlParser();
  const migrations = await loadMigrations(path.resolve(root, declared.dir));
  // Relative paths, as the program passes them, so messages read the same everywhere.
  return migrations.map((m) => ({ ...m, file: path.relative(root, m.file) }));
}

/** The managed schemas the shadow gets: the declared ones with their grants, or bare ones owned by the role. */
function shadowSchemas(schemas: readonly string[], role: string, grants: readonly ManagedSchema[] | undefined): ManagedSchema[] {
  return schemas.map((s) => grants?.find((g) => g.name === s) ?? { name: s, owner: role, grants: [] });
}

/**
 * The declared schema of the subject's files (up to `upTo`): from the cache when the files are
 * unchanged (no SQL parsed, no database work), else built in a shadow database.
 */
async function declaredSchema(subject: DriftSubject, files: readonly MigrationIdentity[], upTo?: number): Promise<SchemaSnapshot> {
  const opts = { role: subject.declared.role, schemas: shadowSchemas(subject.schemas, subject.declared.role, subject.grants), ...(upTo !== undefined ? { upTo } : {}) };
  const hit = cachedDeclaredSchema(files, opts);
  if (hit) return hit;
  return buildDeclaredSchema(subject.connection, await loadDeclared(subject.declared), { ...opts, logger });
}

/** What a drift measurement needs from the verification's inputs. */
export interface DriftSubject {
  connection: ConnectionOptions;
  schemas: string[];
  grants?: ManagedSchema[];
  declared: DeclaredInput;
}

/**
 * The drift report: every difference between the declared schema (all migration files) and the
 * live database, one line per object. Undefined when the database is gone.
 */
export async function measureDrift(subject: DriftSubject, options: { requireDigest?: boolean } = {}): Promise<string[] | undefined> {
  const files = await scanMigrationFiles(path.resolve(projectRoot(), subject.declared.dir));
  if (options.requireDigest && migrationsDigest(files) !== subject.declared.digest) {
    throw new PgstackError("MIGRATIONS_CHANGED", `the migration files in ${subject.declared.dir} changed while pulumi ran`, {
      hint: "run `pulumi up` again",
    });
  }
  const live = await readOrGone(subject.connection, (client) => readSchema(client, { schemas: subject.schemas }));
  if (!live) return undefined;
  return diffSchemas(await declaredSchema(subject, files), live);
}

/**
 * Drift at the version the database has reached, so pending migrations are not drift (the
 * review's measure: what is wrong now, apart from what the PR brings). Undefined when the
 * database is gone.
 */
export async function measureDriftAtHead(subject: DriftSubject): Promise<string[] | undefined> {
  const live = await readOrGone(subject.connection, (client) => readSchema(client, { schemas: subject.schemas }));
  if (!live) return undefined;
  const files = await scanMigrationFiles(path.resolve(projectRoot(), subject.declared.dir));
  return diffSchemas(await declaredSchema(subject, files, live.history.at(-1)?.id ?? 0), live);
}

/**
 * The check before anything runs: drift of the live database against the declared schema *at
 * the version it has reached*, so pending migrations do not count. Returns the refusal, or
 * nothing. A database that does not exist yet, or that pgstack never migrated (adoption), has
 * nothing to compare; a history that is not a prefix of the files is the MigrationSet's error.
 */
export async function driftBeforeUp(subject: DriftSubject): Promise<string | undefined> {
  const live = await readOrGone(subject.connection, (client) => readSchema(client, { schemas: subject.schemas }));
  if (!live || live.history.length === 0) return undefined;
  const files = await scanMigrationFiles(path.resolve(projectRoot(), subject.declared.dir));
  const prefix = live.history.every((h, i) => files[i]?.id === h.id && files[i]?.name === h.name && files[i]?.checksum === h.checksum);
  if (!prefix) return undefined;
  return policyVerdict(subject, diffSchemas(await declaredSchema(subject, files, live.history.at(-1)?.id), live));
}

/**
 * Applies the stack's policy to a report: the refusal message when it refuses, else undefined
 * (after warning about each unaccepted line, and about accepted lines that no longer occur).
 */
export function policyVerdict(subject: DriftSubject, report: readonly string[]): string | undefined {
  const { unaccepted, stale } = judgeDrift(report, subject.declared.accept);
  for (const line of stale) logger.warn(`${subject.connection.database}: ${subject.declared.configPath}.accept lists "${line}", which no longer occurs; remove it`);
  if (unaccepted.length === 0) return undefined;
  if (subject.declared.policy === "refuse") return new DriftRefusedError(subject.connection.database, unaccepted, subject.declared.configPath).message;
  logger.warn(`${subject.connection.database}: drifted from its migrations:\n${unaccepted.map((l) => `    ${l}`).join("\n")}`);
  return undefined;
}

/**
 * The `drift` output: `in sync`, `in sync (N accepted difference(s): …)` when the config accepts
 * every line, else `drifted: ` and the lines it does not accept.
 */
export function driftStatus(report: readonly string[], accept: readonly string[]): string {
  const { unaccepted, accepted } = judgeDrift(report, accept);
  if (unaccepted.length > 0) return `drifted: ${unaccepted.join("; ")}${accepted.length ? ` (and ${accepted.length} accepted)` : ""}`;
  return accepted.length ? `in sync (${accepted.length} accepted difference(s): ${accepted.join("; ")})` : "in sync";
}
