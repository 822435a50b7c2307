/**
 * What every importer shares: the converted migration's shape, the provenance header that
 * ties a pgstack file back to the tool's own migration, name sanitizing, and the SQL clean-ups
 * that several tools need (an outer BEGIN/COMMIT, statements that cannot run in a transaction).
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { MigrationSourceError, PgstackError, errorMessage } from "../lifecycle/errors.js";
import { decodeUtf8 } from "../lifecycle/source.js";
import { splitStatements, type Statement } from "../lifecycle/sql.js";

/** The tools pgstack imports from. `alembic` is read from `alembic upgrade head --sql` output. */
export type ToolName = "drizzle" | "prisma" | "flyway" | "golang-migrate" | "dbmate" | "goose" | "alembic";

/** One of the tool's migrations, converted; numbered later, in this order. */
export interface ImportedMigration {
  /** The name part of the pgstack file, already sanitized to `[a-z0-9_]+`. */
  name: string;
  /** Where it came from, relative to the imported folder (e.g. `V1_1__add_email.sql`). */
  source: string;
  /** The SQL, without the tool's markers and bookkeeping. */
  sql: string;
  /**
   * What the tool's history table records about this migration (version, hash, revision, …),
   * written into the file's provenance comment so {@link mapForeignHistory} can match rows to files.
   */
  record: Record<string, string>;
  /** Runs outside a transaction (`-- pgstack:no-transaction`). */
  noTransaction: boolean;
}

/** An importer's result: the migrations in order, and notes for the user (files skipped and why). */
export interface ImportResult {
  tool: ToolName;
  migrations: ImportedMigration[];
  notes: string[];
}

/** Reads a tool's folder and converts it. Call {@link loadSqlParser} first. */
export type Importer = (dir: string) => Promise<ImportResult>;

/** Bad input to an importer: the tool's folder cannot be converted. Nothing was written. */
export class ImportError extends PgstackError {
  constructor(message: string, hint: string, cause?: unknown) {
    super("IMPORT_FAILED", message, { hint, cause });
  }
}

/** Another tool's history that pgstack refuses to take over (failed, dirty, or not matching the files). */
export class ForeignHistoryError extends PgstackError {
  constructor(message: string, hint: string) {
    super("FOREIGN_HISTORY", message, { hint });
  }
}

/**
 * Turns a tool's migration name into pgstack's `[a-z0-9_]+`: accents dropped, lowercased, any
 * other run of characters becomes one `_`. `Add Email-Index` → `add_email_index`.
 */
export function sanitizeName(raw: string): string {
  const ascii = raw.normalize("NFKD").replace(/[\u0300-\u036f]/g, "");
  const name = ascii.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
  return name === "" ? "migration" : name;
}

/** The first line of every imported file. A plain comment: `pgstack:` directives are reserved. */
const PROVENANCE = /^-- imported from ([a-z-]+): (.*)$/;
/** The second line: what the tool's history records, as `key=value` pairs. */
const RECORD = /^-- import record:(.*)$/;

/** The provenance comment an imported file starts with (two lines, each ending in `\n`). */
export function provenanceHeader(tool: ToolName, m: Pick<ImportedMigration, "source" | "record">): string {
  const pairs = Object.entries(m.record).map(([k, v]) => {
    if (!/^[a-z]+$/.test(k)) throw new Error(`internal: bad record key ${k}`);
    // Values stay on one line and free of spaces: `%`, whitespace and control characters are %-escaped.
    return ` ${k}=${v.replace(/[%\s\x00-\x1f]/g, (c) => encodeURIComponent(c))}`;
  });
  return `-- imported from ${tool}: ${m.source.replace(/[\r\n]/g, " ")}\n-- import record:${pairs.join("")}\n`;
}

/** What {@link provenanceHeader} wrote, read back from a migration's text; undefined if it has none. */
export function parseProvenance(sql: string): { tool: string; source: string; record: Record<string, string> } | undefined {
  const [first = "", second = ""] = sql.split("\n", 2).map((l) => l.replace(/\r$/, ""));
  const p = PROVENANCE.exec(first);
  if (!p) return undefined;
  const record: Record<string, string> = {};
  for (const pair of (RECORD.exec(second)?.[1] ?? "").trim().split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq > 0) record[pair.slice(0, eq)] = decodeURIComponent(pair.slice(eq + 1));
  }
  return { tool: p[1] ?? "", source: p[2] ?? "", record };
}

/** The full text of a converted file: provenance, the directive if needed, then the SQL. */
export function renderMigration(tool: ToolName, m: ImportedMigration): string {
  const directive = m.noTransaction ? "-- pgstack:no-transaction\n" : "";
  return `${provenanceHeader(tool, m)}${directive}\n${m.sql.trim()}\n`;
}

/** Reads a text file as UTF-8 (refusing other encodings with the file named); a BOM is dropped. */
export async function readText(file: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new ImportError(`cannot read ${file}: ${errorMessage(err)}`, "check the path and the file's permissions", err);
  }
  return decodeUtf8(bytes, file).replace(/^\uFEFF/, "");
}

/** The entries of a folder, sorted; a missing folder is a clear error. */
export async function listDir(dir: string): Promise<{ name: string; isFile: boolean; isDir: boolean }[]> {
  try {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, isFile: e.isFile(), isDir: e.isDirectory() })).sort((a, b) => cmp(a.name, b.name));
  } catch (err) {
    throw new ImportError(`cannot read the folder ${dir}: ${errorMessage(err)}`, "pass the folder that holds the tool's migrations", err);
  }
}

/** Code-point order, independent of the locale. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Parses with libpg-query, turning a syntax error into an ImportError that names the source file. */
export function parse(sql: string, file: string): readonly Statement[] {
  if (sql.trim() === "") return [];
  try {
    return splitStatements(sql, file);
  } catch (err) {
    if (err instanceof MigrationSourceError) {
      throw new ImportError(`${err.message.split("\n  → ")[0]}`, "fix the SQL in the tool's folder and import again; nothing was written", err);
    }
    throw err;
  }
}

/** The offset just past a statement and the `;` that ends it. */
function endOf(sql: string, st: Statement): number {
  const end = st.offset + st.sql.length;
  return end + (/^\s*;/.exec(sql.slice(end))?.[0].length ?? 0);
}

/** True for `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, … */
function isTransactionControl(st: Statement): boolean {
  return st.kind === "TransactionStmt";
}

/**
 * Drops an outer `BEGIN; … COMMIT;` that wraps a whole file: tools such as golang-migrate leave
 * transactions to the author, while pgstack already runs each migration in its own transaction.
 * Any other transaction statement is refused, naming the file and line.
 */
export function unwrapTransaction(sql: string, file: string): string {
  const statements = parse(sql, file);
  const first = statements[0];
  const last = statements[statements.length - 1];
  const kind = (st: Statement | undefined) => String(st?.node["kind"] ?? "");
  let body = sql;
  let inner = statements;
  if (first && last && statements.length >= 2 && isTransactionControl(first) && isTransactionControl(last) &&
      /BEGIN|START/.test(kind(first)) && /COMMIT/.test(kind(last))) {
    // Cut the two statements and their `;`, keeping everything between them (comments too).
    body = sql.slice(0, first.offset) + sql.slice(endOf(sql, first), last.offset) + sql.slice(endOf(sql, last));
    inner = statements.slice(1, -1);
  }
  const stray = inner.find(isTransactionControl);
  if (stray) {
    const line = sql.slice(0, stray.offset).split("\n").length;
    throw new ImportError(
      `${file}:${line}: transaction control statement "${stray.sql.split(/\s/)[0]}" inside the migration`,
      "pgstack runs each migration in its own transaction: keep the file's statements in one unit, or split it into separate migrations",
    );
  }
  return body;
}

/**
 * Statements Postgres refuses inside a transaction block. Mirrors the rule in
 * `lifecycle/source.ts`, which checks the converted files again before anything is written.
 */
export function needsNoTransaction(statements: readonly Statement[]): boolean {
  return statements.some((st) => {
    if (st.kind === "IndexStmt" || st.kind === "ReindexStmt" || st.kind === "DropStmt") {
      return st.node["concurrent"] === true || /\bconcurrently\b/i.test(st.sql);
    }
    if (st.kind === "VacuumStmt") return st.node["is_vacuumcmd"] === true;
    if (st.kind === "AlterTableStmt") return /\bdetach\s+partition\b[\s\S]*\bconcurrently\b/i.test(st.sql);
    return ["CreatedbStmt", "DropdbStmt", "AlterSystemStmt", "CreateTableSpaceStmt", "DropTableSpaceStmt"].includes(st.kind);
  });
}

/** `dir/name` shown relative to the imported folder, with forward slashes. */
export function relative(dir: string, file: string): string {
  return path.relative(dir, file).split(path.sep).join("/");
}
