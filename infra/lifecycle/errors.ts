/**
 * Errors raised by the lifecycle core. Every error says what is wrong, where
 * (file:line:column, config path or table) and what to do, so callers can show
 * `message` as-is to a user.
 */

/** Base class: a failure the user can act on. `hint` says what to do. */
export class PgstackError extends Error {
  /** A stable, machine-readable code, e.g. `MIGRATION_FAILED`. */
  readonly code: string;
  /** What the user should do about it. Already part of `message`. */
  readonly hint?: string;
  /** What went wrong and where: `message` without the hint. */
  readonly detail: string;

  constructor(code: string, message: string, options?: { hint?: string | undefined; cause?: unknown }) {
    super(options?.hint ? `${message}\n  → ${options.hint}` : message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
    this.detail = message;
  }
}

/** A position inside a migration file. Lines and columns are 1-based. */
export interface SourceLocation {
  /** Path of the file, as given to the source (relative paths stay relative). */
  file: string;
  line: number;
  column: number;
}

/** Formats a location the way compilers and editors expect: `file:line:column`. */
export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.column}`;
}

/** A migration file that cannot be used: bad name, duplicate version, SQL syntax error. */
export class MigrationSourceError extends PgstackError {
  readonly location?: SourceLocation;
  constructor(message: string, options: { location?: SourceLocation; hint?: string; cause?: unknown }) {
    super("MIGRATION_SOURCE", options.location ? `${formatLocation(options.location)}: ${message}` : message, options);
    this.location = options.location;
  }
}

/** The recorded history does not match the migration files. Nothing was run. */
export class HistoryMismatchError extends PgstackError {
  readonly mismatches: readonly string[];
  constructor(database: string, mismatches: readonly string[]) {
    super(
      "HISTORY_MISMATCH",
      `database "${database}": the applied migration history does not match the migration files; nothing was run:\n` +
        mismatches.map((m) => `  - ${m}`).join("\n"),
      {
        hint:
          "applied migrations are immutable: restore the original file contents, add a new migration for the change, " +
          "or (in a stack that allows it) bump the reset generation to rebuild from zero",
      },
    );
    this.mismatches = mismatches;
  }
}

/** Another session holds pgstack's advisory lock on the database. */
export class LockTimeoutError extends PgstackError {
  constructor(database: string, timeoutMs: number, holder: string | undefined) {
    super(
      "LOCK_TIMEOUT",
      `database "${database}": could not take pgstack's migration lock within ${timeoutMs} ms; ` +
        (holder ? `it is held by ${holder}` : "the holder could not be identified"),
      {
        hint: "wait for the other `pulumi up` (or migration run) to finish and retry; if that session is stuck, end it with pg_terminate_backend(pid)",
      },
    );
  }
}

/** A migration failed; it was rolled back (or, without a transaction, partly applied). */
export class MigrationFailedError extends PgstackError {
  readonly migration: string;
  readonly location?: SourceLocation;
  /** Postgres' SQLSTATE, when the server raised the error. */
  readonly sqlState?: string;
  constructor(
    migration: string,
    detail: string,
    options: { location?: SourceLocation; sqlState?: string; hint?: string; cause?: unknown },
  ) {
    const where = options.location ? `${formatLocation(options.location)}: ` : "";
    super("MIGRATION_FAILED", `Migration ${migration} failed: ${where}${detail}`, options);
    this.migration = migration;
    this.location = options.location;
    this.sqlState = options.sqlState;
  }
}

/**
 * A `pgstack:no-transaction` migration started earlier and never finished (the process was
 * killed, the connection dropped, or a statement failed after others had run). Its finished
 * statements are not rolled back, so pgstack refuses to run anything until a person has
 * checked the database and deleted the marker with {@link MigrationInterruptedError.clearSql}.
 */
export class MigrationInterruptedError extends PgstackError {
  /** The migration's name, e.g. `0004_index_users`. */
  readonly migration: string;
  /** Its file, as recorded when it started. */
  readonly file: string;
  /** The exact SQL that deletes the marker, once the database has been checked. */
  readonly clearSql: string;
  constructor(database: string, info: { migration: string; file: string; progress: string; clearSql: string }) {
    super(
      "MIGRATION_INTERRUPTED",
      `database "${database}": migration ${info.file} (${info.migration}) was interrupted while running outside a transaction ` +
        `(pgstack:no-transaction); nothing was run this time. What the earlier run got to:\n${info.progress}`,
      {
        hint:
          "check the database by hand and finish or undo the statements that may have run (an interrupted or failed " +
          "CREATE INDEX CONCURRENTLY leaves an INVALID index behind: drop it); then delete the marker with\n" +
          `      \`${info.clearSql}\`\n    and run again`,
      },
    );
    this.migration = info.migration;
    this.file = info.file;
    this.clearSql = info.clearSql;
  }
}

/**
 * Something a preview cannot read yet but `up` will, such as another tool's history table owned
 * by the role the admin becomes a member of during `up`. A preview prints {@link line} (one line:
 * what it cannot see and why) and goes on; `up`, which can read it by then, never sees this error
 * unless the reason persists, and then refuses with the whole message.
 */
export class NotReadableYetError extends PgstackError {
  /** One line for the preview, e.g. `cannot read public.schema_migrations yet: …; up reads it then`. */
  readonly line: string;
  constructor(line: string, message: string, hint: string) {
    super("NOT_READABLE_YET", message, { hint });
    this.line = line;
  }
}

/** A reset was refused before anything was dropped. */
export class ResetRefusedError extends PgstackError {
  constructor(message: string, hint: string) {
    super("RESET_REFUSED", message, { hint });
  }
}

/**
 * A reset could not take its locks on the managed tables and schemas in time. Its transaction
 * was rolled back, so nothing was dropped. `holders` describe the sessions holding those locks.
 */
export class ResetLockTimeoutError extends PgstackError {
  readonly holders: readonly string[];
  constructor(database: string, timeoutMs: number, holders: readonly string[]) {
    super(
      "RESET_LOCK_TIMEOUT",
      `database "${database}": the reset could not lock the managed tables within ${timeoutMs} ms; ` +
        `it was rolled back and nothing was dropped; ` +
        (holders.length > 0
          ? `other sessions hold locks on them:\n${holders.map((h) => `  - ${h}`).join("\n")}`
          : "the sessions that held the locks had released them by the time pgstack looked"),
      {
        hint:
          "let those sessions finish (commit or roll back their transactions) or end them with " +
          "SELECT pg_terminate_backend(pid) as a superuser or a member of their role, then run `pulumi up` again",
      },
    );
    this.holders = holders;
  }
}

/** One or more expectations on the schema are unmet. */
export class VerificationError extends PgstackError {
  readonly unmet: readonly string[];
  constructor(database: string, unmet: readonly string[]) {
    super(
      "VERIFICATION_FAILED",
      `database "${database}": ${unmet.length} expectation(s) unmet:\n` + unmet.map((u) => `  - ${u}`).join("\n"),
      { hint: "add a migration that creates what is missing, or correct the expectations in the stack config" },
    );
    this.unmet = unmet;
  }
}

/** A connection could not be opened. The message never contains the password. */
export class ConnectionError extends PgstackError {
  /** `target` is `user@host:port/database` (never the password). */
  constructor(target: string, cause: unknown, hint = "check the server's host, port, sslmode and admin user in the stack config, and that the server is running") {
    super("CONNECTION_FAILED", `cannot connect to ${target}: ${errorMessage(cause)}`, { hint, cause });
  }
}

/** `err.message` for anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Bad input on a script's command line (or in the stack files it reads): its exit code is 2. */
export class UsageError extends PgstackError {
  constructor(message: string, hint?: string) {
    super("USAGE", message, { hint });
  }
}

/**
 * The machine, not the input, is not as needed: a port another program holds, a package not
 * installed, a tool (initdb, pg_ctl, the Pulumi CLI) that failed with its own output shown. The
 * message says what to do, so it is never reported as a pgstack bug.
 */
export class EnvironmentError extends PgstackError {
  constructor(message: string, hint?: string) {
    super("ENVIRONMENT", message, { hint });
  }
}

/** Where pgstack's bugs are reported; named in every internal error's hint. */
export const BUG_REPORT_HINT =
  "this is a bug in pgstack, not in your config or migrations: report it with this message and the command you ran";

/**
 * The server refused one of pgstack's own queries (not a migration's: those are
 * {@link MigrationFailedError}s), e.g. `permission denied for table schema_migrations`.
 */
export class DatabaseQueryError extends PgstackError {
  /** Postgres' SQLSTATE. */
  readonly sqlState: string;
  constructor(where: string, detail: string, sqlState: string, cause: unknown) {
    super("DATABASE_ERROR", `${where}: the server refused pgstack's query: ${detail} (SQLSTATE ${sqlState})`, {
      hint:
        sqlState === "42501"
          ? "grant the admin role of the stack config the privilege named above (or make it a member of the object's owner), then run again"
          : "check the server and the admin role's privileges, then run again; if it persists, report it as a pgstack bug with this message",
      cause,
    });
    this.sqlState = sqlState;
  }
}

/** Anything pgstack did not expect: a bug. The message keeps what happened; never a stack trace. */
export class InternalError extends PgstackError {
  constructor(where: string, detail: string, cause: unknown) {
    super("INTERNAL", `internal error in ${where}: ${detail}`, { hint: BUG_REPORT_HINT, cause });
  }
}

/** A Postgres server error as `pg` raises it: a five-character SQLSTATE and a severity. */
function isServerError(err: unknown): err is Error & { code: string; severity: string } {
  if (!(err instanceof Error)) return false;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && typeof severity === "string";
}

/**
 * The one conversion at every boundary a user sees (provider calls, scripts): a
 * {@link PgstackError} passes through as it is; a server error on pgstack's own query becomes a
 * {@link DatabaseQueryError}; anything else an {@link InternalError}. `where` says what was
 * running, e.g. `MigrationSet.create on database "app"`.
 */
export function toPgstackError(err: unknown, where: string): PgstackError {
  if (err instanceof PgstackError) return err;
  if (isServerError(err)) return new DatabaseQueryError(where, err.message, err.code, err);
  return new InternalError(where, errorMessage(err), err);
}

/**
 * `err` (converted by {@link toPgstackError}) with `context` before its detail, e.g. `database
 * "app": the safety check could not run: <detail>`. Code and hint are kept.
 */
export function inContext(context: string, err: unknown): PgstackError {
  const e = toPgstackError(err, context);
  if (e.code === "INTERNAL") return e;
  return new PgstackError(e.code, `${context}: ${e.detail}`, { hint: e.hint, cause: e });
}
