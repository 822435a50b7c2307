import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { HistoryMismatchError, LockTimeoutError } from "../../infra/lifecycle/errors.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { LOCK_KEY } from "../../infra/lifecycle/lock.js";
import { fromText, loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { inline } from "../support/migrations.js";

// Fake migrations that record what ran and in which transaction: two statements in one
// transaction see one txid; run outside a transaction they see two.
const recorder = (name: string) =>
  `INSERT INTO ran (name, txid) VALUES ('${name}', txid_current());\nINSERT INTO ran (name, txid) VALUES ('${name}', txid_current());`;
const base = { "0001_ran.sql": "CREATE TABLE ran (name text NOT NULL, txid bigint NOT NULL);" };

afterEach(closeClients);
beforeAll(loadSqlParser);

describe("applyMigrations on a real PostgreSQL", () => {
  it("applies the fltr_auth migrations from disk, records history, and a second apply does nothing", async () => {
    const db = await freshDatabase();
    const migrations = await loadMigrations("migrations/fltr_auth");
    const cl = await connectTo(db);
    const logs: string[] = [];
    const first = await applyMigrations(cl, migrations, { database: db.database, logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(first.error).toBeUndefined();
    expect(first.results.map((r) => r.status)).toEqual(migrations.map(() => "Success"));
    expect(logs.some((l) => l.includes("applied 0003_create_credits (3/3"))).toBe(true);

    const tables = await query<{ n: string }>(db, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'");
    expect(Number(tables[0]?.n)).toBe(9);
    const history = await readHistory(cl);
    expect(history.map((h) => [h.id, h.name, h.checksum, h.inTransaction])).toEqual(
      migrations.map((m) => [m.id, m.name, m.checksum, true]),
    );
    expect(history.every((h) => h.durationMs >= 0)).toBe(true);

    const second = await applyMigrations(cl, migrations, { database: db.database });
    expect(second.results).toEqual([]);
    expect(second.alreadyApplied).toBe(3);
    expect((await readHistory(cl)).map((h) => h.appliedAt.getTime())).toEqual(history.map((h) => h.appliedAt.getTime()));
  });

  it("runs each migration in its own transaction together with its history row", async () => {
    const db = await freshDatabase();
    const ms = await inline({ ...base, "0002_a.sql": recorder("a"), "0003_b.sql": recorder("b") });
    const cl = await connectTo(db);
    await applyMigrations(cl, ms, { database: db.database });
    const rows = await query<{ name: string; txids: number }>(db, "SELECT name, count(DISTINCT txid)::int AS txids FROM ran GROUP BY name ORDER BY name");
    expect(rows).toEqual([{ name: "a", txids: 1 }, { name: "b", txids: 1 }]);
    const distinct = await query<{ n: number }>(db, "SELECT count(DISTINCT txid)::int AS n FROM ran");
    expect(distinct[0]?.n).toBe(2);
  });

  it("runs a pgstack:no-transaction migration outside a transaction (CREATE INDEX CONCURRENTLY) and records it after", async () => {
    const db = await freshDatabase();
    const ms = await inline({
      ...base,
      "0002_nt.sql": `-- pgstack:no-transaction\n${recorder("nt")}\nCREATE INDEX CONCURRENTLY ran_name_idx ON ran (name);`,
    });
    expect(ms[1]?.inTransaction).toBe(false);
    const cl = await connectTo(db);
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error).toBeUndefined();
    const rows = await query<{ n: number }>(db, "SELECT count(DISTINCT txid)::int AS n FROM ran WHERE name = 'nt'");
    expect(rows[0]?.n).toBe(2);
    const idx = await query(db, "SELECT 1 FROM pg_indexes WHERE indexname = 'ran_name_idx'");
    expect(idx).toHaveLength(1);
    const hist = await readHistory(cl);
    expect(hist.map((h) => [h.name, h.inTransaction])).toEqual([["0001_ran", true], ["0002_nt", false]]);
  });

  it("rolls back a failing migration in the middle, keeps the earlier ones, skips the later ones and names file:line:column", async () => {
    const db = await freshDatabase();
    const ms = await inline({
      ...base,
      "0002_ok.sql": recorder("ok"),
      "0003_bad.sql": `${recorder("bad")}\n\nINSERT INTO missing_table VALUES (1);\n`,
      "0004_later.sql": recorder("later"),
    });
    const cl = await connectTo(db);
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.results.map((r) => [r.name, r.status])).toEqual([
      ["0001_ran", "Success"],
      ["0002_ok", "Success"],
      ["0003_bad", "Error"],
      ["0004_later", "NotExecuted"],
    ]);
    expect(res.error?.message).toContain("Migration 0003_bad failed: mem/0003_bad.sql:4:13:");
    expect(res.error?.message).toContain('relation "missing_table" does not exist');
    expect(res.error?.sqlState).toBe("42P01");
    const ran = await query<{ name: string }>(db, "SELECT DISTINCT name FROM ran ORDER BY name");
    expect(ran.map((r) => r.name)).toEqual(["ok"]);
    expect((await readHistory(cl)).map((h) => h.name)).toEqual(["0001_ran", "0002_ok"]);
  });

  it("locates an error Postgres gives no position for (a constraint violation) by statement", async () => {
    const db = await freshDatabase();
    const ms = await inline({
      "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY);\nINSERT INTO t VALUES (1);\n-- a duplicate:\nINSERT INTO t VALUES (1);\n",
    });
    const cl = await connectTo(db);
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error?.location).toEqual({ file: "mem/0001_t.sql", line: 4, column: 1 });
    expect(res.error?.message).toContain("duplicate key value violates unique constraint");
    expect(await query(db, "SELECT to_regclass('public.t') AS t")).toEqual([{ t: null }]);
  });

  it("points at the object Postgres names when it gives no position", async () => {
    const db = await freshDatabase();
    const ms = await inline({ "0001_t.sql": "CREATE TABLE t (\n    id int PRIMARY KEY,\n    other_id int REFERENCES missing_parent (id)\n);\n" });
    const res = await applyMigrations(await connectTo(db), ms, { database: db.database });
    expect(res.error?.location).toEqual({ file: "mem/0001_t.sql", line: 3, column: 29 });
  });

  it("refuses to run anything when an applied migration was edited, naming the file", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    await applyMigrations(cl, await inline({ ...base, "0002_a.sql": recorder("a") }), { database: db.database });
    const edited = await inline({ ...base, "0002_a.sql": recorder("a") + "\n-- edited", "0003_b.sql": recorder("b") });
    const err = await applyMigrations(cl, edited, { database: db.database }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HistoryMismatchError);
    expect((err as Error).message).toContain("mem/0002_a.sql was edited after it was applied");
    expect(await query(db, "SELECT 1 FROM ran WHERE name = 'b'")).toHaveLength(0);
  });

  it("refuses a missing or out-of-order migration, listing every mismatch", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    // A history with a hole cannot come from a folder any more (gaps are refused when loading),
    // only from an older pgstack or a hand edit: build the migrations without the folder check.
    const gapped = [
      fromText({ id: 1, name: "0001_ran", file: "mem/0001_ran.sql", sql: base["0001_ran.sql"] }),
      fromText({ id: 3, name: "0003_c", file: "mem/0003_c.sql", sql: recorder("c") }),
    ];
    expect((await applyMigrations(cl, gapped, { database: db.database })).error).toBeUndefined();
    const err = (await applyMigrations(cl, await inline({ ...base, "0002_b.sql": recorder("b") }), { database: db.database }).catch(
      (e: unknown) => e,
    )) as HistoryMismatchError;
    expect(err).toBeInstanceOf(HistoryMismatchError);
    expect(err.mismatches).toHaveLength(2);
    expect(err.mismatches.join("\n")).toContain("0003_c (version 3, #2 in the history) is recorded as applied, but no migration file has version 3");
    expect(err.mismatches.join("\n")).toContain("mem/0002_b.sql (version 2) is not applied, but the later 0003_c");
  });

  it("waits for a held lock, then fails with a message naming the holder", async () => {
    const db = await freshDatabase();
    const holder = await connectTo({ ...db, applicationName: "other-deploy" });
    await holder.query("SELECT pg_advisory_lock($1, $2)", [LOCK_KEY[0], LOCK_KEY[1]]);
    const pid = (await holder.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
    const cl = await connectTo(db);
    const started = Date.now();
    const err = await applyMigrations(cl, await inline(base), { database: db.database, lockTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockTimeoutError);
    expect((err as Error).message).toContain(`held by pid ${pid} (application "other-deploy"`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await query(db, "SELECT to_regclass('public.ran') AS t")).toEqual([{ t: null }]);
    await holder.query("SELECT pg_advisory_unlock_all()");
    const ok = await applyMigrations(cl, await inline(base), { database: db.database, lockTimeoutMs: 300 });
    expect(ok.results.map((r) => r.status)).toEqual(["Success"]);
  });

  it("two concurrent applies never apply a migration twice", async () => {
    const db = await freshDatabase();
    const ms = await inline({ ...base, "0002_slow.sql": `SELECT pg_sleep(0.3);\n${recorder("slow")}` });
    const [a, b] = [await connectTo(db), await connectTo(db)];
    const results = await Promise.all([applyMigrations(a, ms, { database: db.database }), applyMigrations(b, ms, { database: db.database })]);
    const applied = results.flatMap((r) => r.results.filter((x) => x.status === "Success").map((x) => x.name));
    expect(applied.sort()).toEqual(["0001_ran", "0002_slow"]);
    expect(await query(db, "SELECT 1 FROM ran")).toHaveLength(2);
  });

  it("runs migrations as the owner role, so the tables belong to it", async () => {
    const db = await freshDatabase();
    const role = `owner_${db.database}`;
    await query(db, `CREATE ROLE ${role}; GRANT ${role} TO CURRENT_USER; GRANT CREATE ON SCHEMA public TO ${role}`);
    const cl = await connectTo(db);
    await applyMigrations(cl, await inline(base), { database: db.database, role });
    expect(await query(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'ran'")).toEqual([{ tableowner: role }]);
    expect((await readHistory(cl)).length).toBe(1);
  });
});
