import * as fs from "node:fs"; import * as os from "node:os"; import * as path from "node:path";
import { startTestServer } from "../test/support/postgres.js";
import { connect } from "../infra/lifecycle/connection.js";
import { buildDeclaredSchema } from "../infra/lifecycle/declared.js";
import { loadMigrations } from "../infra/lifecycle/source.js";
import { loadSqlParser } from "../infra/lifecycle/sql.js";
import { writeDriftMigrations } from "./bench/drift.js";
async function main() {
  const [m, t] = [Number(process.argv[2]), Number(process.argv[3])];
  await loadSqlParser();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "prof-"));
  const folder = writeDriftMigrations(work, m, t);
  let t0 = performance.now();
  const migs = await loadMigrations(folder);
  console.log("load", (performance.now() - t0).toFixed(0));
  const server = await startTestServer();
  const admin = await connect(server.admin);
  await admin.query("CREATE ROLE prof_owner");
  for (let r = 0; r < 2; r++) {
    t0 = performance.now();
    const log = { info: (s: string) => console.log((performance.now() - t0).toFixed(0), s), warn: (s: string) => console.log("W", s) };
    await buildDeclaredSchema(server.admin, migs, { role: "prof_owner", cacheDir: false, logger: log });
    console.log("total", (performance.now() - t0).toFixed(0));
  }
  await admin.end(); await server.stop();
}
main();
