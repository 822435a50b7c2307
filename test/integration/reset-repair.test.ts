/**
 * Repair after an interrupted reset, for real: a reset process is killed (SIGKILL) after it has
 * refused new connections to the database, while it waits for a lock. The next run refuses to
 * re-open the database while that reset's session still holds pgstack's lock, and re-opens it,
 * saying so in one line, once no reset holds it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { PgstackError, isClosedDatabaseError, reopenAfterInterruptedReset, resetDatabase } from "../../infra/lifecycle/index.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeIdleConnections, setLogger, withConnection } from "../../infra/providers/common.js";
import { adminConnection, closeClients, connectTo, query, superuserConnection } from "../support/db.js";
import { fltrDatabase } from "../support/fixtures.js";
import { until } from "../support/until.js";

const CHILD = path.resolve(__dirname, "../support/reset-child.ts");
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  await closeIdleConnections();
  await closeClients();
});
beforeAll(loadSqlParser);

async function allowsConnections(database: string): Promise<boolean> {
  const rows = await query<{ a: boolean }>(adminConnection(), "SELECT datallowconn AS a FROM pg_database WHERE datname = $1", [database]);
  return rows[0]!.a;
}

describe("a database an interrupted reset left refusing connections", () => {
  it("is re-opened by the next run once no reset holds its lock, in one line; not while one does", async () => {
    const f = await fltrDatabase("rr");
    await resetDatabase(f.cl, { database: f.db.database, generation: 1, schemas: f.schemas, acceptDataLoss: false });
    await f.cl.end();
    // A superuser's open transaction holds a lock the reset must wait for (it may not end it).
    const su = await connectTo({ ...superuserConnection(), database: f.db.database });
    await su.query("BEGIN; LOCK TABLE datasets IN ACCESS SHARE MODE");

    const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
      cwd: path.resolve(__dirname, "../.."),
      env: {
        ...process.env,
        PGSTACK_CHILD_CONNECTION: JSON.stringify(f.db),
        PGSTACK_CHILD_RESET: JSON.stringify({ database: f.db.database, generation: 2, schemas: f.schemas, acceptDataLoss: true, dropLockTimeoutMs: 60_000 }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let out = "";
    child.stdout!.on("data", (b: Buffer) => (out += b.toString()));
    await until(() => out.includes("new connections refused until the reset ends"), 30_000, `the reset closing the database (output: ${out})`);
    // Now it waits for the superuser's lock: kill it there, as a crash or a cancelled CI job would.
    const waiting = "SELECT count(*)::int AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted AND a.application_name LIKE 'reset-child%'";
    await until(async () => (await query<{ n: number }>(superuserConnection(), waiting))[0]!.n > 0, 30_000, "the reset to wait for the superuser's lock");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(await allowsConnections(f.db.database)).toBe(false);

    // The next run cannot connect: the database refuses connections.
    const lines: string[] = [];
    setLogger({ info: (m) => lines.push(m), warn: (m) => lines.push(m) });
    // The killed reset's server session still waits on the lock, holding pgstack's lock: no re-open.
    const running = await withConnection(f.db, (c) => c.query("SELECT 1")).catch((e: unknown) => e);
    expect(running).toBeInstanceOf(PgstackError);
    expect((running as PgstackError).code).toBe("RESET_RUNNING");
    expect((running as Error).message).toMatch(new RegExp(`database "${f.db.database}" refuses new connections because a reset is running \\(pid \\d+ holds pgstack's lock on it\\)`));
    expect(await allowsConnections(f.db.database)).toBe(false);

    // The lock goes; the orphaned session gets it, finds its client gone, and ends.
    await su.query("ROLLBACK");
    await until(
      async () => (await query(superuserConnection(), "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'reset-child%'", [f.db.database]))[0]!.n === 0,
      30_000,
      "the killed reset's session to end",
    );
    const direct = await connectTo(f.db).catch((e: unknown) => e);
    expect(isClosedDatabaseError(direct)).toBe(true);

    const rows = await withConnection(f.db, async (c) => (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM pgstack.migrations")).rows);
    expect(rows).toEqual([{ n: 4 }]); // nothing was dropped: the killed reset's transaction rolled back
    expect(lines.filter((l) => l.includes("re-opened"))).toEqual([
      `${f.db.database}: re-opened to new connections: an interrupted reset had left it refusing them (no reset holds its lock)`,
    ]);
    expect(await allowsConnections(f.db.database)).toBe(true);
    // Nothing left to repair: a second call does nothing.
    expect(await reopenAfterInterruptedReset(f.db, { info: () => undefined, warn: () => undefined })).toBe(false);
  });
});
