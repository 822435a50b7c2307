/**
 * Apply: runs pending migrations under the advisory lock, one transaction per migration
 * together with its history row. The history is checked before anything runs.
 */
import type pg from "pg";
import { HistoryMismatchError, MigrationFailedError, PgstackError, errorMessage, type SourceLocation } from "./errors.js";
import { checkHistory, ensureHistory, readHistory } from "./history.js";
import { quoteIdent, quoteLiteral } from "./identifiers.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";
import type { Logger } from "./connection.js";
import { silentLogger } from "./connection.js";
import type { Migration } from "./source.js";
import { splitStatements } from "./sql.js";
import { lineColumnAt, pgPositionToOffset, snippet } from "./text.js";

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
}

/** Options for {@link applyMigrations}. */
export interface ApplyOptions {
  /** The database's name, for messages. */
  database: string;
  /** Run migrations as this role (`SET ROLE`), so the tables they create belong to it. */
  role?: string;
  /** Wait this long for the advisory lock. Default 30 s. */
  lockTimeoutMs?: number;
  /** Progress, one line per migration. */
  logger?: Logger;
}

/**
 * Applies the pending migrations in order. The recorded history must be an in-order prefix of
 * `migrations` with equal checksums; otherwise nothing runs and {@link HistoryMismatchError}
 * lists every mismatch. Call {@link loadSqlParser} first.
 */
export async function applyMigrations(
  client: pg.Client,
  migrations: readonly Migration[],
  options: ApplyOptions,
): Promise<ApplyResult> {
  const log = options.logger ?? silentLogger;
  return withMigrationLock(client, options.database, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    await ensureHistory(client);
    const applied = await readHistory(client);
    const mismatches = checkHistory(applied, migrations);
    if (mismatches.length > 0) throw new HistoryMismatchError(options.database, mismatches);

    const pending = migrations.slice(applied.length);
    const results: MigrationResult[] = [];
    if (pending.length === 0) {
      log.info(`${options.database}: up to date (${applied.length} migrations applied)`);
      return { alreadyApplied: applied.length, results };
    }
    log.info(`${options.database}: ${pending.length} pending migration(s), ${applied.length} already applied`);
    let error: MigrationFailedError | undefined;
    for (const [i, m] of pending.entries()) {
      if (error) {
        results.push({ name: m.name, status: "NotExecuted" });
        continue;
      }
      const started = performance.now();
      try {
        if (m.inTransaction) await runInTransaction(client, m, options.role);
        else await runWithoutTransaction(client, m, options.role);
        const durationMs = performance.now() - started;
        results.push({ name: m.name, status: "Success", durationMs, inTransaction: m.inTransaction });
        log.info(
          `${options.database}: applied ${m.name} (${i + 1}/${pending.length}, ${durationMs.toFixed(0)} ms` +
            `${m.inTransaction ? "" : ", no transaction"})`,
        );
      } catch (err) {
        error = err instanceof MigrationFailedError ? err : new MigrationFailedError(m.name, errorMessage(err), { cause: err });
        results.push({ name: m.name, status: "Error", error });
        log.warn(`${options.database}: ${error.message}`);
      }
    }
    return { alreadyApplied: applied.length, results, error };
  });
}

/** The history row, written by the same round trip as the migration. */
function historyInsert(m: Migration, inTransaction: boolean, durationSql: string): string {
  return (
    `INSERT INTO pgstack.migrations (id, name, checksum, applied_at, duration_ms, in_transaction) VALUES (` +
    `${m.id}, ${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, clock_timestamp(), ${durationSql}, ${inTransaction})`
  );
}

/**
 * Sends BEGIN, the migration, its history row and COMMIT as one simple-protocol message:
 * one network round trip per migration. On error the server skips the rest of the message
 * and the transaction is rolled back.
 */
async function runInTransaction(client: pg.Client, m: Migration, role: string | undefined): Promise<void> {
  const prefix = `BEGIN;\n${role ? `SET LOCAL ROLE ${quoteIdent(role)};\n` : ""}`;
  // statement_timestamp() is when the server received this message, so the difference is
  // the migration's own run time, measured where it ran.
  const duration = "extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000";
  const text = `${prefix}${m.sql}\n;\nRESET ROLE;\n${historyInsert(m, true, duration)};\nCOMMIT;`;
  try {
    await client.query(text);
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    const position = Number((err as { position?: string }).position);
    if (Number.isFinite(position) && position > 0) {
      const offset = pgPositionToOffset(text, position) - prefix.length;
      if (offset >= 0 && offset < m.sql.length) throw failure(m, err, offsetLocation(m, offset));
    }
    throw failure(m, err, await locateFailingStatement(client, m, role, err));
  }
}

/**
 * Runs each statement on its own (autocommit), as `CREATE INDEX CONCURRENTLY` requires, then
 * records the history row. A failure leaves earlier statements applied: say so.
 */
async function runWithoutTransaction(client: pg.Client, m: Migration, role: string | undefined): Promise<void> {
  const statements = splitStatements(m.sql, m.file);
  const started = performance.now();
  if (role) await client.query(`SET ROLE ${quoteIdent(role)}`);
  let done = 0;
  try {
    for (const s of statements) {
      try {
        await client.query(s.sql);
      } catch (err) {
        const position = Number((err as { position?: string }).position);
        const offset = Number.isFinite(position) && position > 0 ? s.offset + pgPositionToOffset(s.sql, position) : s.offset;
        throw failure(m, err, offsetLocation(m, offset), {
          partial: done,
        });
      }
      done++;
    }
  } finally {
    if (role) await client.query("RESET ROLE").catch(() => undefined);
  }
  await client.query(historyInsert(m, false, String(performance.now() - started)));
}

/**
 * When Postgres gives no position (e.g. a constraint violation), replay the statements one at
 * a time inside a transaction that is always rolled back, to find which one fails.
 */
async function locateFailingStatement(
  client: pg.Client,
  m: Migration,
  role: string | undefined,
  original: unknown,
): Promise<SourceLocation | undefined> {
  const statements = splitStatements(m.sql, m.file);
  const only = statements.length === 1 ? statements[0] : undefined;
  if (only) return offsetLocation(m, only.offset + namedObjectOffset(only.sql, original));
  if (statements.length === 0) return undefined;
  try {
    await client.query("BEGIN");
    if (role) await client.query(`SET LOCAL ROLE ${quoteIdent(role)}`);
    for (const s of statements) {
      try {
        await client.query(s.sql);
      } catch (err) {
        const position = Number((err as { position?: string }).position);
        const inner = Number.isFinite(position) && position > 0 ? pgPositionToOffset(s.sql, position) : namedObjectOffset(s.sql, err);
        return offsetLocation(m, s.offset + inner);
      }
    }
    return undefined;
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
  }
}

/**
 * Postgres gives no position for some errors (`relation "x" does not exist` in a REFERENCES
 * clause, say) but names the object: point at its first mention in the statement, else at the
 * statement's start.
 */
function namedObjectOffset(sql: string, err: unknown): number {
  const name = /"([^"]+)"/.exec(errorMessage(err))?.[1];
  if (!name) return 0;
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const at = new RegExp(`(?<![\\w$])"?${escaped}"?(?![\\w$])`, "i").exec(sql);
  return at?.index ?? 0;
}

function offsetLocation(m: Migration, offset: number): SourceLocation {
  return { file: m.file, ...lineColumnAt(m.sql, offset) };
}

function failure(
  m: Migration,
  err: unknown,
  location: SourceLocation | undefined,
  extra?: { partial: number },
): MigrationFailedError {
  const pgErr = err as { code?: string; detail?: string; hint?: string };
  if (err instanceof PgstackError && !(err instanceof MigrationFailedError)) {
    return new MigrationFailedError(m.name, err.message, { location, cause: err });
  }
  let detail = errorMessage(err);
  if (pgErr.code) detail += ` (SQLSTATE ${pgErr.code})`;
  if (pgErr.detail) detail += `\n  DETAIL: ${pgErr.detail}`;
  if (pgErr.hint) detail += `\n  HINT: ${pgErr.hint}`;
  if (location) detail += `\n${snippet(m.sql, location.line, location.column)}`;
  const hint = extra
    ? `${m.name} runs without a transaction (pgstack:no-transaction): its first ${extra.partial} statement(s) stayed applied. ` +
      `Make its statements idempotent (IF NOT EXISTS), fix the failing one, and run again`
    : `${m.name} was rolled back; migrations before it stay applied. Fix the file and run again`;
  return new MigrationFailedError(m.name, detail, { location, sqlState: pgErr.code, hint, cause: err });
}
