import * as fs from "node:fs"; import * as os from "node:os"; import * as path from "node:path";
import { startTestServer } from "../test/support/postgres.js";
import { connect } from "../infra/lifecycle/connection.js";
import { applyMigrations } from "../infra/lifecycle/apply.js";
import { planBaseline } from "../infra/lifecycle/baseline.js";
import { loadMigrations } from "../infra/lifecycle/source.js";
import { loadSqlParser } from "../infra/lifecycle/sql.js";
import { writeMigrations } from "./bench/generate.js";
async function main() {
  await loadSqlParser();
  const n = Number(process.argv[2] ?? 100);
  const { migrationsDir } = writeMigrations(fs.mkdtempSync(path.join(os.tmpdir(), "p4-")), n);
  const migs = await loadMigrations(migrationsDir);
  const server = await startTestServer();
  const admin = await connect(server.admin);
  await admin.query("CREATE ROLE p4_owner"); await admin.query("CREATE DATABASE p4 OWNER p4_owner");
  const c = await connect({ ...server.admin, database: "p4" });
  const r = await applyMigrations(c, migs, { database: "p4", role: "p4_owner" }); if (r.error) throw r.error;
  await c.query("DROP SCHEMA pgstack CASCADE");
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    const log = { info: (s: string) => console.log((performance.now() - t0).toFixed(0), s.slice(0, 120)), warn: (s: string) => console.log("W", s) };
    const plan = await planBaseline(c, migs, "p4", { connection: { ...server.admin, database: "p4" }, owner: "p4_owner", schemas: ["public"], logger: log });
    console.log("total", (performance.now() - t0).toFixed(0), plan?.count);
  }
  await c.end(); await admin.end(); await server.stop();
}
main();
