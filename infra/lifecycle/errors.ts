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

  constructor(code: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super(options?.hint ? `${message}\n  → ${options.hint}` : message, { cause: options?.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options?.hint;
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

/** A reset was refused before anything was dropped. */
export class ResetRefusedError extends PgstackError {
  constructor(message: string, hint: string) {
    super("RESET_REFUSED", message, { hint });
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
  constructor(target: string, cause: unknown) {
    super("CONNECTION_FAILED", `cannot connect to ${target}: ${errorMessage(cause)}`, {
      hint: "check the server's host, port, sslmode and admin user in the stack config, and that the server is running",
      cause,
    });
  }
}

/** `err.message` for anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
