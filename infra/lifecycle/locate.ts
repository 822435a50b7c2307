/**
 * Where a migration failed, worked out only from what the server already said: the error's
 * position, or, when it has none, how many statements of the message completed before the
 * error. Nothing is executed again to find out: a replay would double a long data migration,
 * repeat non-transactional effects (sequences, CONCURRENTLY) and could fail differently.
 */
import type { EventEmitter } from "node:events";
import type pg from "pg";
import { MigrationFailedError, PgstackError, errorMessage, type SourceLocation } from "./errors.js";
import type { Migration } from "./source.js";
import { splitStatements, type Statement } from "./sql.js";
import { lineColumnAt, pgPositionToOffset, snippet } from "./text.js";

/** The outcome of {@link queryCounting}. */
export type CountedQuery = { ok: true } | { ok: false; error: unknown; completed: number | undefined };

/**
 * Sends `text` (simple protocol) and counts the server's CommandComplete messages while it
 * runs. In a multi-statement message every statement that finished sends one before the
 * ErrorResponse, so on failure `completed` is the 0-based index of the failing statement.
 * `completed` is undefined when the client does not expose its connection (e.g. pg-native).
 * The client must run nothing else meanwhile (pgstack owns its session during an apply).
 */
export async function queryCounting(client: pg.Client, text: string): Promise<CountedQuery> {
  const events = protocolEvents(client);
  let completed = 0;
  const onComplete = () => {
    completed++;
  };
  events?.on("commandComplete", onComplete);
  try {
    await client.query(text);
    return { ok: true };
  } catch (error) {
    return { ok: false, error, completed: events ? completed : undefined };
  } finally {
    events?.removeListener("commandComplete", onComplete);
  }
}

/** `pg`'s connection, which emits one event per protocol message; absent in other clients. */
function protocolEvents(client: pg.Client): Pick<EventEmitter, "on" | "removeListener"> | undefined {
  const conn = (client as unknown as { connection?: Partial<EventEmitter> }).connection;
  if (typeof conn?.on !== "function" || typeof conn.removeListener !== "function") return undefined;
  return conn as Pick<EventEmitter, "on" | "removeListener">;
}

/** The message a transactional migration is sent in: statements around the migration's SQL. */
export interface Envelope {
  /** The whole message. */
  text: string;
  /** UTF-16 offset of the migration's SQL in `text`. */
  sqlStart: number;
  /** Statements sent before the migration's SQL (BEGIN, SET LOCAL …). */
  before: readonly string[];
  /** Statements sent after it, each with what it does, for messages. */
  after: readonly { sql: string; what: string }[];
}

/** Where a migration failed: a place in its file, or which statement pgstack added around it. */
export interface Located {
  location?: SourceLocation;
  /** Set when the failing statement is not in the file (e.g. COMMIT, SET LOCAL). */
  context?: string;
}

/**
 * Locates an error of a transactional migration: by the error's position when Postgres gives
 * one inside the migration's SQL, else by the count of completed statements (see
 * {@link queryCounting}), mapped to the statement offsets of {@link splitStatements}.
 */
export function locateInEnvelope(m: Migration, env: Envelope, err: unknown, completed: number | undefined): Located {
  const position = errorPosition(err);
  if (position !== undefined) {
    const offset = pgPositionToOffset(env.text, position) - env.sqlStart;
    if (offset >= 0 && offset < m.sql.length) return { location: offsetLocation(m, offset) };
  }
  const statements = splitStatements(m.sql, m.file);
  if (completed === undefined) {
    const only = statements.length === 1 ? statements[0] : undefined;
    return only ? { location: offsetLocation(m, only.offset + namedObjectOffset(only.sql, err)) } : {};
  }
  const index = completed - env.before.length;
  if (index < 0) {
    return { context: `in \`${env.before[completed] ?? "?"}\`, before the migration's first statement` };
  }
  const s = statements[index];
  if (s) return { location: offsetLocation(m, s.offset + namedObjectOffset(s.sql, err)) };
  const extra = env.after[index - statements.length];
  return extra ? { context: `${extra.what}, after every statement of the migration had run` } : {};
}

/** Locates an error of one statement sent on its own (the no-transaction path). */
export function locateInStatement(m: Migration, s: Statement, err: unknown): SourceLocation {
  const position = errorPosition(err);
  const inner = position !== undefined ? pgPositionToOffset(s.sql, position) : namedObjectOffset(s.sql, err);
  return offsetLocation(m, s.offset + inner);
}

/** Postgres' 1-based character position of the error in the query text, if it gave one. */
function errorPosition(err: unknown): number | undefined {
  const position = Number((err as { position?: string } | undefined)?.position);
  return Number.isFinite(position) && position > 0 ? position : undefined;
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

/**
 * The error a failed migration is reported with. The server's error stays intact as `cause`
 * (SQLSTATE, detail, constraint, …); its message, SQLSTATE, DETAIL, HINT and CONTEXT are
 * repeated in the message, with a snippet at the location.
 */
export function migrationFailure(m: Migration, err: unknown, located: Located, hint: string): MigrationFailedError {
  const { location, context } = located;
  if (err instanceof PgstackError && !(err instanceof MigrationFailedError)) {
    return new MigrationFailedError(m.name, err.message, { location, hint, cause: err });
  }
  const pgErr = (err ?? {}) as { code?: string; detail?: string; hint?: string; where?: string };
  let detail = errorMessage(err);
  if (pgErr.code) detail += ` (SQLSTATE ${pgErr.code})`;
  if (context) detail += `\n  at: ${context}`;
  if (pgErr.detail) detail += `\n  DETAIL: ${pgErr.detail}`;
  if (pgErr.hint) detail += `\n  HINT: ${pgErr.hint}`;
  if (pgErr.where) detail += `\n  CONTEXT: ${pgErr.where}`;
  if (location) detail += `\n${snippet(m.sql, location.line, location.column)}`;
  return new MigrationFailedError(m.name, detail, { location, sqlState: pgErr.code, hint, cause: err });
}

/**
 * What a lock or statement timeout means, in front of the usual advice; empty for other
 * errors. `limits` are the values pgstack set, when it set them.
 */
export function timeoutAdvice(err: unknown, limits: { lockTimeout?: string; statementTimeout?: string } | undefined): string {
  const code = (err as { code?: string } | undefined)?.code;
  if (code === "55P03") {
    const v = limits?.lockTimeout ? ` (${limits.lockTimeout})` : "";
    return (
      `lock timeout: it waited longer than lock_timeout${v} for a lock another session holds; find that session in ` +
      `pg_stat_activity / pg_locks, run when the database is quieter, or raise lockTimeout. `
    );
  }
  if (code === "57014" && /statement timeout/i.test(errorMessage(err))) {
    const v = limits?.statementTimeout ? ` (${limits.statementTimeout})` : "";
    return `statement timeout: a statement ran longer than statement_timeout${v}; raise statementTimeout, or split the work. `;
  }
  return "";
}
