/**
 * A cache of what parsing a migration taught pgstack, keyed by the file's sha256. Parsing with
 * libpg-query is the dearest part of loading a migration, and its outcome depends only on the
 * file's bytes, so a file is parsed once per machine: later runs (every `pulumi preview` and
 * `up`) read the answer back. Only successful parses are kept, so a syntax error is reported
 * again on every run.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** What loading needs from a successful parse. */
export interface ParseFacts {
  /** False when the file carries `-- pgstack:no-transaction`. */
  inTransaction: boolean;
}

/** Parse results by sha256 (hex) of the file's bytes. */
export interface ParseCache {
  get(checksum: string): ParseFacts | undefined;
  set(checksum: string, facts: ParseFacts): void;
  /** Saves what `set` added, if the cache is stored somewhere. Called once per load. */
  flush?(): void;
}

/**
 * Bumped whenever the checks done at parse time change (or the parser is upgraded), so an
 * answer given by older rules is never reused.
 */
export const PARSE_RULES = "pgstack-parse-1/libpg-query-18.1.5";

/** The cache folder inside a project (git-ignored with the rest of `.pgstack/`). */
export function projectParseCacheDir(projectRoot: string): string {
  return path.join(projectRoot, ".pgstack", "cache", "parse");
}

/** The file in the cache folder: one JSON object, checksum → `[inTransaction]`. */
export const PARSE_CACHE_FILE = "parses.json";

/**
 * A cache kept as one JSON file in `dir`: read once on the first lookup, written once by
 * `flush` (to a temporary file, then renamed, so a concurrent reader sees the old or the new
 * file, never half of one). Two runs writing at once can only lose each other's new entries,
 * which costs a parse later. Failures to read or write only cost a parse: a cache must never
 * stop a run (read-only checkouts, full disks).
 */
export function fileParseCache(dir: string): ParseCache & { hits: number; misses: number } {
  const file = path.join(dir, PARSE_CACHE_FILE);
  let entries: Map<string, boolean> | undefined;
  let dirty = false;
  const load = (): Map<string, boolean> => {
    if (entries) return entries;
    entries = new Map();
    try {
      const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { rules?: unknown; parses?: Record<string, unknown> };
      if (doc.rules === PARSE_RULES && doc.parses && typeof doc.parses === "object") {
        for (const [k, v] of Object.entries(doc.parses)) if (typeof v === "boolean") entries.set(k, v);
      }
    } catch {
      // missing or damaged: start empty
    }
    return entries;
  };
  const cache = {
    hits: 0,
    misses: 0,
    get(checksum: string): ParseFacts | undefined {
      const inTransaction = load().get(checksum);
      if (inTransaction === undefined) {
        cache.misses++;
        return undefined;
      }
      cache.hits++;
      return { inTransaction };
    },
    set(checksum: string, facts: ParseFacts): void {
      load().set(checksum, facts.inTransaction);
      dirty = true;
    },
    flush(): void {
      if (!dirty || !entries) return;
      try {
        fs.mkdirSync(dir, { recursive: true });
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ rules: PARSE_RULES, parses: Object.fromEntries(entries) }));
        fs.renameSync(tmp, file);
        dirty = false;
      } catch {
        // best effort
      }
    },
  };
  return cache;
}
