import { beforeAll, describe, expect, it } from "vitest";
import { MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { checkHistory } from "../../infra/lifecycle/history.js";
import { identifierProblem, quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { loadMigrations, sha256 } from "../../infra/lifecycle/source.js";
import { loadSqlParser, splitStatements } from "../../infra/lifecycle/sql.js";
import { lineColumnAt, pgPositionToOffset } from "../../infra/lifecycle/text.js";
import { schemaDdl } from "../../infra/lifecycle/reset.js";
import { schemaDdlAfterMigrations } from "../../infra/lifecycle/migration-schemas.js";
import { inline, memoryReader, sourceError } from "../support/migrations.js";

beforeAll(loadSqlParser);

describe("migration source", () => {
  it("orders by version, takes sha256 checksums and reads the no-transaction directive", async () => {
    const ms = await inline({
      "0003_c.sql": "-- pgstack:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);",
      "0002_b.sql": "CREATE TABLE t (a int);",
      "0001_a.sql": "SELECT 1;",
    });
    expect(ms.map((m) => [m.id, m.name, m.inTransaction])).toEqual([
      [1, "0001_a", true],
      [2, "0002_b", true],
      [3, "0003_c", false],
    ]);
    expect(ms[1]?.checksum).toBe(sha256("CREATE TABLE t (a int);"));
    expect(ms[1]?.file).toBe("mem/0002_b.sql");
  });

  it("loads the committed migrations of both databases", async () => {
    const fltr = await loadMigrations("migrations/fltr");
    const auth = await loadMigrations("migrations/fltr_auth");
    expect(fltr.map((m) => m.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status"]);
    expect(fltr[3]?.inTransaction).toBe(false);
    expect(auth).toHaveLength(3);
  });

  it("reports a syntax error as file:line:column with a snippet, before anything runs", async () => {
    const err = await sourceError({ "0001_a.sql": "CREATE TABLE a (id int);\n\nCREATE TABEL b (id int);\n" });
    expect(err.location).toEqual({ file: "mem/0001_a.sql", line: 3, column: 8 });
    expect(err.message).toContain('mem/0001_a.sql:3:8: SQL syntax error: syntax error at or near "TABEL"');
    expect(err.message).toContain("       ^");
  });

  it("counts columns in characters when the file has multi-byte text", async () => {
    const err = await sourceError({ "0001_a.sql": "SELECT 'é€' AS x;\nSELECT FROM WHERE;" });
    expect(err.location).toEqual({ file: "mem/0001_a.sql", line: 2, column: 13 });
  });

  it("rejects bad names and duplicate versions, all at once", async () => {
    const err = await sourceError({ "0001_a.sql": "SELECT 1;", "1_a.sql": "SELECT 1;", "add_users.sql": "SELECT 1;" });
    expect(err.message).toContain("2 problems in mem");
    expect(err.message).toContain('bad migration file name "add_users.sql"');
    expect(err.message).toContain("version 1 is used twice: 0001_a.sql and 1_a.sql");
  });

  it("rejects BEGIN/COMMIT and CREATE INDEX CONCURRENTLY inside a transactional migration", async () => {
    expect((await sourceError({ "0001_a.sql": "BEGIN;\nSELECT 1;\nCOMMIT;" })).message).toContain('0001_a.sql:1:1: transaction control statement "BEGIN"');
    const c = await sourceError({ "0001_a.sql": "SELECT 1;\nCREATE INDEX CONCURRENTLY i ON t (a);" });
    expect(c.location?.line).toBe(2);
    expect(c.message).toContain("add the line `-- pgstack:no-transaction`");
  });

  it("rejects an unknown directive and an empty file", async () => {
    expect((await sourceError({ "0001_a.sql": "-- pgstack:no-transction\nSELECT 1;" })).message).toContain('unknown directive "pgstack:no-transction"');
    expect((await sourceError({ "0001_a.sql": "-- nothing here\n" })).message).toContain("has no SQL statements");
  });

  it("reports a missing folder with what to do", async () => {
    const err = await loadMigrations("migrations/nope").catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(MigrationSourceError);
    expect((err as Error).message).toContain("cannot read the migrations folder migrations/nope");
    const reader = memoryReader({});
    expect(await loadMigrations("x", reader)).toEqual([]);
  });

  it("splits statements at their own lines, skipping leading comments", () => {
    const s = splitStatements("-- a\nCREATE TABLE a (x int);\n\n/* b */\nINSERT INTO a VALUES (1)", "f.sql");
    expect(s.map((x) => [x.kind, x.sql, lineColumnAt("-- a\nCREATE TABLE a (x int);\n\n/* b */\nINSERT INTO a VALUES (1)", x.offset).line])).toEqual([
      ["CreateStmt", "CREATE TABLE a (x int)", 2],
      ["InsertStmt", "INSERT INTO a VALUES (1)", 5],
    ]);
  });

  it("parses the same text once per process, and a syntax error every time, naming each call's file", () => {
    const sql = "CREATE TABLE once (x int);\nCREATE INDEX ON once (x)";
    const first = splitStatements(sql, "a.sql");
    // The same text from another file (or another check of the same file) gets the one parse.
    expect(splitStatements(sql, "b.sql")).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    const bad = "CREATE TABEL never (x int)";
    expect(() => splitStatements(bad, "one.sql")).toThrow(/^one\.sql:1:8: SQL syntax error/);
    expect(() => splitStatements(bad, "two.sql")).toThrow(/^two\.sql:1:8: SQL syntax error/);
  });
});

describe("history check", () => {
  const m = (id: number, body = "x") => ({ id, name: `000${id}_m`, file: `f/000${id}_m.sql`, checksum: sha256(body), sql: body, inTransaction: true });
  const a = (id: number, body = "x") => ({ id, name: `000${id}_m`, checksum: sha256(body), appliedAt: new Date(0), durationMs: 1, inTransaction: true });
  it("accepts a prefix", () => expect(checkHistory([a(1), a(2)], [m(1), m(2), m(3)])).toEqual([]));
  it("names an edited file", () => expect(checkHistory([a(1, "old")], [m(1, "new")])).toEqual([expect.stringContaining("f/0001_m.sql was edited after it was applied")]));
  it("names a deleted file", () => expect(checkHistory([a(1), a(2)], [m(1)])[0]).toContain("0002_m (version 2, #2 in the history) is recorded as applied, but no migration file"));
  it("names a migration slipped in below the head", () =>
    expect(checkHistory([a(1), a(3)], [m(1), m(2), m(3)])).toEqual([expect.stringContaining("f/0002_m.sql (version 2) is not applied, but the later 0003_m")]));
});

describe("identifiers and positions", () => {
  it("validates and quotes", () => {
    expect(identifierProblem("fltr_auth")).toBeUndefined();
    expect(identifierProblem("a".repeat(63))).toBeUndefined();
    expect(identifierProblem("é".repeat(32))).toContain("64 bytes");
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });
  it("maps Postgres character positions past multi-byte text", () => {
    const text = "SELECT '😀' FROM x";
    expect(text.slice(pgPositionToOffset(text, 12))).toBe("FROM x");
  });
  it("builds schema DDL with quoted names and default privileges", () => {
    expect(schemaDdl({ name: "public", owner: "o", grants: [{ role: "app", schema: ["USAGE"], tables: ["SELECT"], sequences: [] }] })).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "public" AUTHORIZATION "o"',
      'ALTER SCHEMA "public" OWNER TO "o"',
      'GRANT USAGE ON SCHEMA "public" TO "app"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "o" IN SCHEMA "public" GRANT SELECT ON TABLES TO "app"',
    ]);
  });
  it("after the migrations that create a schema, grants also what they created in it", () => {
    const s = { name: "billing", owner: "o", grants: [{ role: "app", schema: ["USAGE"] as const, tables: ["SELECT"] as const, sequences: ["USAGE"] as const }] };
    expect(schemaDdlAfterMigrations(s)).toEqual([
      ...schemaDdl(s),
      'GRANT SELECT ON ALL TABLES IN SCHEMA "billing" TO "app"',
      'GRANT USAGE ON ALL SEQUENCES IN SCHEMA "billing" TO "app"',
    ]);
  });
});
