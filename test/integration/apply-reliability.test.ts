/**
 * Reliability of applyMigrations: errors are located without re-running anything, cleanup
 * never masks the real error, per-migration session settings, and no-transaction migrations
 * that were interrupted are refused with instructions instead of being re-run.
 */
import type pg from "pg";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { MigrationInterruptedError, PgstackError } from "../../infra/lifecycle/errors.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { LOCK_KEY } from "../../infra/lifecycle/lock.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { inline } from "../support/migrations.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

const base = { "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY, note text);\nCREATE SEQUENCE s;" };

/** The backend pid of a client, to watch or terminate it from another session. */
async function pidOf(cl: pg.Client): Promise<number> {
  const pid = (await cl.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid;
  if (pid === undefined) throw new Error("no pid");
  return pid;
}

/** Waits until `pid` is running a query containing `needle` (or waiting in it). */
async function waitUntilRunning(watcher: pg.Client, pid: number, needle: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await watcher.query<{ query: string }>("SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid]);
    if (rows[0]?.query.includes(needle)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`pid ${pid} never ran ${needle}`);
}

async function markers(db: Parameters<typeof query>[0]): Promise<{ key: string; value: string }[]> {
  return query(db, "SELECT key, value FROM pgstack.meta WHERE key LIKE 'running:%' ORDER BY key");
}

describe("locating errors without re-running the migration", () => {
  it("finds a unique violation's statement by counting completed statements, runs nothing twice, and keeps the server's error", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const conn = (cl as unknown as { connection: { listenerCount(e: string): number } }).connection;
    const listeners = conn.listenerCount("commandComplete");
    // nextval is not transactional: a replay of this migration would advance the sequence twice.
    const ms = await inline({ ...base, "0002_dup.sql": "SELECT nextval('s');\nINSERT INTO t VALUES (1);\n\n  INSERT INTO t VALUES (1);\n" });
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error?.location).toEqual({ file: "mem/0002_dup.sql", line: 4, column: 3 });
    expect(res.error?.sqlState).toBe("23505");
    expect(res.error?.message).toContain("DETAIL: Key (id)=(1) already exists.");
    const cause = res.error?.cause as { code?: string; constraint?: string; detail?: string; message?: string };
    expect(cause.code).toBe("23505");
    expect(cause.constraint).toBe("t_pkey");
    expect(cause.detail).toBe("Key (id)=(1) already exists.");
    expect(cause.message).toBe('duplicate key value violates unique constraint "t_pkey"');
    expect(await query(db, "SELECT last_value::int AS v FROM s")).toEqual([{ v: 1 }]);
    expect(conn.listenerCount("commandComplete")).toBe(listeners);
    expect((await readHistory(cl)).map((h) => h.name)).toEqual(["0001_t"]);
  });

  it("counts right past row-returning statements, the owner role and session settings (an FK violation)", async () => {
    const db = await freshDatabase();
    const role = `owner_${db.database}`;
    await query(db, `CREATE ROLE ${role}; GRANT ${role} TO CURRENT_USER; GRANT CREATE ON SCHEMA public TO ${role}`);
    const ms = await inline({
      "0001_fk.sql": [
        "CREATE TABLE parent (id int PRIMARY KEY);",
        "CREATE TABLE child (id int, parent_id int REFERENCES parent (id));",
        "SELECT g FROM generate_series(1, 3) g;",
        "INSERT INTO parent VALUES (1);",
        "INSERT INTO child VALUES (1, 1);",
        "INSERT INTO child VALUES (2, 999);",
        "INSERT INTO child VALUES (3, 1);",
      ].join("\n"),
    });
    const res = await applyMigrations(await connectTo(db), ms, {
      database: db.database,
      role,
      session: { lockTimeout: "5s", statementTimeout: "1min" },
    });
    expect(res.error?.sqlState).toBe("23503");
    // Line 6; column 13 is `child`, the table the error names.
    expect(res.error?.location).toEqual({ file: "mem/0001_fk.sql", line: 6, column: 13 });
    expect(res.error?.message).toContain("mem/0001_fk.sql:6:13:");
    expect(await query(db, "SELECT to_regclass('public.parent') AS t")).toEqual([{ t: null }]);
  });

  it("says an error raised at COMMIT (a deferred constraint) comes after every statement ran", async () => {
    const db = await freshDatabase();
    const ms = await inline({
      "0001_deferred.sql":
        "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (pid int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO c VALUES (1);\n",
    });
    const res = await applyMigrations(await connectTo(db), ms, { database: db.database });
    expect(res.error?.sqlState).toBe("23503");
    expect(res.error?.location).toBeUndefined();
    expect(res.error?.message).toContain("at COMMIT (a deferred constraint or a commit-time trigger), after every statement of the migration had run");
    expect(await query(db, "SELECT to_regclass('public.p') AS t")).toEqual([{ t: null }]);
  });

  it("names the setting pgstack added when that fails, not a line of the file", async () => {
    const db = await freshDatabase();
    const res = await applyMigrations(await connectTo(db), await inline(base), { database: db.database, session: { lockTimeout: "soon" } });
    expect(res.error?.sqlState).toBe("22023");
    expect(res.error?.location).toBeUndefined();
    expect(res.error?.message).toContain("in `SET LOCAL lock_timeout = 'soon'`, before the migration's first statement");
  });
});

describe("cleanup never masks the real error", () => {
  it("keeps the error of a session terminated while it waits for the advisory lock (not the failed RESET's)", async () => {
    const db = await freshDatabase();
    const holder = await connectTo(db);
    await holder.query("SELECT pg_advisory_lock($1, $2)", [LOCK_KEY[0], LOCK_KEY[1]]);
    const cl = await connectTo(db);
    const pid = await pidOf(cl);
    const pending = applyMigrations(cl, await inline(base), { database: db.database, lockTimeoutMs: 30_000 }).catch((e: unknown) => e);
    await waitUntilRunning(holder, pid, "pg_advisory_lock");
    await holder.query("SELECT pg_terminate_backend($1)", [pid]);
    const err = (await pending) as { code?: string; message?: string };
    expect(err.code).toBe("57P01");
    expect(err.message).toContain("terminating connection due to administrator command");
  });

  it("keeps the error of a transactional migration whose session is terminated mid-statement (not the failed ROLLBACK's)", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const watcher = await connectTo(db);
    const pid = await pidOf(cl);
    const pending = applyMigrations(cl, await inline({ ...base, "0002_slow.sql": "INSERT INTO t VALUES (1);\nSELECT pg_sleep(30);\n" }), {
      database: db.database,
    });
    await waitUntilRunning(watcher, pid, "pg_sleep(30)");
    await watcher.query("SELECT pg_terminate_backend($1)", [pid]);
    const res = await pending;
    expect(res.error?.sqlState).toBe("57P01");
    expect(res.error?.location).toEqual({ file: "mem/0002_slow.sql", line: 2, column: 1 });
    expect((await readHistory(watcher)).map((h) => h.name)).toEqual(["0001_t"]);
    expect(await query(db, "SELECT count(*)::int AS n FROM t")).toEqual([{ n: 0 }]);
  });
});

describe("session settings per migration", () => {
  it("fails a migration that waits on another session's lock after lockTimeout, naming the file, and leaves the history as it was", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    await applyMigrations(cl, await inline(base), { database: db.database });
    const holder = await connectTo(db);
    await holder.query("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
    const started = Date.now();
    const ms = await inline({ ...base, "0002_alter.sql": "ALTER TABLE t ADD COLUMN extra int;\n" });
    const res = await applyMigrations(cl, ms, { database: db.database, session: { lockTimeout: "200ms" } });
    // Without the setting this waits for ever (the server default lock_timeout is 0).
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(res.error?.sqlState).toBe("55P03");
    expect(res.error?.message).toContain("Migration 0002_alter failed: mem/0002_alter.sql:1:1:");
    expect(res.error?.message).toContain("lock timeout");
    expect(res.error?.message).toContain("longer than lock_timeout (200ms)");
    expect((await readHistory(cl)).map((h) => h.name)).toEqual(["0001_t"]);
    await holder.query("ROLLBACK");
    expect(await query(db, "SELECT 1 FROM information_schema.columns WHERE table_name = 't' AND column_name = 'extra'")).toEqual([]);
  });

  it("cancels a statement that runs longer than statementTimeout", async () => {
    const db = await freshDatabase();
    const started = Date.now();
    const ms = await inline({ ...base, "0002_sleep.sql": "SELECT pg_sleep(2);\n" });
    const res = await applyMigrations(await connectTo(db), ms, { database: db.database, session: { statementTimeout: "300ms" } });
    expect(Date.now() - started).toBeLessThan(1_800);
    expect(res.error?.sqlState).toBe("57014");
    expect(res.error?.message).toContain("mem/0002_sleep.sql:1:1: canceling statement due to statement timeout");
    expect(res.error?.message).toContain("longer than statement_timeout (300ms)");
    expect(res.results.map((r) => r.status)).toEqual(["Success", "Error"]);
  });

  it("sets them inside each migration (LOCAL in a transaction, SET/RESET around a no-transaction one) and leaves the session as it was", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const seen = (tag: string) =>
      `INSERT INTO seen VALUES ('${tag}', current_setting('lock_timeout'), current_setting('statement_timeout'), txid_current());`;
    const ms = await inline({
      "0001_seen.sql": `CREATE TABLE seen (tag text, lt text, st text, tx bigint);\n${seen("tx")}`,
      "0002_nt.sql": `-- pgstack:no-transaction\n${seen("nt1")}\n${seen("nt2")}`,
    });
    const res = await applyMigrations(cl, ms, { database: db.database, session: { lockTimeout: "2s", statementTimeout: "3min" } });
    expect(res.error).toBeUndefined();
    const rows = await query<{ tag: string; lt: string; st: string }>(db, "SELECT tag, lt, st FROM seen ORDER BY tag");
    expect(rows).toEqual([
      { tag: "nt1", lt: "2s", st: "3min" },
      { tag: "nt2", lt: "2s", st: "3min" },
      { tag: "tx", lt: "2s", st: "3min" },
    ]);
    const after = await cl.query<{ lt: string; st: string }>("SELECT current_setting('lock_timeout') AS lt, current_setting('statement_timeout') AS st");
    expect(after.rows).toEqual([{ lt: "0", st: "0" }]);
    expect(await markers(db)).toEqual([]);
  });
});

describe("interrupted no-transaction migrations", () => {
  const nt = (...statements: string[]) => `-- pgstack:no-transaction\n${statements.join("\n")}\n`;

  it("refuses to run anything while a marker is left for a migration not in the history, and runs after the printed SQL", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    await applyMigrations(cl, await inline(base), { database: db.database });
    await query(db, "INSERT INTO pgstack.meta (key, value) VALUES ('running:2', 'left by hand')");
    const ms = await inline({
      ...base,
      "0002_idx.sql": nt("CREATE INDEX CONCURRENTLY t_note_idx ON t (note);"),
      "0003_more.sql": "INSERT INTO t VALUES (3);",
    });
    const err = (await applyMigrations(cl, ms, { database: db.database }).catch((e: unknown) => e)) as MigrationInterruptedError;
    expect(err).toBeInstanceOf(PgstackError);
    expect(err).toBeInstanceOf(MigrationInterruptedError);
    expect(err.code).toBe("MIGRATION_INTERRUPTED");
    expect(err.message).toContain("migration mem/0002_idx.sql (0002_idx) was interrupted while running outside a transaction");
    expect(err.message).toContain("it is unknown how far it got: any of its 1 statements may have run");
    expect(err.message).toContain("DELETE FROM pgstack.meta WHERE key = 'running:2';");
    expect(err.clearSql).toBe("DELETE FROM pgstack.meta WHERE key = 'running:2';");
    expect(await query(db, "SELECT 1 FROM pg_indexes WHERE indexname = 't_note_idx'")).toEqual([]);
    expect(await query(db, "SELECT 1 FROM t")).toEqual([]);

    await query(db, err.clearSql);
    const ok = await applyMigrations(cl, ms, { database: db.database });
    expect(ok.results.map((r) => r.status)).toEqual(["Success", "Success"]);
    expect(await markers(db)).toEqual([]);
  });

  it("keeps the marker when a later statement fails after earlier ones ran; the next apply refuses and says what ran", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const ms = await inline({
      ...base,
      "0002_two.sql": nt("INSERT INTO t VALUES (1);", "INSERT INTO t VALUES (1);", "INSERT INTO t VALUES (2);"),
    });
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error?.sqlState).toBe("23505");
    expect(res.error?.location).toEqual({ file: "mem/0002_two.sql", line: 3, column: 1 });
    expect(res.error?.message).toContain("its first 1 statement(s) stayed applied");
    expect(res.error?.message).toContain("DELETE FROM pgstack.meta WHERE key = 'running:2';");
    expect((await markers(db)).map((m) => m.key)).toEqual(["running:2"]);
    expect(await query(db, "SELECT id FROM t")).toEqual([{ id: 1 }]);

    const err = (await applyMigrations(cl, ms, { database: db.database }).catch((e: unknown) => e)) as PgstackError;
    expect(err.code).toBe("MIGRATION_INTERRUPTED");
    expect(err.message).toContain("statement 1 (mem/0002_two.sql:2:1) of 3 completed");
    expect(err.message).toContain('statement 2 (mem/0002_two.sql:3:1) failed: duplicate key value violates unique constraint "t_pkey"');
    expect(err.message).toContain("statement 3 (mem/0002_two.sql:4:1) did not run");
    // Nothing ran the second time.
    expect(await query(db, "SELECT id FROM t")).toEqual([{ id: 1 }]);
  });

  it("keeps the marker when the process dies between statements; the next apply says which statement may have run", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const watcher = await connectTo(db);
    const pid = await pidOf(cl);
    const ms = await inline({ ...base, "0002_slow.sql": nt("INSERT INTO t VALUES (1);", "SELECT pg_sleep(30);", "INSERT INTO t VALUES (2);") });
    const pending = applyMigrations(cl, ms, { database: db.database, session: { lockTimeout: "1s" } });
    await waitUntilRunning(watcher, pid, "pg_sleep(30)");
    await watcher.query("SELECT pg_terminate_backend($1)", [pid]);
    const res = await pending;
    expect(res.error?.sqlState).toBe("57P01");
    expect(res.error?.location).toEqual({ file: "mem/0002_slow.sql", line: 3, column: 1 });

    const again = await connectTo(db);
    const err = (await applyMigrations(again, ms, { database: db.database }).catch((e: unknown) => e)) as PgstackError;
    expect(err.code).toBe("MIGRATION_INTERRUPTED");
    expect(err.message).toContain("statement 1 (mem/0002_slow.sql:2:1) of 3 completed");
    expect(err.message).toContain("statement 2 (mem/0002_slow.sql:3:1) may have run, completely or in part");
    expect(err.message).toContain("statement 3 (mem/0002_slow.sql:4:1) did not run");
    expect(await query(db, "SELECT id FROM t")).toEqual([{ id: 1 }]);
    expect((await readHistory(again)).map((h) => h.name)).toEqual(["0001_t"]);
  });

  it("clears the marker when the first statement fails and cannot have changed anything", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const bad = await inline({ ...base, "0002_nt.sql": nt("INSERT INTO missing VALUES (1);", "INSERT INTO t VALUES (1);") });
    const res = await applyMigrations(cl, bad, { database: db.database });
    expect(res.error?.sqlState).toBe("42P01");
    expect(res.error?.message).toContain("its first statement failed and changed nothing");
    expect(await markers(db)).toEqual([]);
    const fixed = await inline({ ...base, "0002_nt.sql": nt("INSERT INTO t VALUES (0);", "INSERT INTO t VALUES (1);") });
    const ok = await applyMigrations(cl, fixed, { database: db.database });
    expect(ok.error).toBeUndefined();
    expect(await query(db, "SELECT count(*)::int AS n FROM t")).toEqual([{ n: 2 }]);
  });

  it("cleans up after a no-transaction file whose own transaction failed: settings reset, the failure noted in the marker", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    const ms = await inline({ ...base, "0002_own_tx.sql": nt("BEGIN;", "INSERT INTO t VALUES (1);", "INSERT INTO t VALUES (1);", "COMMIT;") });
    const res = await applyMigrations(cl, ms, { database: db.database, session: { lockTimeout: "3s" } });
    expect(res.error?.location).toEqual({ file: "mem/0002_own_tx.sql", line: 4, column: 1 });
    expect((await cl.query("SELECT current_setting('lock_timeout') AS lt")).rows).toEqual([{ lt: "0" }]);
    const left = await markers(db);
    expect(left.map((m) => m.key)).toEqual(["running:2"]);
    expect(JSON.parse(left[0]?.value ?? "{}")).toMatchObject({ completed: 2, failed: { statement: 3 } });
  });

  it("keeps the marker when a failed first statement is CONCURRENTLY (it leaves an INVALID index)", async () => {
    const db = await freshDatabase();
    const cl = await connectTo(db);
    await applyMigrations(cl, await inline(base), { database: db.database });
    await query(db, "INSERT INTO t VALUES (1, 'a'), (2, 'a')");
    const ms = await inline({ ...base, "0002_uniq.sql": nt("CREATE UNIQUE INDEX CONCURRENTLY t_note_key ON t (note);") });
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error?.sqlState).toBe("23505");
    expect(await query(db, "SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = 't_note_key'::regclass")).toEqual([{ valid: false }]);
    expect((await markers(db)).map((m) => m.key)).toEqual(["running:2"]);
    const err = (await applyMigrations(cl, ms, { database: db.database }).catch((e: unknown) => e)) as PgstackError;
    expect(err.code).toBe("MIGRATION_INTERRUPTED");
  });
});
