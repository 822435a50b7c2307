/**
 * SQL understood with libpg-query, the real Postgres parser (compiled to WebAssembly).
 */
import { loadModule, parseSync } from "libpg-query";
import { MigrationSourceError } from "./errors.js";
import { byteToCharOffset, lineColumnAt, pgPositionToOffset, snippet } from "./text.js";

/** One top-level statement of a file, with its place in the file. */
export interface Statement {
  /** The statement's text, without the trailing `;`. */
  readonly sql: string;
  /** 0-based UTF-16 offset of the statement's first character in the file. */
  readonly offset: number;
  /** The parse-tree node type, e.g. `CreateStmt`, `IndexStmt`, `DropStmt`. */
  readonly kind: string;
  /** The statement's parse tree (libpg-query JSON); shared by every caller of the same text, so read it only. */
  readonly node: Readonly<Record<string, unknown>>;
}

let loaded: Promise<void> | undefined;
let ready = false;

/** Loads the parser's WebAssembly. Await once before {@link splitStatements}; repeat calls are free. */
export async function loadSqlParser(): Promise<void> {
  loaded ??= loadModule().then(() => {
    ready = true;
  });
  return loaded;
}

/**
 * The parses of this process, by SQL text: one run reads the same files several times (loading,
 * the safety check, adoption's estimate, the scratch build's server-wide check), and parsing is
 * the dearest part of each. Bounded by the text it holds (a parse tree takes about 14 bytes of
 * heap per character: 500 generated files, 0.4 MB of SQL, held 5.5 MB), oldest dropped first; a
 * failed parse is not kept, so its error is raised again.
 */
const parsed = new Map<string, readonly Statement[]>();
let parsedChars = 0;
/** The most SQL text {@link parsed} holds, and the largest file it keeps. */
const PARSED_MAX_CHARS = 2_000_000;
const PARSED_MAX_FILE = 500_000;

/** Forgets this process's parses, so the next {@link splitStatements} of every text parses again (a benchmark's cold start). */
export function forgetParses(): void {
  parsed.clear();
  parsedChars = 0;
}

/**
 * Splits a file into statements with the real parser. A syntax error becomes a
 * {@link MigrationSourceError} at file:line:column with a snippet, before anything runs. The
 * same text is parsed once per process: the result is shared, so callers only read it.
 */
export function splitStatements(sql: string, file: string): readonly Statement[] {
  if (!ready) throw new Error("internal: await loadSqlParser() before parsing SQL");
  const known = parsed.get(sql);
  if (known) return known;
  const statements = Object.freeze(parseStatements(sql, file));
  if (sql.length <= PARSED_MAX_FILE) {
    parsed.set(sql, statements);
    parsedChars += sql.length;
    for (const [text] of parsed) {
      if (parsedChars <= PARSED_MAX_CHARS) break;
      parsed.delete(text);
      parsedChars -= text.length;
    }
  }
  return statements;
}

function parseStatements(sql: string, file: string): Statement[] {
  let result: ReturnType<typeof parseSync>;
  try {
    result = parseSync(sql);
  } catch (err) {
    const details = (err as { sqlDetails?: { cursorPosition?: number } }).sqlDetails;
    // cursorPosition counts characters (unlike stmt_location, which counts bytes).
    const at = pgPositionToOffset(sql, (details?.cursorPosition ?? 0) + 1);
    const { line, column } = lineColumnAt(sql, at);
    // A CR left at the end of a CRLF line would move the terminal's cursor back over the snippet.
    const shown = snippet(sql.replace(/\r\n/g, "\n"), line, column);
    throw new MigrationSourceError(`SQL syntax error: ${(err as Error).message.replace(/\r/g, "")}\n${shown}`, {
      location: { file, line, column },
      hint: "fix the SQL; nothing was applied",
      cause: err,
    });
  }
  const bytes = Buffer.from(sql, "utf8");
  return (result.stmts ?? []).map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len === undefined || s.stmt_len === 0 ? bytes.length : start + s.stmt_len;
    const text = bytes.subarray(start, end).toString("utf8");
    // A parse-tree node is a one-key object: { CreateStmt: {...} }.
    const stmt = (s.stmt ?? {}) as Record<string, Record<string, unknown>>;
    const kind = Object.keys(stmt)[0] ?? "Unknown";
    // stmt_location points at the first token after the previous `;`, which may be a
    // comment or blank line; skip those so error lines point at the statement itself.
    const lead = /^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)*/.exec(text)?.[0].length ?? 0;
    return {
      sql: text.slice(lead).trim(),
      offset: byteToCharOffset(sql, start) + lead,
      kind,
      node: stmt[kind] ?? {},
    };
  });
}
