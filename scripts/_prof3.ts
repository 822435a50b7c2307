import { startTestServer } from "../test/support/postgres.js";
import { connect } from "../infra/lifecycle/connection.js";
import { applyMigrations } from "../infra/lifecycle/apply.js";
import { analyzeSafety, PROFILES } from "../infra/lifecycle/safety/index.js";
import { readDatabaseState } from "../infra/lifecycle/state.js";
import { loadSqlParser } from "../infra/lifecycle/sql.js";
import { safetyBenchMigrations } from "./bench/safety.js";
async function main() {
  await loadSqlParser();
  const n = Number(process.argv[2] ?? 500);
  const all = safetyBenchMigrations(n);
  const server = await startTestServer();
  const admin = await connect(server.admin);
  await admin.query("CREATE DATABASE prof_s");
  const s = await connect({ ...server.admin, database: "prof_s" });
  const r = await applyMigrations(s, all.slice(0, 1), { database: "x" }); if (r.error) throw r.error;
  await s.query("ANALYZE");
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const { pending } = await readDatabaseState(s, all);
    const rep = await analyzeSafety(s, "bench", pending, PROFILES.prod, { logger: console.log });
    console.log("total", (performance.now() - t).toFixed(0), rep.findings.length);
  }
  await s.end(); await admin.end(); await server.stop();
}
main();
