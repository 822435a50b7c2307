/**
 * Rehearsal: the pending migrations applied to a throwaway copy of the target database, on the
 * same server, through the real apply path, with a report per migration. The copy is always
 * dropped: on success, on failure, on SIGINT/SIGTERM, and (if the process was killed) by the
 * next rehearsal.
 *
 * A rehearsal reads the whole database: the template copy copies every byte; the copy built from
 * the migrations (when others are connected) reads up to `rowLimit` rows of every table.
 */
import type pg from "pg";
import { applyMigrations } from "./apply.js";
import { silentLogger, withClient, type ConnectionOptions, type Logger } from "./connection.js";
import { MigrationFailedError, PgstackError, errorMessage, formatLocation } from "./errors.js";
import { PGSTACK_SCHEMA, readHistory } from "./history.js";
import { copyByBuild, type CopiedTable } from "./rehearsal-copy.js";
import { CHANGE_LABELS, diffSchemas, readSchema } from "./schema/index.js";
import { connect } from "./connection.js";
import { dropLeftoverScratch, SCRATCH_PREFIX, withScratchDatabase, type ScratchDatabase } from "./scratch.js";
import type { Migration } from "./source.js";
import { loadSqlParser } from "./sql.js";

export type { CopiedTable } from "./rehearsal-copy.js";

/** What one pending migration did on the copy. */
export interface RehearsalStep {
  /** The migration's name, e.g. `0005_drop_exports`. */
  name: string;
  /** Its file, as loaded. */
  file: string;
  /** `skipped`: an earlier migration failed, so this one did not run (as in a real `up`). */
  status: "ok" | "failed" | "skipped";
  /** For `failed`: `file:line:col: message (SQLSTATE …)`, with Postgres' DETAIL when it gave one. */
  error?: string;
  /** How long it ran on the copy, ms. */
  durationMs: number;
  /**
   * Rows it inserted, updated or deleted (Postgres' per-table statistics, so rows written by
   * triggers and cascades count too; TRUNCATE and DROP do not). For a failed migration: the rows
   * written before the failure, which were rolled back.
   */
  rowsAffected: number;
  /** The structure it changed, one line each: `+ table public.x`, `~ public.y: + column z text`. */
  schemaChange: string[];
}

/** The outcome of {@link rehearse}. */
export interface RehearsalReport {
  /** The database that was copied. */
  database: string;
  /**
   * How it was copied: `template` (everything) or `build-copy` (the schema built from the applied
   * migrations, at most `rowLimit` rows per table streamed with COPY).
   */
  method: "template" | "build-copy";
  /** Rows copied per table at most (build-copy only). */
  rowLimit?: number;
  /** How many applied migrations built the copy's schema (build-copy only). */
  built?: number;
  steps: RehearsalStep[];
  /** The whole rehearsal, copy and drop included, ms. */
  durationMs: number;
  /** False only when dropping failed; the name of the copy is then in `clone`, to drop by hand. */
  cloneDropped: boolean;
  /** The copy's name. */
  clone?: string;
  /** Why the template copy was not used, when it was not. */
  fallbackReason?: string;
  /** Rows per table in the copy (build-copy only). */
  copied?: CopiedTable[];
}

/** Rows per table a copy built from the migrations takes when no `rowLimit` is given. */
export const DEFAULT_REHEARSAL_ROW_LIMIT = 10_000;

/** Options for {@link rehearse}. */
export interface RehearseOptions {
  /** The role migrations run as (`SET ROLE`), as the MigrationSet does: the database's owner. */
  role: string;
  /** `lock_timeout` / `statement_timeout` for each migration, as in the stack config. */
  session?: { lockTimeout: string; statementTimeout: string };
  /**
   * The migrations the database has applied (or adoption records), in order: the files before
   * `pending`. When the template copy is not possible the copy's schema is built from them.
   */
  applied: readonly Migration[];
  /** Rows per table for the copy built from the migrations. Default {@link DEFAULT_REHEARSAL_ROW_LIMIT}. */
  rowLimit?: number;
  /** `auto` (default): template when nobody else is connected to the source, else built from the migrations. */
  method?: "auto" | "build-copy";
  /** Progress, one line per phase and per migration. */
  logger?: (msg: string) => void;
}

/** A rehearsal that could not be set up (the copy failed); nothing was left behind. */
export class RehearsalError extends PgstackError {
  constructor(database: string, message: string, cause?: unknown) {
    super("REHEARSAL_FAILED", `database "${database}": the rehearsal could not run: ${message}`, {
      hint: "the rehearsal copy was dropped; the database itself was only read. Fix the cause, or turn the rehearsal off for this stack",
      cause,
    });
  }
}

/**
 * Copies `database` (same server, schema and data), applies `pending` (the state model's
 * pending migrations, see {@link readDatabaseState}) to the copy as
 * `opts.role` with the real apply path, and reports each migration: ok or the error at
 * file:line:col, its duration, rows affected and schema change. The copy is dropped in every
 * case, and copies left by killed runs are dropped first. Reads the whole database (with
 * nothing pending, no copy is made; leftovers are still dropped).
 *
 * `admin` is the admin connection (its `database` is used for the copy's CREATE/DROP unless it is
 * the target itself; then `postgres`). Throws {@link RehearsalError} when the copy cannot be made.
 */
export async function rehearse(
  admin: ConnectionOptions,
  database: string,
  pending: Migration[],
  opts: RehearseOptions,
): Promise<RehearsalReport> {
  const started = performance.now();
  const log = opts.logger ?? (() => undefined);
  const logger: Logger = { info: log, warn: log };
  await loadSqlParser();
  const maintenance: ConnectionOptions = { ...admin, database: admin.database !== database ? admin.database : "postgres", applicationName: "pgstack rehearsal" };
  // Nothing to rehearse: no copy (a preview with nothing pending must not read the whole database).
  if (pending.length === 0) {
    await withClient(maintenance, (c) => dropLeftoverScratch(c, logger));
    return { database, method: "template", steps: [], durationMs: performance.now() - started, cloneDropped: true };
  }
  const rowLimit = opts.rowLimit ?? DEFAULT_REHEARSAL_ROW_LIMIT;
  let clone: string | undefined;
  // The source's session while rows are read from it: a signal cancels what it waits for (a lock).
  let reading: number | undefined;
  const attempt = (byTemplate: boolean, fallbackReason?: string) =>
    withScratchDatabase(
      maintenance,
      {
        purpose: "rehearsal",
        owner: opts.role,
        logger,
        copy: { from: database, byTemplate },
        // A template copy runs only the pending migrations; a build replays the applied ones first.
        migrations: byTemplate ? pending : [...opts.applied, ...pending],
        onInterrupt: () => (reading === undefined ? undefined : cancelBackend(maintenance, reading)),
      },
      async (scratch): Promise<Omit<RehearsalReport, "durationMs" | "cloneDropped"> | { retry: string }> => {
        // The template copy was not possible: again, building the copy from the migrations.
        if (byTemplate && scratch.made.method === "empty") return { retry: scratch.made.refused ?? "the template copy was not possible" };
        clone = scratch.name;
        if (byTemplate) {
          const steps = await runSteps(scratch.admin, await scratch.ownerSession(), database, scratch.migrations, opts, log);
          return { database, method: "template", steps, clone: scratch.name };
        }
        const reason = fallbackReason ?? (scratch.made.method === "empty" ? scratch.made.refused : undefined);
        const copied = await buildCopy(scratch, database, reason);
        const steps = await runSteps(scratch.admin, await scratch.ownerSession(), database, scratch.migrations.slice(opts.applied.length), opts, log);
        return { database, method: "build-copy", rowLimit, built: opts.applied.length, copied, ...(reason ? { fallbackReason: reason } : {}), steps, clone: scratch.name };
      },
    );
  const buildCopy = async (scratch: ScratchDatabase, database: string, reason: string | undefined): Promise<CopiedTable[]> => {
    log(`copying ${database} to ${scratch.name}: the schema built from the migrations, at most ${rowLimit} rows per table${reason ? ` (${reason})` : ""}`);
    try {
      // Reading a locked table waits at most as long as a migration's lock_timeout would.
      const lockWaitTimeout = opts.session?.lockTimeout && opts.session.lockTimeout !== "0" ? opts.session.lockTimeout : "30s";
      return await withClient({ ...maintenance, database }, async (source) => {
        reading = (await source.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
        try {
          return await copyByBuild({ source: database, role: opts.role, applied: scratch.migrations.slice(0, opts.applied.length), rowLimit, lockWaitTimeout, log }, source, scratch);
        } finally {
          reading = undefined;
        }
      });
    } catch (err) {
      if (scratch.interrupted()) throw new RehearsalError(database, "interrupted", err);
      throw new RehearsalError(database, `copying the database failed: ${errorMessage(err)}`, err);
    }
  };
  const rethrow = (err: unknown): never => {
    if (err instanceof RehearsalError || !(err instanceof PgstackError)) throw err;
    throw new RehearsalError(database, err.message, err);
  };
  const first = await attempt(opts.method !== "build-copy").catch(rethrow);
  const report = "retry" in first ? await attempt(false, first.retry).catch(rethrow) : first;
  if ("retry" in report) throw new RehearsalError(database, `the copy could not be made: ${report.retry}`);
  const left = await withClient(maintenance, async (c) => (await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [clone])).rowCount ?? 0);
  return { ...report, durationMs: performance.now() - started, cloneDropped: left === 0 };
}

/**
 * Applies the pending migrations in one apply run (one lock, one history read), measuring each
 * step as it completes: its duration, the rows it wrote and its schema change (the schema read
 * after a step is the next step's "before", so each step costs one catalog read). After a
 * failure the rest are skipped.
 */
async function runSteps(
  client: pg.Client,
  owner: pg.Client,
  database: string,
  pending: readonly Migration[],
  opts: RehearseOptions,
  log: (msg: string) => void,
): Promise<RehearsalStep[]> {
  // `pending` is the state model's (readDatabaseState): what the next `up` runs, so a database
  // being adopted rehearses only what runs after adoption. The copy carries the history; applied
  // migrations stand in by name and checksum, so applyMigrations checks it as in a real run.
  const history = await readHistory(client);
  const applied: Migration[] = history.map((h) => ({ id: h.id, name: h.name, file: h.name, checksum: h.checksum, sql: "", inTransaction: h.inTransaction }));
  const steps: RehearsalStep[] = [];
  if (pending.length === 0) return steps;
  // Counted on the session that writes: each session flushes its own statistics. The admin
  // session's own counters (the copy's COPY) are flushed first, so the baseline holds them.
  let before = await readSchema(client, { history: false });
  await flushCounters(client);
  let writtenBefore = await rowsWritten(owner);
  /** Measures the step just run against the previous one. */
  const measure = async (): Promise<Pick<RehearsalStep, "rowsAffected" | "schemaChange">> => {
    // Counters first, then the catalog read: on PostgreSQL 14 the admin session's own pending
    // counters (the copy's COPY) reach the collector when it next goes idle, so reading the
    // schema first would count them in this step.
    const writtenAfter = await rowsWritten(owner);
    const after = await readSchema(client, { history: false });
    const measured = { rowsAffected: rowsBetween(writtenBefore, writtenAfter), schemaChange: diffSchemas(before, after, { labels: CHANGE_LABELS, known: "compare", tableParts: "list" }) };
    before = after;
    writtenBefore = writtenAfter;
    return measured;
  };
  log(`rehearsing ${pending[0]?.name} (1/${pending.length})`);
  let error: string | undefined;
  let t0 = performance.now();
  try {
    // As the owner, confined: a `RESET ROLE` in the migration cannot reach the admin.
    const result = await applyMigrations(owner, [...applied, ...pending], {
      database: `${database} (rehearsal copy)`,
      role: opts.role,
      ...(opts.session ? { session: opts.session } : {}),
      logger: silentLogger,
      afterEach: async (m, r) => {
        steps.push({ name: m.name, file: m.file, status: "ok", durationMs: r.status === "Success" ? r.durationMs : 0, ...(await measure()) });
        const next = pending[steps.length];
        if (next) log(`rehearsing ${next.name} (${steps.length + 1}/${pending.length})`);
        t0 = performance.now();
      },
    });
    if (result.error) error = stepError(result.error);
  } catch (err) {
    error = stepError(err);
  }
  if (error !== undefined) {
    const m = pending[steps.length];
    if (m) {
      const durationMs = performance.now() - t0;
      log(`${m.name} failed on the copy: ${error}`);
      steps.push({ name: m.name, file: m.file, status: "failed", error, durationMs, ...(await measure()) });
    }
  }
  for (const m of pending.slice(steps.length)) steps.push({ name: m.name, file: m.file, status: "skipped", durationMs: 0, rowsAffected: 0, schemaChange: [] });
  return steps;
}

/**
 * Rows inserted + updated + deleted so far in each of the copy's user tables (pgstack's own
 * aside), by table oid. The session's pending statistics are flushed first, so the migration it
 * just ran is included.
 */
/** How long a pre-15 server may take to publish a session's table counters (its send interval is 500 ms). */
const PRE15_STATS_WAIT_MS = 800;

/**
 * Makes `client`'s table counters reach the statistics system: flushed when the session next goes
 * idle, i.e. right after this statement. Before Postgres 15 there is no such function: the session
 * sends its counts to the statistics collector at most every 500 ms (PGSTAT_STAT_INTERVAL), so
 * wait past that and go idle again. Returns false on those older servers.
 */
async function flushCounters(client: pg.Client): Promise<boolean> {
  const flushed = await client.query("SELECT pg_stat_force_next_flush()").then(
    () => true,
    (err: { code?: string }) => {
      if (err.code !== "42883") throw err;
      return false;
    },
  );
  if (!flushed) {
    await new Promise((resolve) => setTimeout(resolve, PRE15_STATS_WAIT_MS));
    await client.query("SELECT pg_stat_clear_snapshot()");
  }
  return flushed;
}

async function rowsWritten(client: pg.Client): Promise<Map<string, number>> {
  await flushCounters(client);
  const { rows } = await client.query<{ relid: string; n: string }>(
    `SELECT relid::text, (n_tup_ins + n_tup_upd + n_tup_del)::int8 AS n FROM pg_stat_user_tables WHERE schemaname <> $1`,
    [PGSTACK_SCHEMA],
  );
  return new Map(rows.map((r) => [r.relid, Number(r.n)]));
}

/**
 * The rows a migration wrote: per table, the growth of its counters. A table the migration
 * dropped has no counters left, and the copy's own restore already counted rows, so a plain
 * difference of totals would go negative; only tables that still exist count.
 */
function rowsBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [relid, n] of after) total += Math.max(0, n - (before.get(relid) ?? 0));
  return total;
}

/** `file:line:col: message (SQLSTATE x)` and Postgres' DETAIL, without the apply's advice (the copy is thrown away). */
function stepError(err: unknown): string {
  if (!(err instanceof MigrationFailedError)) return errorMessage(err);
  const cause = err.cause as { code?: string; detail?: string } | undefined;
  if (cause instanceof PgstackError || !cause) return err.message;
  const where = err.location ? `${formatLocation(err.location)}: ` : "";
  const detail = cause.detail ? `\nDETAIL: ${cause.detail}` : "";
  return `${where}${errorMessage(cause)}${err.sqlState ? ` (SQLSTATE ${err.sqlState})` : ""}${detail}`;
}

/** Cancels what the session `pid` is running (the admin may cancel its own sessions), on a connection of its own. */
async function cancelBackend(admin: ConnectionOptions, pid: number): Promise<void> {
  const client = await connect(admin, { retryDelaysMs: [] });
  try {
    await client.query("SELECT pg_cancel_backend($1)", [pid]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Names of rehearsal copies on the server (a leftover check for tests and operators). */
export async function listRehearsalCopies(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname LIKE '%\\_rehearsal\\_%' ORDER BY 1", [SCRATCH_PREFIX]);
  return rows.map((r) => r.datname);
}
