import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { fileParseCache, PARSE_CACHE_FILE, PARSE_RULES } from "../../infra/lifecycle/parse-cache.js";
import { loadMigrations, sha256 } from "../../infra/lifecycle/source.js";
import { memoryReader } from "../support/migrations.js";

const dirs: string[] = [];
function tmpCache(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-parse-cache-"));
  dirs.push(dir);
  return path.join(dir, "parse");
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const FILES = {
  "0001_a.sql": "CREATE TABLE a (id int PRIMARY KEY);",
  "0002_b.sql": "\uFEFFCREATE TABLE b (id int REFERENCES a (id));\r\n",
  "0003_c.sql": "-- pgstack:no-transaction\nCREATE INDEX CONCURRENTLY b_id ON b (id);",
};

describe("the parse cache (by sha256, in .pgstack/cache/parse)", () => {
  it("a first load parses and records every file; a second one parses none and loads the same migrations", async () => {
    const dir = tmpCache();
    const first = fileParseCache(dir);
    const cold = await loadMigrations("mem", memoryReader(FILES), { cache: first });
    expect([first.hits, first.misses]).toEqual([0, 3]);
    const stored = JSON.parse(fs.readFileSync(path.join(dir, PARSE_CACHE_FILE), "utf8")) as { rules: string; parses: Record<string, boolean> };
    expect(stored.rules).toBe(PARSE_RULES);
    expect(Object.keys(stored.parses).sort()).toEqual(Object.values(FILES).map((t) => sha256(Buffer.from(t, "utf8"))).sort());
    expect(fs.readdirSync(dir)).toEqual([PARSE_CACHE_FILE]); // one file, no temporary left

    const second = fileParseCache(dir);
    const warm = await loadMigrations("mem", memoryReader(FILES), { cache: second });
    expect([second.hits, second.misses]).toEqual([3, 0]);
    expect(warm).toEqual(cold);
    expect(warm.map((m) => m.inTransaction)).toEqual([true, true, false]);
    expect(warm[1]?.sql.startsWith("CREATE TABLE b")).toBe(true); // the BOM is dropped on a hit too
    // And both equal a load without any cache.
    expect(warm).toEqual(await loadMigrations("mem", memoryReader(FILES)));
  });

  it("an edited file is a miss (new checksum); an unedited one stays a hit", async () => {
    const dir = tmpCache();
    await loadMigrations("mem", memoryReader(FILES), { cache: fileParseCache(dir) });
    const cache = fileParseCache(dir);
    await loadMigrations("mem", memoryReader({ ...FILES, "0002_b.sql": "CREATE TABLE b (id bigint);" }), { cache });
    expect([cache.hits, cache.misses]).toEqual([2, 1]);
  });

  it("syntax errors are never cached: every run reports them at file:line:col", async () => {
    const dir = tmpCache();
    const bad = { ...FILES, "0004_d.sql": "CREATE TABLE d (\n  id int,\n  name tex t\n);" };
    for (let run = 0; run < 2; run++) {
      const cache = fileParseCache(dir);
      const err = (await loadMigrations("mem", memoryReader(bad), { cache }).catch((e: unknown) => e)) as MigrationSourceError;
      expect(err).toBeInstanceOf(MigrationSourceError);
      expect(err.message).toMatch(/mem\/0004_d\.sql:3:\d+/);
      expect(err.message).toContain("SQL syntax error");
      expect(cache.misses).toBe(run === 0 ? 4 : 1);
    }
    const stored = JSON.parse(fs.readFileSync(path.join(dir, PARSE_CACHE_FILE), "utf8")) as { parses: Record<string, boolean> };
    expect(Object.keys(stored.parses)).toHaveLength(3); // the good files are cached even though the load failed
  });

  it("a cache written under other rules, a damaged cache and an unwritable folder only cost a parse", async () => {
    const dir = tmpCache();
    fs.mkdirSync(dir, { recursive: true });
    const a = sha256(Buffer.from(FILES["0001_a.sql"], "utf8"));
    // A stale answer that would be wrong: it must not be believed.
    fs.writeFileSync(path.join(dir, PARSE_CACHE_FILE), JSON.stringify({ rules: "pgstack-parse-0", parses: { [a]: false } }));
    const cache = fileParseCache(dir);
    const ms = await loadMigrations("mem", memoryReader(FILES), { cache });
    expect([cache.hits, cache.misses]).toEqual([0, 3]);
    expect(ms[0]?.inTransaction).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, PARSE_CACHE_FILE), "utf8")).parses[a]).toBe(true);

    fs.writeFileSync(path.join(dir, PARSE_CACHE_FILE), "{ not json");
    const damaged = fileParseCache(dir);
    expect(await loadMigrations("mem", memoryReader(FILES), { cache: damaged })).toEqual(ms);
    expect([damaged.hits, damaged.misses]).toEqual([0, 3]);

    const file = path.join(tmpCache(), "not-a-folder");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "");
    const blocked = fileParseCache(path.join(file, "parse"));
    expect(await loadMigrations("mem", memoryReader(FILES), { cache: blocked })).toEqual(ms);
  });
});
