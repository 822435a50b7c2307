/**
 * The migration source: a folder of `NNNN_name.sql` files becomes an ordered list of
 * migrations with checksums and directives. The file system is handed in, so tests can pass
 * migrations inline.
 *
 * Repeatable migrations are `R__name.sql` files in the same folder (Flyway's naming rule, which
 * the Flyway importer already reads): views, functions, triggers and policies written as
 * `CREATE OR REPLACE …`, run again whenever their checksum changes. Why a naming rule rather than
 * a directive: the file's role is visible in a listing, and a versioned file can never become a
 * repeatable by an edit (which would let an applied migration run again). They come after every
 * versioned migration in the list, ordered by name, with the id {@link REPEATABLE_ID}, so every
 * consumer of the list (apply, the state model, the declared schema, the rehearsal) runs them
 * last without a second list.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { MigrationSourceError, errorMessage } from "./errors.js";
import type { ParseCache } from "./parse-cache.js";
import { loadSqlParser, splitStatements, type Statement } from "./sql.js";
import { lineColumnAt } from "./text.js";
import { parseAcknowledgements } from "./safety/acknowledgements.js";

/** One versioned migration, ready to apply. */
export interface Migration {
  /**
   * The numeric version from the file name (`0003_x.sql` → 3). Unique and ascending. A repeatable
   * (`R__name.sql`) has {@link REPEATABLE_ID}, above every version.
   */
  id: number;
  /** The file name without extension, e.g. `0003_add_teams`. Recorded in the history. */
  name: string;
  /** Path of the file, used in error messages (`file:line:column`). */
  file: string;
  /** sha256 of the file's bytes, hex. An applied migration's checksum may never change. */
  checksum: string;
  /** The SQL text. */
  sql: string;
  /** False when the file carries `-- pgstack:no-transaction` (e.g. `CREATE INDEX CONCURRENTLY`). Always true for a repeatable. */
  inTransaction: boolean;
}

/** Reads migration files. `listSqlFiles` returns base names; `read` returns bytes. */
export interface MigrationFileReader {
  listSqlFiles(dir: string): Promise<string[]>;
  read(file: string): Promise<Buffer>;
}

/**
 * The reader for the real file system. Synchronous reads behind the async interface: a
 * migration is a small file, and `fs.promises.readFile` costs several thread-pool round trips
 * per file (a `dynamic import()` per call cost more still under a loader such as tsx).
 */
export const nodeFileReader: MigrationFileReader = {
  async listSqlFiles(dir) {
    const entries = fs.readdirSync(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name.endsWith(".sql")).map((e) => e.name);
  },
  async read(file) {
    return fs.readFileSync(file);
  },
};

/** File names look like `0001_create_users.sql`: digits, underscore, a lowercase name. */
const FILE_NAME = /^(\d+)_([a-z0-9_]+)\.sql$/;
/** Repeatable migrations: `R__create_views.sql` (Flyway's rule), a lowercase name. */
const REPEATABLE_FILE_NAME = /^R__([a-z0-9_]+)\.sql$/;
/**
 * The directive that makes a migration run outside a transaction. `[ \t]` rather than `\s`:
 * `\s` also matches line breaks, which would let a match start lines before the directive.
 */
const NO_TRANSACTION = /^[ \t]*--[ \t]*pgstack:no-transaction[ \t\r]*$/m;
/** Any other `pgstack:` directive is a typo we should not silently ignore. */
const ANY_DIRECTIVE = /^([ \t]*)--[ \t]*pgstack:(\S*)/gm;
/**
 * The largest version: the history column is `bigint`, but versions are JS numbers, so the
 * limit is 2^53 − 1 (`Number.MAX_SAFE_INTEGER`). Timestamps such as `20240101120000` fit.
 */
export const MAX_VERSION = Number.MAX_SAFE_INTEGER;
/**
 * The id of every repeatable migration: 2^53, above every version and still exact in JSON and
 * in Pulumi's state, so sorting by id puts repeatables last. Never written to the history:
 * repeatables are recorded in `pgstack.repeatables`, by name (history.ts).
 */
export const REPEATABLE_ID = MAX_VERSION + 1;

/** True for a repeatable migration (`R__name.sql`). */
export function isRepeatable(m: { id: number }): boolean {
  return m.id === REPEATABLE_ID;
}

/** True for the name of a repeatable (`R__views`); versioned names start with digits. */
export function isRepeatableName(name: string): boolean {
  return name.startsWith("R__");
}

/** The order migrations run in: versions ascending, then repeatables by name. */
export function compareMigrations(a: { id: number; name: string }, b: { id: number; name: string }): number {
  return a.id !== b.id ? a.id - b.id : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The migrations a database at version `upTo` has run: the versioned ones up to it, and the
 * repeatables once it has reached the last version (they run after every versioned one).
 * Undefined `upTo`: all of them.
 */
export function upToVersion<T extends { id: number }>(migrations: readonly T[], upTo: number | undefined): T[] {
  if (upTo === undefined) return [...migrations];
  const last = Math.max(-1, ...migrations.filter((m) => !isRepeatable(m)).map((m) => m.id));
  return migrations.filter((m) => (isRepeatable(m) ? upTo >= last : m.id <= upTo));
}
/**
 * Versions from 12 digits up (`YYYYMMDDhhmm…`) are timestamps, as golang-migrate, dbmate and
 * Prisma write them: they are ordered but never consecutive, so the gap rule skips them.
 */
export const TIMESTAMP_VERSION_MIN = 100_000_000_000;
/** The UTF-8 byte order mark some Windows editors write; it is not SQL, so it is dropped. */
const BOM = "\uFEFF";

/** Options of {@link loadMigrations}. */
export interface LoadOptions {
  /**
   * Answers of earlier parses by checksum: a file parsed before (on this machine) is not parsed
   * again. Without one every file is parsed.
   */
  cache?: ParseCache;
}

/**
 * Loads and validates every migration in `dir`. All problems are collected and thrown
 * together, so a user fixes them in one pass; nothing is applied when any exists. The SQL
 * parser is loaded on the first file that needs a parse.
 */
export async function loadMigrations(dir: string, reader: MigrationFileReader = nodeFileReader, options: LoadOptions = {}): Promise<Migration[]> {
  let names: string[];
  try {
    names = await reader.listSqlFiles(dir);
  } catch (err) {
    throw new MigrationSourceError(`cannot read the migrations folder ${dir}: ${errorMessage(err)}`, {
      hint: "create the folder, or fix `migrations` for this database in the stack config",
      cause: err,
    });
  }
  const problems: MigrationSourceError[] = [];
  const byId = new Map<number, string>();
  const parsed: { id: number; base: string; file: string }[] = [];
  const repeatables: { id: number; base: string; file: string }[] = [];
  for (const base of names.sort()) {
    const file = path.join(dir, base);
    if (REPEATABLE_FILE_NAME.test(base)) {
      repeatables.push({ id: REPEATABLE_ID, base, file });
      continue;
    }
    const m = FILE_NAME.exec(base);
    if (!m) {
      problems.push(
        new MigrationSourceError(`bad migration file name "${base}"`, {
          location: { file, line: 1, column: 1 },
          hint: "name migrations NNNN_snake_case_name.sql, e.g. 0007_add_teams.sql, and repeatable ones R__snake_case_name.sql, e.g. R__views.sql",
        }),
      );
      continue;
    }
    // BigInt compares exactly: Number() would round a 17-digit version onto a valid one.
    if (BigInt(m[1] ?? "0") > BigInt(MAX_VERSION)) {
      problems.push(
        new MigrationSourceError(`version ${m[1]} is too large: pgstack records versions up to ${MAX_VERSION} (2^53 − 1)`, {
          location: { file, line: 1, column: 1 },
          hint: "number migrations 0001, 0002, 0003, … or by timestamp (YYYYMMDDhhmmss, 14 digits)",
        }),
      );
      continue;
    }
    const id = Number(m[1]);
    const clash = byId.get(id);
    if (clash) {
      problems.push(
        new MigrationSourceError(`version ${id} is used twice: ${clash} and ${base}`, {
          location: { file, line: 1, column: 1 },
          hint: "give each migration a unique version number",
        }),
      );
      continue;
    }
    byId.set(id, base);
    parsed.push({ id, base, file });
  }
  parsed.sort((a, b) => a.id - b.id);
  problems.push(...gaps(parsed));

  const migrations: Migration[] = [];
  const cache = options.cache;
  // Repeatables after the versioned ones, by name (`names` is sorted).
  for (const { id, base, file } of [...parsed, ...repeatables]) {
    const bytes = await reader.read(file);
    try {
      // The checksum is over the bytes as read (BOM and line endings included).
      const checksum = sha256(bytes);
      const name = base.replace(/\.sql$/, "");
      const sql = decodeUtf8(bytes, file);
      // Every check of fromText depends only on the bytes: a cached success stays a success.
      const known = cache?.get(checksum);
      // The same bytes cached as a no-transaction versioned file: parse, so the repeatable's rule refuses it.
      if (known && (known.inTransaction || !isRepeatable({ id }))) {
        migrations.push({ id, name, file, checksum, sql: sql.startsWith(BOM) ? sql.slice(BOM.length) : sql, inTransaction: known.inTransaction });
        continue;
      }
      await loadSqlParser();
      const m = fromText({ id, name, file, sql, checksum });
      cache?.set(checksum, { inTransaction: m.inTransaction });
      migrations.push(m);
    } catch (err) {
      if (err instanceof MigrationSourceError) problems.push(err);
      else throw err;
    }
  }
  // Saved even when some file failed: the good ones need no parse next time.
  cache?.flush?.();
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    throw new MigrationSourceError(
      `${problems.length} problems in ${dir}:\n` + problems.map((p) => `  - ${p.message.replace(/\n/g, "\n    ")}`).join("\n"),
      { hint: "fix the files above; nothing was applied" },
    );
  }
  return migrations;
}

/**
 * Versions must run without gaps. Why: a hole usually means a file was deleted or never
 * committed, and applying around it would let two databases end up with different histories.
 * The first version may be 0 or 1.
 */
function gaps(parsed: readonly { id: number; base: string; file: string }[]): MigrationSourceError[] {
  const problems: MigrationSourceError[] = [];
  const hint =
    "versions must run without gaps: restore the missing file, or renumber the later files " +
    "(only files that no database has applied yet may be renumbered)";
  parsed.forEach((cur, i) => {
    const prev = parsed[i - 1];
    const from = prev ? prev.id + 1 : 1;
    if (cur.id <= from || cur.id >= TIMESTAMP_VERSION_MIN) return;
    const missing = cur.id - from === 1 ? `version ${from} is missing` : `versions ${from} to ${cur.id - 1} are missing`;
    const where = prev ? `the migrations jump from ${prev.base} to ${cur.base}` : `the first migration is ${cur.base}`;
    problems.push(new MigrationSourceError(`${missing}: ${where}`, { location: { file: cur.file, line: 1, column: 1 }, hint }));
  });
  return problems;
}

/**
 * Decodes a file as UTF-8, refusing anything else: Node would silently turn bad bytes into
 * U+FFFD and the database would store the replacement characters.
 */
export function decodeUtf8(bytes: Buffer, file: string): string {
  const save = "save it as UTF-8 (in most editors: \"Save with Encoding\" → UTF-8); nothing was applied";
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    throw new MigrationSourceError("the file is UTF-16 (it starts with a UTF-16 byte order mark), not UTF-8", {
      location: { file, line: 1, column: 1 },
      hint: save,
    });
  }
  const bad = invalidUtf8At(bytes);
  if (bad === undefined) return bytes.toString("utf8");
  const before = bytes.subarray(0, bad).toString("utf8").replace(/^\uFEFF/, "");
  const { line, column } = lineColumnAt(before, before.length);
  throw new MigrationSourceError(
    `the file is not valid UTF-8: byte 0x${(bytes[bad] ?? 0).toString(16).toUpperCase().padStart(2, "0")} at byte offset ${bad}`,
    { location: { file, line, column }, hint: `it is probably in a legacy encoding such as Latin-1 or Windows-1252: ${save}` },
  );
}

/** The offset of the first byte that does not start a well-formed UTF-8 sequence, if any. */
function invalidUtf8At(b: Buffer): number | undefined {
  let i = 0;
  while (i < b.length) {
    const [n, lo, hi] = utf8Lead(b[i] ?? 0);
    if (n === 0) return i;
    for (let k = 1; k < n; k++) {
      const x = b[i + k];
      if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return i;
    }
    i += n;
  }
  return undefined;
}

/**
 * A lead byte's sequence length and the range its second byte must be in (RFC 3629, which
 * excludes overlong forms, surrogates and code points above U+10FFFF); length 0 if invalid.
 */
function utf8Lead(c: number): [number, number, number] {
  if (c < 0x80) return [1, 0, 0];
  if (c >= 0xc2 && c <= 0xdf) return [2, 0x80, 0xbf];
  if (c === 0xe0) return [3, 0xa0, 0xbf];
  if (c === 0xed) return [3, 0x80, 0x9f];
  if (c >= 0xe1 && c <= 0xef) return [3, 0x80, 0xbf];
  if (c === 0xf0) return [4, 0x90, 0xbf];
  if (c >= 0xf1 && c <= 0xf3) return [4, 0x80, 0xbf];
  if (c === 0xf4) return [4, 0x80, 0x8f];
  return [0, 0, 0];
}

/** Builds a migration from its text, parsing it with the real Postgres parser. A leading BOM is dropped. */
export function fromText(input: { id: number; name: string; file: string; sql: string; checksum?: string }): Migration {
  const sql = input.sql.startsWith(BOM) ? input.sql.slice(BOM.length) : input.sql;
  const nul = sql.indexOf("\0");
  if (nul >= 0) {
    // libpg-query and the wire protocol both stop at NUL: the rest of the file would be ignored.
    throw new MigrationSourceError("the file contains a NUL character, which cannot be part of SQL text", {
      location: { file: input.file, ...lineColumnAt(sql, nul) },
      hint: "remove it; a file full of NULs is usually UTF-16 or binary, save it as UTF-8 text",
    });
  }
  // `-- pgstack:accept …` acknowledges a safety finding; its syntax is checked here (file:line).
  parseAcknowledgements(sql, input.file);
  for (const d of sql.matchAll(ANY_DIRECTIVE)) {
    if (d[2] !== "no-transaction" && d[2] !== "accept") {
      throw new MigrationSourceError(`unknown directive "pgstack:${d[2]}"`, {
        location: { file: input.file, ...lineColumnAt(sql, (d.index ?? 0) + (d[1]?.length ?? 0)) },
        hint: 'the directives are `-- pgstack:no-transaction` and `-- pgstack:accept <class> "<table>" -- reason: <why>`',
      });
    }
  }
  // libpg-query rejects "" as a syntax error ("Query cannot be empty"); it is an empty file.
  const statements = sql.trim() === "" ? [] : splitStatements(sql, input.file);
  if (statements.length === 0) {
    throw new MigrationSourceError(`the migration has no SQL statements (${sql.trim() === "" ? "the file is empty" : "it holds only comments"})`, {
      location: { file: input.file, line: 1, column: 1 },
      hint: "delete the file, or add the migration's SQL to it",
    });
  }
  const inTransaction = !NO_TRANSACTION.test(sql);
  if (!inTransaction && isRepeatable(input)) {
    throw new MigrationSourceError("a repeatable migration cannot use `-- pgstack:no-transaction`", {
      location: { file: input.file, ...lineColumnAt(sql, NO_TRANSACTION.exec(sql)?.index ?? 0) },
      hint: "a repeatable runs in one transaction with its history row, so a failing one leaves nothing half-applied: remove the directive, or make it a versioned migration",
    });
  }
  if (inTransaction) {
    for (const st of statements) {
      const where = { file: input.file, ...lineColumnAt(sql, st.offset) };
      if (st.kind === "TransactionStmt") {
        throw new MigrationSourceError(`transaction control statement "${st.sql.split(/\s/)[0]}" in a migration`, {
          location: where,
          hint: "pgstack runs each migration in its own transaction: remove BEGIN/COMMIT, or add `-- pgstack:no-transaction`",
        });
      }
      if (NEEDS_NO_TRANSACTION(st)) {
        throw new MigrationSourceError(`${st.sql.split(/\r?\n/)[0]} cannot run inside a transaction`, {
          location: where,
          hint: "add the line `-- pgstack:no-transaction` to this file, and keep it to statements that are safe to re-run",
        });
      }
    }
  }
  return {
    id: input.id,
    name: input.name,
    file: input.file,
    checksum: input.checksum ?? sha256(Buffer.from(input.sql, "utf8")),
    sql,
    inTransaction,
  };
}

/** Statements Postgres refuses inside a transaction block ("cannot run inside a transaction block"). */
function NEEDS_NO_TRANSACTION(st: Statement): boolean {
  if (st.kind === "IndexStmt" || st.kind === "ReindexStmt") return st.node["concurrent"] === true || /\bconcurrently\b/i.test(st.sql);
  if (st.kind === "DropStmt") return st.node["concurrent"] === true; // DROP INDEX CONCURRENTLY
  if (st.kind === "AlterTableStmt") return detachesConcurrently(st.node);
  if (st.kind === "VacuumStmt") return st.node["is_vacuumcmd"] === true; // ANALYZE alone is fine
  const always = ["CreatedbStmt", "DropdbStmt", "AlterSystemStmt", "CreateTableSpaceStmt", "DropTableSpaceStmt"];
  return always.includes(st.kind);
}

/** `ALTER TABLE … DETACH PARTITION … CONCURRENTLY`. */
function detachesConcurrently(node: Record<string, unknown>): boolean {
  const cmds = (node["cmds"] ?? []) as { AlterTableCmd?: { subtype?: string; def?: { PartitionCmd?: { concurrent?: boolean } } } }[];
  return cmds.some((c) => c.AlterTableCmd?.subtype === "AT_DetachPartition" && c.AlterTableCmd.def?.PartitionCmd?.concurrent === true);
}

/** Hex sha256. */
export function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}
