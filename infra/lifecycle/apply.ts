/**
 * Apply: runs pending migrations under the advisory lock, one transaction per migration
 * together with its history row. The history, and any no-transaction migration a previous
 * run left unfinished, are checked before anything runs.
 */
import type pg from "pg";
import { HistoryMismatchError, MigrationFailedError, errorMessage } from "./errors.js";
import { clearMarkerSql, ensureHistory, writeMarkerSql, type RunningMarker } from "./history.js";
import { quoteIdent, quoteLiteral } from "./identifiers.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";
import type { Logger } from "./connection.js";
import { silentLogger } from "./connection.js";
import { locateInEnvelope, locateInStatement, migrationFailure, queryCounting, timeoutAdvice, type Envelope } from "./locate.js";
import { isRepeatable, type Migration } from "./source.js";
import { splitStatements, type Statement } from "./sql.js";
import { readDatabaseState } from "./state.js";

/** What happened to one migration in a run. */
export type MigrationResult =
  | { name: string; status: "Success"; durationMs: number; inTransaction: boolean }
  | { name: string; status: "Error"; error: MigrationFailedError }
  | { name: string; status: "NotExecuted" };

/** The outcome of {@link applyMigrations}: a result per pending migration, and the error if one failed. */
export interface ApplyResult {
  /** Migrations that were already applied before this run. */
  alreadyApplied: number;
  results: MigrationResult[];
  /** Set when a migration failed; earlier ones stay applied, later ones did not run. */
  error?: MigrationFailedError;
  /** How many migrations this run recorded without running them (adoption). */
  baselined?: number;
}

/**
 * Settings each migration runs with. Values are Postgres durations (`"5s"`, `"2min"`, `"0"` for
 * no limit). When a value is unset pgstack sets nothing and the server's defaults apply (the
 * role's, the database's or postgresql.conf's; out of the box both are 0, i.e. no limit).
 */
export interface SessionSettings {
  /** `lock_timeout`: how long one statement waits for a table or row lock before failing (55P03). */
  lockTimeout?: string;
  /** `statement_timeout`: how long one statement may run before it is cancelled (57014). */
  statementTimeout?: string;
}

/** Options for {@link applyMigrations}. */
export interface ApplyOptions {
  /** The database's name, for messages. */
  database: string;
  /** Run migrations as this role (`SET ROLE`), so the tables they create belong to it. */
  role?: string;
  /** Wait this long for the advisory lock. Default 30 s. */
  lockTimeoutMs?: number;
  /**
   * Session settings per migration: `SET LOCAL` inside each transactional migration; `SET`
   * before and `RESET` after a no-transaction one. Unset values: the server's defaults.
   */
  session?: SessionSettings;
  /** Progress, one line per migration. */
  logger?: Logger;
  /**
   * Adopt a database that has tables and no history: record the migrations its schema already
   * equals as applied without running them, e.g. `baseline.ts`'s `adoptBaseline`; called under
   * the lock, only when nothing is recorded. Without it, such a database is migrated from the
   * first file. (Passed in, so the baseline, which builds with this applier, is no import cycle.)
   */
  adopt?: (client: pg.Client, migrations: readonly Migration[]) => Promise<{ count: number } | undefined>;
  /**
   * Called after each migration is applied and recorded, still under the lock (adoption's build
   * reads the schema at every version this way, in one run instead of one run per version; the
   * rehearsal measures each step with its result).
   */
  afterEach?: (m: Migration, result: MigrationResult) => Promise<unknown>;
}

/**
 * Applies the pending migrations in order. The recorded history must be an in-order prefix of
 * `migrations` with equal checksums; otherwise nothing runs and {@link HistoryMismatchError}
 * lists every mismatch. If a `pgstack:no-transaction` migration was left unfinished by an earlier
 * run, nothing runs either: {@link MigrationInterruptedError} says what may have run and how to
 * clear it. Call {@link loadSqlParser} first.
 */
export async function applyMigrations(
  client: pg.Client,
  migrations: readonly Migration[],
  options: ApplyOptions,
): Promise<ApplyResult> {
  const log = options.logger ?? silentLogger;
  return withMigrationLock(client, options.database, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    await ensureHistory(client);
    // The one state model, read under the lock; adoption is planned and recorded here, as a write.
    let state = await readDatabaseState(client, migrations, { database: options.database });
    if (state.mismatches.length > 0) throw new HistoryMismatchError(options.database, state.mismatches);
    if (state.interrupted) throw state.interrupted;
    // Adoption records versioned migrations only (repeatables run after it, as on any first `up`).
    const adopted = state.applied.length === 0 && options.adopt ? await options.adopt(client, migrations.filter((m) => !isRepeatable(m))) : undefined;
    if (adopted) state = await readDatabaseState(client, migrations, { database: options.database });
    const { applied, pending } = state;
    const results: MigrationResult[] = [];
    if (pending.length === 0) {
      log.info(`${options.database}: up to date (${applied.length} migrations applied)`);
      return { alreadyApplied: applied.length, results, ...(adopted ? { baselined: adopted.count } : {}) };
    }
    log.info(`${options.database}: ${pending.length} pending migration(s), ${applied.length} already applied`);
    let error: MigrationFailedError | undefined;
    for (const [i, m] of pending.entries()) {
      if (error) {
        results.push({ name: m.name, status: "NotExecuted" });
        continue;
      }
      const started = performance.now();
      let done: MigrationResult | undefined;
      try {
        if (m.inTransaction) await runInTransaction(client, m, options);
        else await runWithoutTransaction(client, m, options);
        const durationMs = performance.now() - started;
        done = { name: m.name, status: "Success", durationMs, inTransaction: m.inTransaction };
        results.push(done);
        log.info(
          `${options.database}: applied ${m.name} (${i + 1}/${pending.length}, ${durationMs.toFixed(0)} ms` +
            `${m.inTransaction ? "" : ", no transaction"})`,
        );
      } catch (err) {
        error = err instanceof MigrationFailedError ? err : new MigrationFailedError(m.name, errorMessage(err), { cause: err });
        results.push({ name: m.name, status: "Error", error });
        log.warn(`${options.database}: ${error.message}`);
      }
      // Outside the try: a failing callback is its own error, not this migration's.
      if (!error && done) await options.afterEach?.(m, done);
    }
    return { alreadyApplied: applied.length, results, error, ...(adopted ? { baselined: adopted.count } : {}) };
  });
}

/**
 * The history row, written by the same round trip as the migration. A repeatable gets a row in
 * `pgstack.repeatables` for each run, with the SQL that ran (history.ts).
 */
function historyInsert(m: Migration, inTransaction: boolean, durationSql: string): string {
  if (isRepeatable(m)) {
    return (
      `INSERT INTO pgstack.repeatables (name, checksum, sql, applied_at, duration_ms) VALUES (` +
      `${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, ${quoteLiteral(m.sql)}, clock_timestamp(), ${durationSql})`
    );
  }
  return (
    `INSERT INTO pgstack.migrations (id, name, checksum, applied_at, duration_ms, in_transaction) VALUES (` +
    `${m.id}, ${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, clock_timestamp(), ${durationSql}, ${inTransaction})`
  );
}

/** `SET [LOCAL] lock_timeout = '…'` etc. for the settings that are set. */
function sessionSet(session: SessionSettings | undefined, scope: "SET" | "SET LOCAL"): string[] {
  const out: string[] = [];
  if (session?.lockTimeout !== undefined) out.push(`${scope} lock_timeout = ${quoteLiteral(session.lockTimeout)}`);
  if (session?.statementTimeout !== undefined) out.push(`${scope} statement_timeout = ${quoteLiteral(session.statementTimeout)}`);
  return out;
}

function sessionReset(session: SessionSettings | undefined): string[] {
  const out: string[] = [];
  if (session?.lockTimeout !== undefined) out.push("RESET lock_timeout");
  if (session?.statementTimeout !== undefined) out.push("RESET statement_timeout");
  return out;
}

/**
 * BEGIN, SET LOCAL role and settings, the migration, its history row and COMMIT, as one
 * simple-protocol message: one network round trip per migration.
 */
function envelope(m: Migration, options: ApplyOptions): Envelope {
  const role = options.role;
  const before = ["BEGIN", ...(role ? [`SET LOCAL ROLE ${quoteIdent(role)}`] : []), ...sessionSet(options.session, "SET LOCAL")];
  // statement_timestamp() is when the server received this message, so the difference is
  // the migration's own run time, measured where it ran.
  const duration = "extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000";
  const after = [
    // The owner role may not write to pgstack's schema; the admin writes the history row.
    ...(role ? [{ sql: "RESET ROLE", what: "in `RESET ROLE`" }] : []),
    { sql: historyInsert(m, true, duration), what: "while writing its history row" },
    { sql: "COMMIT", what: "at COMMIT (a deferred constraint or a commit-time trigger)" },
  ];
  const head = before.map((s) => `${s};\n`).join("");
  // `\n;` ends the last statement even after a trailing `--` comment without a newline.
  const text = `${head}${m.sql}\n;\n${after.map((a) => `${a.sql};`).join("\n")}`;
  return { text, sqlStart: head.length, before, after };
}

/**
 * Runs a migration in its envelope. On error the server skips the rest of the message; the
 * statements that completed before it tell which one failed, so nothing is re-run.
 */
async function runInTransaction(client: pg.Client, m: Migration, options: ApplyOptions): Promise<void> {
  const env = envelope(m, options);
  const sent = await queryCounting(client, env.text);
  if (sent.ok) return;
  await quietly(client, "ROLLBACK");
  const advice = timeoutAdvice(sent.error, options.session);
  const hint = `${advice}${m.name} was rolled back; migrations before it stay applied. ${advice ? "Run again" : "Fix the file and run again"}`;
  throw migrationFailure(m, sent.error, locateInEnvelope(m, env, sent.error, sent.completed), hint);
}

/**
 * Runs each statement on its own (autocommit), as `CREATE INDEX CONCURRENTLY` requires, then
 * records the history row. A marker committed first, and updated after each statement, lets
 * the next run refuse (and say what ran) if this one never finishes.
 */
async function runWithoutTransaction(client: pg.Client, m: Migration, options: ApplyOptions): Promise<void> {
  const statements = splitStatements(m.sql, m.file);
  const role = options.role;
  const marker: RunningMarker = {
    id: m.id,
    name: m.name,
    file: m.file,
    checksum: m.checksum,
    statements: statements.length,
    completed: 0,
    startedAt: new Date().toISOString(),
  };
  const enter = [...(role ? [`SET ROLE ${quoteIdent(role)}`] : []), ...sessionSet(options.session, "SET")];
  const leave = [...(role ? ["RESET ROLE"] : []), ...sessionReset(options.session)];
  const started = performance.now();
  // One implicit transaction: the marker is committed before the first statement runs.
  await client.query([writeMarkerSql(marker), ...enter].join(";\n"));
  let done = 0;
  let failed: { error: unknown; statement?: Statement } | undefined;
  try {
    for (const s of statements) {
      try {
        await client.query(s.sql);
      } catch (error) {
        failed = { error, statement: s };
        break;
      }
      marker.completed = ++done;
      if (done < statements.length) {
        // As the admin: the owner role may not write to pgstack's schema.
        const write = writeMarkerSql(marker);
        await client.query(role ? `RESET ROLE;\n${write};\nSET ROLE ${quoteIdent(role)}` : write);
      }
    }
  } catch (error) {
    failed = { error }; // recording progress failed
  } finally {
    // A no-transaction file may open its own transaction; a failure inside leaves it aborted,
    // which would make every cleanup statement fail.
    if (failed) await quietly(client, "ROLLBACK");
    if (leave.length > 0) await quietly(client, leave.join(";\n"));
  }
  if (failed) throw await noTransactionFailure(client, m, marker, failed, options);
  try {
    // One implicit transaction: the history row and the marker's removal commit together.
    await client.query(`${clearMarkerSql(m.id)}\n${historyInsert(m, false, String(performance.now() - started))};`);
  } catch (error) {
    const context = "while writing its history row, after every statement had run";
    throw migrationFailure(m, error, { context }, keptHint(m, done, false));
  }
}

/**
 * The error for a failed no-transaction migration. The marker stays (with the failure noted)
 * unless nothing can have changed: the first statement failed with a server error and is
 * atomic. `CONCURRENTLY` leaves an INVALID index behind, and procedures and DO blocks may
 * commit part of their work, so those keep it too.
 */
async function noTransactionFailure(
  client: pg.Client,
  m: Migration,
  marker: RunningMarker,
  failed: { error: unknown; statement?: Statement },
  options: ApplyOptions,
): Promise<MigrationFailedError> {
  const s = failed.statement;
  const done = marker.completed ?? 0;
  const fromServer = typeof (failed.error as { code?: unknown } | undefined)?.code === "string";
  let cleared = false;
  if (s && fromServer) {
    // Both writes fail on a broken connection (the statement may then have finished): the
    // marker then stays as it was, which is the cautious outcome.
    if (done === 0 && atomicOnError(s)) cleared = await quietly(client, clearMarkerSql(m.id));
    else await quietly(client, writeMarkerSql({ ...marker, failed: { statement: done + 1, error: errorMessage(failed.error) } }));
  }
  const located = s ? { location: locateInStatement(m, s, failed.error) } : { context: "while recording its progress in pgstack.meta" };
  const advice = timeoutAdvice(failed.error, options.session);
  const hint = cleared
    ? `${advice}${m.name} runs without a transaction (pgstack:no-transaction); its first statement failed and changed nothing. ` +
      (advice ? "Run again" : "Fix the file and run again")
    : advice + keptHint(m, done, !s || !fromServer || !atomicOnError(s));
  return migrationFailure(m, failed.error, located, hint);
}

/** Statements whose failure changes nothing: all but CONCURRENTLY index work, CALL and DO. */
function atomicOnError(s: Statement): boolean {
  return s.kind !== "CallStmt" && s.kind !== "DoStmt" && !/\bconcurrently\b/i.test(s.sql);
}

function keptHint(m: Migration, done: number, leftovers: boolean): string {
  return (
    `${m.name} runs without a transaction (pgstack:no-transaction): its first ${done} statement(s) stayed applied` +
    `${leftovers ? ", and the failing one may have run in part (CONCURRENTLY leaves an INVALID index)" : ""}. ` +
    `pgstack will not run it, or any later migration, until you have checked the database, finished or undone what ran, ` +
    `and deleted its marker with\n      \`${clearMarkerSql(m.id)}\`\n    Statements that are safe to re-run (IF NOT EXISTS) make this easier`
  );
}

/** Cleanup (RESET, ROLLBACK) must never mask the error being handled: its own failure is swallowed. */
async function quietly(client: pg.Client, sql: string): Promise<boolean> {
  try {
    await client.query(sql);
    return true;
  } catch {
    return false;
  }
}
