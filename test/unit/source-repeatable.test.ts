/**
 * The source rules of repeatable migrations (`R__name.sql`): where they go in the list, what is
 * refused at load with file:line:col, and the helpers every consumer orders and selects them by.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { checkHistory } from "../../infra/lifecycle/history.js";
import { scanMigrationFiles } from "../../infra/lifecycle/declared.js";
import { describeRepeatables } from "../../infra/lifecycle/repeatables.js";
import { compareMigrations, isRepeatable, loadMigrations, REPEATABLE_ID, sha256, upToVersion } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { allMigrations, appliedKey, fromAppliedKey } from "../../infra/providers/migrations.js";
import { inline, memoryReader, sourceError } from "../support/migrations.js";

beforeAll(loadSqlParser);

const VIEW = "CREATE OR REPLACE VIEW v AS SELECT 1 AS one;\n";

describe("repeatable migrations in the source", () => {
  it("come after every versioned migration, by name, with the repeatable id and a checksum", async () => {
    const ms = await inline({
      "R__views.sql": VIEW,
      "0002_b.sql": "CREATE TABLE b (a int);",
      "R__functions.sql": "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';",
      "0001_a.sql": "CREATE TABLE a (a int);",
    });
    expect(ms.map((m) => m.name)).toEqual(["0001_a", "0002_b", "R__functions", "R__views"]);
    expect(ms.map(isRepeatable)).toEqual([false, false, true, true]);
    const views = ms[3];
    expect(views?.id).toBe(REPEATABLE_ID);
    expect(REPEATABLE_ID).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    expect(views?.checksum).toBe(sha256(VIEW));
    expect(views?.inTransaction).toBe(true);
    expect(views?.file).toBe("mem/R__views.sql");
  });

  it("a folder of repeatables only is fine; the gap rule ignores them", async () => {
    expect((await inline({ "R__v.sql": VIEW })).map((m) => m.name)).toEqual(["R__v"]);
    expect((await inline({ "0001_a.sql": "SELECT 1;", "R__v.sql": VIEW })).map((m) => m.name)).toEqual(["0001_a", "R__v"]);
  });

  it("refuses a badly named repeatable, naming the rule", async () => {
    const err = await sourceError({ "R__Views.sql": VIEW });
    expect(err.message).toContain('bad migration file name "R__Views.sql"');
    expect(err.message).toContain("R__snake_case_name.sql");
    expect((await sourceError({ "R_views.sql": VIEW })).message).toContain('bad migration file name "R_views.sql"');
  });

  it("refuses pgstack:no-transaction in a repeatable at its file:line:col, also when the bytes were cached as a versioned file", async () => {
    const text = "CREATE OR REPLACE VIEW v AS SELECT 1;\n  -- pgstack:no-transaction\n";
    const err = await sourceError({ "R__v.sql": text });
    expect(err.location).toEqual({ file: "mem/R__v.sql", line: 2, column: 1 });
    expect(err.message).toContain("a repeatable migration cannot use `-- pgstack:no-transaction`");
    const cached = new Map<string, { inTransaction: boolean }>([[sha256(text), { inTransaction: false }]]);
    const cache = { get: (k: string) => cached.get(k), set: (k: string, v: { inTransaction: boolean }) => void cached.set(k, v) };
    await expect(loadMigrations("mem", memoryReader({ "R__v.sql": text }), { cache })).rejects.toThrow("cannot use `-- pgstack:no-transaction`");
  });

  it("checks a repeatable's SQL like any migration (syntax error at file:line:col, empty file)", async () => {
    const err = await sourceError({ "R__v.sql": "CREATE OR REPLACE VIEW v AS\nSELEC 1;\n" });
    expect(err.location).toEqual({ file: "mem/R__v.sql", line: 2, column: 1 });
    expect((await sourceError({ "R__v.sql": "-- nothing\n" })).message).toContain("no SQL statements");
  });

  it("the history check leaves repeatables out: an edited repeatable is no mismatch", async () => {
    const ms = await inline({ "0001_a.sql": "SELECT 1;", "R__v.sql": VIEW });
    const applied = [{ id: 1, name: "0001_a", checksum: ms[0]!.checksum, appliedAt: new Date(0), durationMs: 0, inTransaction: true }];
    expect(checkHistory(applied, ms)).toEqual([]);
  });

  it("upToVersion: repeatables belong to the last version; order: versions, then names", async () => {
    const ms = await inline({ "0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 2;", "R__v.sql": VIEW });
    expect(upToVersion(ms, 1).map((m) => m.name)).toEqual(["0001_a"]);
    expect(upToVersion(ms, 2).map((m) => m.name)).toEqual(["0001_a", "0002_b", "R__v"]);
    expect(upToVersion(ms, undefined)).toHaveLength(3);
    const sorted = [{ id: REPEATABLE_ID, name: "R__b" }, { id: 2, name: "0002_b" }, { id: REPEATABLE_ID, name: "R__a" }].sort(compareMigrations);
    expect(sorted.map((m) => m.name)).toEqual(["0002_b", "R__a", "R__b"]);
  });

  it("the declared schema's cache key covers repeatables (an edit misses the cache)", async () => {
    const files = await scanMigrationFiles("mem", memoryReader({ "R__v.sql": VIEW, "0001_a.sql": "SELECT 1;", "notes.sql": "x" }));
    expect(files.map((f) => [f.id, f.name])).toEqual([[1, "0001_a"], [REPEATABLE_ID, "R__v"]]);
    expect(files[1]?.checksum).toBe(sha256(VIEW));
  });

  it("the MigrationSet's applied keys round-trip a repeatable, ordered after the versioned ones", () => {
    const key = appliedKey({ name: "R__v", file: "migrations/x/R__v.sql", checksum: "abc" }, "migrations/x");
    expect(key).toBe("R__v@abc");
    expect(fromAppliedKey(key, "migrations/x")).toMatchObject({ id: REPEATABLE_ID, name: "R__v", file: "migrations/x/R__v.sql" });
    const all = allMigrations({ appliedChecksums: ["R__v@abc", "0001_a@def"], migrationsDir: "migrations/x", migrations: [{ id: 2, name: "0002_b", file: "migrations/x/0002_b.sql", checksum: "x", inTransaction: true, sql: "SELECT 1" }] });
    expect(all.map((m) => m.name)).toEqual(["0001_a", "0002_b", "R__v"]);
  });

  it("the preview's description: first run, or the definition's unified diff; nothing for a versioned one", async () => {
    const [a, v1] = await inline({ "0001_a.sql": "SELECT 1;", "R__v.sql": "CREATE OR REPLACE VIEW v AS\n  SELECT 1 AS one;\n" });
    const [, v2] = await inline({ "0001_a.sql": "SELECT 1;", "R__v.sql": "CREATE OR REPLACE VIEW v AS\n  SELECT 1 AS one, 2 AS two;\n" });
    expect(describeRepeatables("db", [a!, v1!], [])).toEqual(["db: repeatable R__v will run for the first time (mem/R__v.sql)"]);
    const recorded = [{ name: "R__v", checksum: v1!.checksum, sql: v1!.sql, appliedAt: new Date("2026-01-02T03:04:05Z") }];
    const lines = describeRepeatables("db", [v2!], recorded);
    expect(lines[0]).toBe(`db: repeatable R__v will run again (sha256 ${v1!.checksum.slice(0, 12)}… → ${v2!.checksum.slice(0, 12)}…), its definition changes:`);
    expect(lines.slice(1)).toEqual([
      "  --- R__v (applied 2026-01-02T03:04:05.000Z)",
      "  +++ mem/R__v.sql",
      "  @@ -1,2 +1,2 @@",
      "   CREATE OR REPLACE VIEW v AS",
      "  -  SELECT 1 AS one;",
      "  +  SELECT 1 AS one, 2 AS two;",
    ]);
  });
});
