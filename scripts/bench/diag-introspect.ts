// TEMPORARY diagnostic (deleted after use)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { connect } from "../../infra/lifecycle/connection.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { startTestServer } from "../../test/support/postgres.js";
import { writeMigrations } from "../bench.js";

async function main() {
  const server = await startTestServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-diag-"));
  try {
    const admin = await connect(server.admin);
    await admin.query("CREATE DATABASE d");
    const db = { ...server.admin, database: "d" };
    const { driver } = writeMigrations(tmp, 2000);
    execFileSync("/usr/lib/postgresql/15/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", db.host, "-p", String(db.port), "-U", db.user, "-d", "d", "-f", driver], { env: { ...process.env, PGPASSWORD: db.password } });
    for (let r = 0; r < 6; r++) {
      let t = performance.now();
      const c = await connect(db);
      const tConn = performance.now() - t;
      t = performance.now();
      const inv = await introspect(c);
      const tIntro = performance.now() - t;
      await c.end();
      console.log(`connect ${tConn.toFixed(1)} ms, introspect ${tIntro.toFixed(1)} ms, tables ${inv.tables.length}`);
    }
    // server-side timing of each statement via EXPLAIN ANALYZE is awkward; instead time each statement individually
    const c = await connect(db);
    const orig = c.query.bind(c);
    let captured = "";
    (c as any).query = (sql: string) => { captured = sql; return orig(sql); };
    await introspect(c);
    (c as any).query = orig;
    const stmts = captured.split(/;\n/).map((s) => s.trim()).filter(Boolean);
    for (let r = 0; r < 3; r++) {
      const parts: string[] = [];
      for (const s of stmts) {
        const t = performance.now();
        const res = await c.query(s);
        const ms = performance.now() - t;
        const t2 = performance.now();
        await c.query(`EXPLAIN (ANALYZE, TIMING OFF) ${s}`).then((e) => { parts.push(`${ms.toFixed(0)}ms/${res.rowCount}rows server ${e.rows.at(-1)?.["QUERY PLAN"]}`); });
        void t2;
      }
      console.log(parts.join("\n"));
    }
    // JS-side costs: fingerprint
    const inv = await introspect(c);
    const { fingerprintOf } = await import("../../infra/lifecycle/introspect.js");
    let t = performance.now();
    for (let i = 0; i < 5; i++) fingerprintOf(inv.tables);
    console.log(`fingerprint ${((performance.now() - t) / 5).toFixed(1)} ms`);
    await c.end();
    await admin.end();
  } finally {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main();
