/**
 * History versions as bigint, on a real PostgreSQL: a 14-digit timestamp version applies and is
 * recorded exactly; a history table written by an older pgstack (`id integer`, no `baselined`)
 * is upgraded in place under the advisory lock, once; a version beyond what the history can hold
 * is refused when the files load, before anything runs.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { ensureHistory, readHistory, upgradeHistory } from "../../infra/lifecycle/history.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { inline } from "../support/migrations.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

/** pgstack.migrations exactly as pgstack before this change created it. */
const OLD_HISTORY = `
  CREATE SCHEMA pgstack;
  CREATE TABLE pgstack.migrations (
    id             integer PRIMARY KEY,
    name           text NOT NULL,
    checksum       text NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    duration_ms    double precision NOT NULL,
    in_transaction boolean NOT NULL
  );
  CREATE TABLE pgstack.meta (key text PRIMARY KEY, value text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());`;

const columnsOf = (db: Parameters<typeof query>[0]) =>
  query<{ c: string }>(db, "SELECT attname || ' ' || format_type(atttypid, atttypmod) AS c FROM pg_attribute WHERE attrelid = 'pgstack.migrations'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum");

describe("history versions as bigint", () => {
  it("a 14-digit timestamp version applies and is recorded exactly", async () => {
    const db = await freshDatabase("big");
    const cl = await connectTo(db);
    const ms = await inline({ "0001_create_t.sql": "CREATE TABLE t (id int);", "20240101120000_add_x.sql": "ALTER TABLE t ADD COLUMN x text;", "20240102090000_add_y.sql": "ALTER TABLE t ADD COLUMN y text;" });
    expect(ms.map((m) => m.id)).toEqual([1, 20240101120000, 20240102090000]);
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error).toBeUndefined();
    expect(res.results.map((r) => r.status)).toEqual(["Success", "Success", "Success"]);
    expect(await query(db, "SELECT id::text AS id, name FROM pgstack.migrations ORDER BY id")).toEqual([
      { id: "1", name: "0001_create_t" },
      { id: "20240101120000", name: "20240101120000_add_x" },
      { id: "20240102090000", name: "20240102090000_add_y" },
    ]);
    expect((await readHistory(cl)).map((h) => h.id)).toEqual([1, 20240101120000, 20240102090000]);
    expect((await columnsOf(db))[0]).toEqual({ c: "id bigint" });
    // The history check compares numbers exactly: a second apply is a no-op.
    expect((await applyMigrations(cl, ms, { database: db.database })).results).toEqual([]);
  });

  it("an integer history table from an older pgstack is upgraded in place, once, and keeps its rows", async () => {
    const db = await freshDatabase("big");
    const ms = await inline({ "0001_create_t.sql": "CREATE TABLE t (id int);", "20240101120000_add_x.sql": "ALTER TABLE t ADD COLUMN x text;" });
    await query(db, `${OLD_HISTORY}
      CREATE TABLE t (id int);
      INSERT INTO pgstack.migrations VALUES (1, '0001_create_t', '${ms[0]?.checksum}', '2026-01-01T00:00:00Z', 3.5, true);`);
    expect((await columnsOf(db)).map((r) => r.c)).toContain("id integer");

    const cl = await connectTo(db);
    const res = await applyMigrations(cl, ms, { database: db.database });
    expect(res.error).toBeUndefined();
    expect([res.alreadyApplied, res.results.map((r) => r.name)]).toEqual([1, ["20240101120000_add_x"]]);
    expect((await columnsOf(db)).map((r) => r.c)).toEqual([
      "id bigint",
      "name text",
      "checksum text",
      "applied_at timestamp with time zone",
      "duration_ms double precision",
      "in_transaction boolean",
      "baselined boolean",
    ]);
    const history = await readHistory(cl);
    expect(history.map((h) => [h.id, h.name, h.durationMs, h.baselined])).toEqual([
      [1, "0001_create_t", 3.5, false],
      [20240101120000, "20240101120000_add_x", expect.any(Number), false],
    ]);
    // Idempotent: a current table is left alone (no DDL, so no lock taken).
    expect(await upgradeHistory(cl)).toEqual([]);
    await ensureHistory(cl);
    expect((await columnsOf(db))[0]).toEqual({ c: "id bigint" });
  });

  it("an old history table is read as it is before the upgrade (refresh takes no lock, so it does not upgrade)", async () => {
    const db = await freshDatabase("big");
    await query(db, `${OLD_HISTORY} INSERT INTO pgstack.migrations VALUES (1, '0001_a', 'abc', now(), 1, true);`);
    const cl = await connectTo(db);
    expect((await readHistory(cl)).map((h) => [h.id, h.name, h.baselined])).toEqual([[1, "0001_a", false]]);
    expect((await columnsOf(db))[0]).toEqual({ c: "id integer" });
  });

  it("a version beyond what the history can hold is refused when the files load, before anything runs", async () => {
    const db = await freshDatabase("big");
    const err = await inline({ "0001_create_t.sql": "CREATE TABLE t (id int);", "9007199254740993_too_big.sql": "SELECT 1;" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationSourceError);
    expect((err as Error).message).toBe(
      "mem/9007199254740993_too_big.sql:1:1: version 9007199254740993 is too large: pgstack records versions up to 9007199254740991 (2^53 − 1)\n" +
        "  → number migrations 0001, 0002, 0003, … or by timestamp (YYYYMMDDhhmmss, 14 digits)",
    );
    // Nothing could run: the database is as it was created.
    expect(await query(db, "SELECT to_regclass('pgstack.migrations') AS h, to_regclass('public.t') AS t")).toEqual([{ h: null, t: null }]);
  });
});
