/**
 * Crashes and concurrency with real processes: an applying process killed with SIGKILL at 20
 * points of a 200-migration apply (one of them inside a no-transaction migration), and four
 * processes applying the same 50 migrations at once, as four checkouts with separate Pulumi state
 * would. Bounded in count and time; everything talks to the harness's server on 127.0.0.1.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect, introspect, type ConnectionOptions } from "../../infra/lifecycle/index.js";
import { freshDatabase, query } from "../support/db.js";

const CHILD = path.resolve(__dirname, "../support/apply-child.ts");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Writes `count` migrations: the first creates the ledger, each records its number in it. */
function writeMigrations(count: number, special: Record<number, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-crash-"));
  dirs.push(dir);
  for (let n = 1; n <= count; n++) {
    const name = `${String(n).padStart(4, "0")}_step_${n}.sql`;
    const body =
      special[n] ??
      (n === 1
        ? "CREATE TABLE ledger (n int NOT NULL, pid int NOT NULL DEFAULT pg_backend_pid());\nINSERT INTO ledger (n) VALUES (1);\n"
        : `CREATE TABLE t_${n} (id int PRIMARY KEY, note text);\nINSERT INTO ledger (n) VALUES (${n});\n`);
    fs.writeFileSync(path.join(dir, name), body);
  }
  return dir;
}

interface ChildOutcome {
  killed: boolean;
  progress: number;
  result?: { applied: number; error: { code: string; message: string } | null };
}

/** Runs the applying process; kills it with SIGKILL once it reports `killAt` applied migrations (plus `delayMs`). */
function runChild(dir: string, conn: ConnectionOptions, kill?: { at: number; delayMs?: number }): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir], {
      cwd: path.resolve(__dirname, "../.."),
      env: { ...process.env, PGSTACK_CHILD_CONNECTION: JSON.stringify(conn) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let progress = 0;
    let killed = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000); // bounded, whatever happens
    child.stdout.on("data", (b: Buffer) => {
      out += b.toString();
      progress = (out.match(/^progress \d+$/gm) ?? []).length;
      if (kill && !killed && progress >= kill.at) {
        killed = true;
        setTimeout(() => child.kill("SIGKILL"), kill.delayMs ?? 0);
      }
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").at(-1) ?? "";
      resolve({ killed: signal === "SIGKILL", progress, ...(last.startsWith("{") ? { result: JSON.parse(last) } : {}) });
    });
  });
}

describe("crash: SIGKILL at 20 points of a 200-migration apply", () => {
  it("after each kill a rerun completes: the history equals the files, each migration ran once, the schema equals an uninterrupted apply", async () => {
    const NT = 120; // a no-transaction migration: one kill lands between its statements
    const dir = writeMigrations(200, {
      [NT]: "-- pgstack:no-transaction\nINSERT INTO ledger (n) VALUES (120);\nSELECT pg_sleep(1.5);\nCREATE TABLE t_120 (id int PRIMARY KEY, note text);\n",
    });
    const files = fs.readdirSync(dir).sort().map((f) => f.replace(/\.sql$/, ""));
    const clean = await freshDatabase("clean");
    expect((await runChild(dir, clean)).result?.error).toBeNull();
    const declared = await fingerprint(clean);

    // 20 kill points spread over the apply; the one at NT - 1 waits until the child sleeps inside NT.
    const points = Array.from({ length: 20 }, (_, i) => (i === 11 ? NT - 1 : 5 + i * 10));
    let landed = 0;
    let interrupted = 0;
    for (const at of points) {
      const db = await freshDatabase("crash");
      const inside = at === NT - 1;
      const killedRun = await runChild(dir, db, { at, delayMs: inside ? 700 : 0 });
      // A fast machine can finish the last few migrations before the kill arrives: then the
      // run must have completed cleanly, and the kill counts as not landed (bounded below).
      if (!killedRun.killed) expect(killedRun.result?.error).toBeNull();
      if (killedRun.killed && (await appliedCount(db)) < 200) landed++;
      let rerun = await runChild(dir, db);
      // The kill aimed inside the no-transaction migration must land there; on a loaded machine a
      // kill aimed a few migrations earlier can land there too (the child runs on while the
      // parent reads its output), which is the same outcome and is handled the same way.
      if (inside) expect(rerun.result?.error?.code).toBe("MIGRATION_INTERRUPTED");
      if (rerun.result?.error?.code === "MIGRATION_INTERRUPTED") {
        // The rerun refuses to run the half-done migration again, and says what to do.
        expect(rerun.result?.error?.message).toContain(`${String(NT).padStart(4, "0")}_step_${NT}`);
        expect(rerun.result?.error?.message).toContain("was interrupted while running outside a transaction");
        interrupted++;
        // Doing what it says: undo the statements that ran, then clear the record with the SQL it gives.
        await query(db, `DELETE FROM ledger WHERE n = ${NT}; DROP TABLE IF EXISTS t_${NT}`);
        const sql = /`((?:DELETE|UPDATE)[^`]+)`/.exec(rerun.result?.error?.message ?? "")?.[1];
        expect(sql).toBeTruthy();
        await query(db, sql!);
        rerun = await runChild(dir, db);
      }
      expect(rerun.result?.error).toBeNull();
      const history = await query<{ name: string }>(db, "SELECT name FROM pgstack.migrations ORDER BY id");
      expect(history.map((h) => h.name)).toEqual(files);
      expect(await query(db, "SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct_n FROM ledger")).toEqual([{ rows: 200, distinct_n: 200 }]);
      expect(await fingerprint(db)).toBe(declared);
    }
    // Printed for the record: how many kills landed while migrations were still pending.
    console.log(`[crash] ${landed}/20 SIGKILLs landed mid-apply (${interrupted} inside a no-transaction migration); 20/20 reruns completed`);
    expect(landed).toBeGreaterThanOrEqual(15);
    expect(interrupted).toBeGreaterThanOrEqual(1);
  }, 300_000);
});

describe("concurrency: four processes apply the same 50 migrations at once", () => {
  it("each migration is applied exactly once; the others wait for the lock and find nothing left", async () => {
    const dir = writeMigrations(50);
    const db = await freshDatabase("conc");
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => runChild(dir, db)));
    for (const o of outcomes) expect(o.result?.error).toBeNull();
    expect(outcomes.reduce((n, o) => n + (o.result?.applied ?? 0), 0)).toBe(50);
    expect(await query(db, "SELECT count(*)::int AS rows, count(DISTINCT n)::int AS distinct_n FROM ledger")).toEqual([{ rows: 50, distinct_n: 50 }]);
    expect(await query(db, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 50 }]);
  }, 120_000);
});

async function appliedCount(db: ConnectionOptions): Promise<number> {
  // Two queries: a reference to a missing table fails at planning time, even inside a CASE.
  const [exists] = await query<{ t: string | null }>(db, "SELECT to_regclass('pgstack.migrations')::text AS t");
  if (!exists?.t) return 0;
  return (await query<{ n: number }>(db, "SELECT count(*)::int AS n FROM pgstack.migrations"))[0]?.n ?? 0;
}

async function fingerprint(db: ConnectionOptions): Promise<string> {
  const client = await connect(db);
  try {
    return (await introspect(client, { schemas: ["public"] })).fingerprint;
  } finally {
    await client.end();
  }
}
