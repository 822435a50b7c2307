/**
 * Drift for SchemaVerification: the live database against the declared schema (its migration
 * files applied to a shadow database), compared by name. Measured against the files, never
 * against what the last `up` saw, so no `up` blesses a hand-made change. The rules (what drift
 * is, what the policy refuses) are the core's (`lifecycle/drift.ts`); this is the provider's side.
 */
import {
  declaredFiles,
  declaredSchemaCached,
  declaredSchemaOf,
  diffSchemas,
  loadDeclared,
  judgeDrift,
  judgeDriftPolicy,
  migrationsDigest,
  PgstackError,
  readSchema,
  type DeclaredSubject,
  type DriftSubject,
  type Logger,
  type SchemaSnapshot,
} from "../lifecycle/index.js";
import { touchesServer } from "../lifecycle/scratch-server.js";
import { logger, programRoot, readOrGone } from "./common.js";


/** Options of {@link measureDrift}. */
export interface MeasureDriftOptions {
  /** Fail when the files no longer hash to `declared.digest` (they changed while pulumi ran). */
  requireDigest?: boolean;
  /**
   * The live schema as the caller is already reading it (with the history, as {@link readSchema}
   * reads it by default; undefined: the database is gone). Without it the live side is read here.
   */
  live?: Promise<SchemaSnapshot | undefined>;
}

/**
 * The drift report: every difference between the declared schema (all migration files) and the
 * live database, one line per object. Undefined when the database is gone.
 */
export async function measureDrift(subject: DriftSubject, options: MeasureDriftOptions = {}): Promise<string[] | undefined> {
  const root = programRoot();
  // The server reads the live schema while this process hashes the files and finds (or builds)
  // the declared one: the two sides overlap instead of adding up.
  const liveSide = options.live ?? readOrGone(subject.connection, (client) => readSchema(client, { schemas: subject.schemas, helpers: subject.connection }));
  liveSide.catch(() => undefined); // awaited below; not unhandled if the files fail first
  const files = await declaredFiles(root, subject.declared);
  if (options.requireDigest && migrationsDigest(files) !== subject.declared.digest) {
    throw new PgstackError("MIGRATIONS_CHANGED", `the migration files in ${subject.declared.dir} changed while pulumi ran`, {
      hint: "run `pulumi up` again",
    });
  }
  const [live, declared] = await Promise.allSettled([liveSide, declaredSchemaOf(root, subject, files, { logger })]);
  if (live.status === "rejected") throw live.reason;
  // A database that is gone has no drift, whatever the declared side did (its build fails to connect).
  if (!live.value) return undefined;
  if (declared.status === "rejected") throw declared.reason;
  return diffSchemas(declared.value, live.value);
}

/**
 * The declared schema of every file, built while the MigrationSet applies the pending ones: the
 * scratch database and the live one are independent, and the SchemaVerification that follows
 * then finds it in the cache instead of building it after the apply. Never fails (a build error
 * is the verification's to report, with its own context); resolves once the scratch database is
 * dropped, so nothing of it outlives the caller.
 */
export async function prepareDeclaredSchema(subject: DeclaredSubject): Promise<void> {
  const database = subject.connection.database;
  // Only warnings: the apply's own progress lines stay readable.
  const quiet: Logger = { info: () => undefined, warn: (m) => logger.warn(m) };
  try {
    const root = programRoot();
    const files = await declaredFiles(root, subject.declared);
    if (files.length === 0 || declaredSchemaCached(subject, files)) return;
    const migrations = await loadDeclared(root, subject.declared);
    // A role or database both runs would create: the real one must not find it taken. The
    // verification builds it after the apply instead, as the scratch run then expects.
    if (touchesServer(migrations)) return;
    logger.info(`${database}: building the declared schema of ${files.length} migration file(s) for the drift check, beside the apply`);
    const started = Date.now();
    await declaredSchemaOf(root, subject, files, { logger: quiet, migrations });
    logger.info(`${database}: the declared schema is ready for the drift check (${Date.now() - started} ms)`);
  } catch {
    // The verification builds it again and reports the failure.
  }
}

/**
 * The check before anything runs: drift of the live database against the declared schema *at
 * the version it has reached*, so pending migrations do not count. Returns the refusal, or
 * nothing. A database that does not exist yet, or that pgstack never migrated (adoption), has
 * nothing to compare; a history that is not a prefix of the files is the MigrationSet's error.
 */
export async function driftBeforeUp(subject: DriftSubject): Promise<string | undefined> {
  const live = await readOrGone(subject.connection, (client) => readSchema(client, { schemas: subject.schemas, helpers: subject.connection }));
  if (!live || live.history.length === 0) return undefined;
  const root = programRoot();
  const files = await declaredFiles(root, subject.declared);
  const prefix = live.history.every((h, i) => files[i]?.id === h.id && files[i]?.name === h.name && files[i]?.checksum === h.checksum);
  if (!prefix) return undefined;
  return policyVerdict(subject, diffSchemas(await declaredSchemaOf(root, subject, files, { upTo: live.history.at(-1)?.id, logger }), live));
}

/**
 * Applies the stack's policy to a report: the refusal message when it refuses, else undefined
 * (after warning about each unaccepted line, and about accepted lines that no longer occur).
 */
export function policyVerdict(subject: DriftSubject, report: readonly string[]): string | undefined {
  const database = subject.connection.database;
  const { unaccepted, stale, refusal } = judgeDriftPolicy(database, report, subject.declared);
  for (const line of stale) logger.warn(`${database}: ${subject.declared.configPath}.accept lists "${line}", which no longer occurs; remove it`);
  if (refusal) return refusal.message;
  if (unaccepted.length > 0) logger.warn(`${database}: drifted from its migrations:\n${unaccepted.map((l) => `    ${l}`).join("\n")}`);
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
