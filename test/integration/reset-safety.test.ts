/**
 * Reset under load: rows written while a reset runs are counted under its locks (refused, or
 * accepted), never dropped unseen; a lock pgstack may not break fails the reset in bounded time;
 * new connections are always allowed again.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { PgstackError, ResetLockTimeoutError, ResetRefusedError } from "../../infra/lifecycle/errors.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { readGeneration, resetDatabase } from "../../infra/lifecycle/reset.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { adminConnection, closeClients, connectTo, query, superuserConnection } from "../support/db.js";
import { fltrDatabase as sharedFltrDatabase, type FltrDatabase } from "../support/fixtures.js";
import { until } from "../support/until.js";

/** Writers still running are stopped (and awaited) before their clients are closed. */
const writers: Writer[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.stop()));
  await closeClients();
});
beforeAll(loadSqlParser);

/** fltr's database (test/support/fixtures.ts), adopted by the reset at generation 1. */
async function fltrDatabase(): Promise<FltrDatabase> {
  const f = await sharedFltrDatabase("rs");
  expect((await resetDatabase(f.cl, { database: f.db.database, generation: 1, schemas: f.schemas, acceptDataLoss: false })).action).toBe("adopted");
  return f;
}

/** The app role as a login the admin may NOT terminate (not its member, no pg_signal_backend). */
async function appSession(db: ConnectionOptions, app: string): Promise<pg.Client> {
  await query(db, `ALTER ROLE ${app} LOGIN PASSWORD 'app-writer-pw'; GRANT USAGE ON SCHEMA public TO ${app}; GRANT SELECT, INSERT ON datasets TO ${app}`);
  return connectTo({ ...db, user: app, password: "app-writer-pw" });
}

interface Writer {
  /** Names of the rows whose INSERT was acknowledged, in order. */
  acked: string[];
  /** The error that stopped the writer, if one did. */
  error?: unknown;
  /** Resolves when the loop has ended. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Inserts one row per statement into `datasets` until stopped, an error, 5,000 rows or 3 s. */
/** Starts a writer; by default it stops after 3 s or 5,000 rows, `limits` widens that (still bounded). */
function startWriter(cl: pg.Client, tag: string, limits: { ms: number; rows: number } = { ms: 3_000, rows: 5_000 }): Writer {
  let stopped = false;
  const w: Writer = {
    acked: [],
    done: Promise.resolve(),
    stop: async () => {
      stopped = true;
      await w.done;
    },
  };
  const deadline = Date.now() + limits.ms;
  w.done = (async () => {
    for (let i = 0; !stopped && i < limits.rows && Date.now() < deadline; i++) {
      const name = `${tag}-${i}`;
      try {
        await cl.query("INSERT INTO datasets (name, created_by) VALUES ($1, $2)", [name, tag]);
        w.acked.push(name);
      } catch (err) {
        w.error = err;
        return;
      }
    }
  })();
  writers.push(w);
  return w;
}

async function allowsConnections(database: string): Promise<boolean> {
  const rows = await query<{ datallowconn: boolean }>(adminConnection(), "SELECT datallowconn FROM pg_database WHERE datname = $1", [database]);
  expect(rows).toHaveLength(1);
  return rows[0]!.datallowconn;
}

describe("reset under load", () => {
  it("never loses an acknowledged row without acceptDataLoss: rows written after the first count are counted under the locks and refused", async () => {
    const { cl, schemas, db, app } = await fltrDatabase();
    const writerCl = await appSession(db, app);
    let writer: Writer | undefined;
    // The writer starts once the reset's first count found the table empty: the rows it writes
    // from then on can only be seen by the count taken under the locks.
    const logger = {
      info: (m: string) => {
        if (m.includes("resetting from generation")) writer = startWriter(writerCl, "app");
      },
      warn: () => undefined,
    };
    const outcome = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: false, logger }).catch((e: unknown) => e);
    expect(writer).toBeDefined();
    // Let the writer go on a little after the reset, then stop it.
    await new Promise((r) => setTimeout(r, 100));
    await writer!.stop();

    if (outcome instanceof ResetRefusedError) {
      expect(outcome.message).toMatch(/public\.datasets: \d+ row\(s\)/);
      expect(writer!.error).toBeUndefined();
      expect(writer!.acked.length).toBeGreaterThan(0);
      const rows = await query<{ name: string }>(db, "SELECT name FROM datasets WHERE created_by = 'app' ORDER BY id");
      expect(rows.map((r) => r.name)).toEqual(writer!.acked);
      expect(await readGeneration(cl)).toBe(2 - 1);
      expect(await readHistory(cl)).toHaveLength(4);
    } else {
      // The reset won the race before any row was acknowledged: it may drop only empty tables.
      expect(outcome).toMatchObject({ action: "reset" });
      expect(writer!.acked).toEqual([]);
      expect(writer!.error).toBeDefined();
    }
    expect(await allowsConnections(db.database)).toBe(true);
  });

  it("refuses when the writer ran before the reset, leaving every acknowledged row in place", async () => {
    const { cl, schemas, db, app } = await fltrDatabase();
    const writer = startWriter(await appSession(db, app), "app");
    await until(() => writer.acked.length >= 20, 10_000, "20 acknowledged writes", 10);
    const err = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: false }).catch((e: unknown) => e);
    await writer.stop();
    expect(err).toBeInstanceOf(ResetRefusedError);
    expect(writer.error).toBeUndefined();
    const rows = await query<{ name: string }>(db, "SELECT name FROM datasets WHERE created_by = 'app' ORDER BY id");
    expect(rows.map((r) => r.name)).toEqual(writer.acked);
    expect(await allowsConnections(db.database)).toBe(true);
  });

  it("with acceptDataLoss completes while writers run: ends the admin's writer, counts every acknowledged row among the dropped", async () => {
    const { cl, schemas, db, app } = await fltrDatabase();
    // One writer the admin may end (its own role), one it may not (the app): the reset takes its
    // locks between the app's statements, and the app's next INSERT fails once the table is gone.
    // Wide bounds: these writers must still be writing when the reset ends their session or
    // drops their table (a writer that finished first would prove nothing).
    const wide = { ms: 20_000, rows: 500_000 };
    const adminWriter = startWriter(await connectTo(db), "admin", wide);
    const appWriter = startWriter(await appSession(db, app), "app", wide);
    await until(() => adminWriter.acked.length >= 20 && appWriter.acked.length >= 20, 10_000, "20 acknowledged writes from each writer", 10);
    const out = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true });
    await Promise.all([adminWriter.done, appWriter.done]);

    expect(out.action).toBe("reset");
    expect(out.terminatedBackends).toBeGreaterThanOrEqual(1);
    // Terminated by the reset: 57P01 mid-query, or pg reports the dead connection if it struck between queries.
    const adminError = adminWriter.error as { code?: string; message?: string } | undefined;
    expect(`${adminError?.code}: ${adminError?.message}`).toMatch(/^57P01:|terminat|connection error/i);
    expect(appWriter.error).toBeDefined(); // its table was dropped under it
    const dropped = out.dropped.find((d) => d.table === "public.datasets");
    expect(dropped?.rows).toBeGreaterThanOrEqual(adminWriter.acked.length + appWriter.acked.length);
    expect(await readGeneration(cl)).toBe(2);
    expect(await query(db, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);
    expect(await allowsConnections(db.database)).toBe(true);
  });

  it("fails after the lock timeout, naming the session that holds a lock it may not break; nothing dropped, connections allowed again", async () => {
    const { cl, schemas, db } = await fltrDatabase();
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u'), ('b', 'u')");
    // A superuser's open transaction: the non-superuser admin can neither end it nor break its lock.
    const su = await connectTo({ ...superuserConnection(), database: db.database });
    const suPid = (await su.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    await su.query("BEGIN; LOCK TABLE datasets IN ACCESS SHARE MODE");

    const warnings: string[] = [];
    const started = Date.now();
    const err = await resetDatabase(cl, {
      database: db.database,
      generation: 2,
      schemas,
      acceptDataLoss: true,
      dropLockTimeoutMs: 1_000,
      logger: { info: () => undefined, warn: (m) => warnings.push(m) },
    }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(err).toBeInstanceOf(ResetLockTimeoutError);
    const message = (err as Error).message;
    expect(message).toContain(`database "${db.database}": the reset could not lock the managed tables within 1000 ms`);
    expect(message).toContain("nothing was dropped");
    expect(message).toContain(`pid ${suPid} (user ${superuserConnection().user}`);
    expect(message).toContain("AccessShareLock on public.datasets");
    expect(message).toContain("pg_terminate_backend");
    expect(message).not.toContain("still refused");
    expect(warnings.join("\n")).toMatch(new RegExp(`cannot end the sessions of ${superuserConnection().user} \\(pid ${suPid}\\)`));

    expect(await allowsConnections(db.database)).toBe(true);
    await su.query("ROLLBACK");
    expect(await query(db, "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 2 }]);
    expect(await readGeneration(cl)).toBe(1);
    expect(await readHistory(cl)).toHaveLength(4);
  });

  it("fails before ending sessions or dropping anything when the admin may not refuse connections to the database", async () => {
    const { cl, schemas, db } = await fltrDatabase();
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u')");
    // Hand the database to a role the admin is not a member of (managed tables stay the owner's);
    // the admin keeps CREATE on it, which pgstack's own schema needs.
    const dbo = `${db.database}_dbo`;
    await query(
      db,
      `CREATE ROLE ${dbo}; GRANT ${dbo} TO CURRENT_USER; ALTER DATABASE ${db.database} OWNER TO ${dbo};
       GRANT CREATE ON DATABASE ${db.database} TO CURRENT_USER; REVOKE ${dbo} FROM CURRENT_USER`,
    );
    const bystander = await connectTo(db);
    const err = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgstackError);
    expect((err as PgstackError).code).toBe("RESET_NOT_PERMITTED");
    expect((err as Error).message).toContain(`database "${db.database}": the reset must refuse new connections`);
    expect((err as Error).message).toContain(`owner "${dbo}"`);
    expect((err as Error).message).toContain("nothing was dropped");
    expect((await bystander.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect(await query(db, "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 1 }]);
    expect(await readGeneration(cl)).toBe(1);
    expect(await allowsConnections(db.database)).toBe(true);
  });
});
