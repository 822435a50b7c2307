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

/**
 * A cache of one small JSON file per checksum in `dir`. Failures to read or write only cost a
 * parse: a cache must never stop a run (read-only checkouts, full disks).
 */
export function fileParseCache(dir: string): ParseCache & { hits: number; misses: number } {
  let made = false;
  const cache = {
    hits: 0,
    misses: 0,
    get(checksum: string): ParseFacts | undefined {
      try {
        const v = JSON.parse(fs.readFileSync(path.join(dir, `${checksum}.json`), "utf8")) as { rules?: unknown; inTransaction?: unknown };
        if (v.rules === PARSE_RULES && typeof v.inTransaction === "boolean") {
          cache.hits++;
          return { inTransaction: v.inTransaction };
        }
      } catch {
        // missing or unreadable: parse
      }
      cache.misses++;
      return undefined;
    },
    set(checksum: string, facts: ParseFacts): void {
      try {
        if (!made) fs.mkdirSync(dir, { recursive: true });
        made = true;
        // Write then rename: a concurrent reader never sees half a file.
        const file = path.join(dir, `${checksum}.json`);
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ rules: PARSE_RULES, inTransaction: facts.inTransaction }));
        fs.renameSync(tmp, file);
      } catch {
        // best effort
      }
    },
  };
  return cache;
}
