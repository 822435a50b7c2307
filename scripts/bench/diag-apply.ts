// TEMPORARY diagnostic (deleted after use)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import type pg from "pg";
import { connect } from "../../infra/lifecycle/connection.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { startTestServer } from "../../test/support/postgres.js";
import { writeMigrations, median } from "../bench.js";

async function main() {
  const server = await startTestServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-diag-"));
  try {
    const admin = await connect(server.admin);
    const N = 500, R = 6;
    const { migrationsDir, driver } = writeMigrations(tmp, N);
    await loadSqlParser();
    const migrations = await loadMigrations(migrationsDir);
    const kinds = ["floor", "pgstack", "raw1rt", "raw_hist1rt", "floor_hist"] as const;
    // floor with history: psql driver that also inserts a history row per file
    const hdriver = path.join(tmp, "hdriver.sql");
    fs.writeFileSync(hdriver, "CREATE TABLE IF NOT EXISTS hist (id int primary key, name text, checksum text, applied_at timestamptz, duration_ms float8, in_transaction bool);\n" +
      migrations.map((m) => `BEGIN;\n\\i '${m.file}'\nINSERT INTO hist VALUES (${m.id}, '${m.name}', '${m.checksum}', clock_timestamp(), 1, true);\nCOMMIT;`).join("\n") + "\n");
    for (let r = 0; r <= R; r++) for (const k of kinds) await admin.query(`CREATE DATABASE d_${r}_${k}`);
    const samples: Record<string, number[]> = {};
    const extra: Record<string, number[]> = { connect: [], pre: [], loop: [], post: [], serverSum: [] };
    for (let r = 0; r <= R; r++) {
      const order = [...kinds.slice(r % kinds.length), ...kinds.slice(0, r % kinds.length)];
      for (const k of order) {
        const db = { ...server.admin, database: `d_${r}_${k}` };
        const env = { ...process.env, PGPASSWORD: db.password };
        const args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", db.host, "-p", String(db.port), "-U", db.user, "-d", db.database, "-f"];
        await admin.query("CHECKPOINT");
        const t0 = performance.now();
        if (k === "floor") execFileSync("/usr/lib/postgresql/15/bin/psql", [...args, driver], { env });
        else if (k === "floor_hist") execFileSync("/usr/lib/postgresql/15/bin/psql", [...args, hdriver], { env });
        else if (k === "pgstack") {
          const c = await connect(db);
          const tc = performance.now();
          const orig = c.query.bind(c) as (...a: unknown[]) => Promise<unknown>;
          const calls: { text: string; start: number; end: number }[] = [];
          (c as any).query = async (...a: unknown[]) => { const s = performance.now(); try { return await orig(...a); } finally { calls.push({ text: String(a[0]).slice(0, 40), start: s, end: performance.now() }); } };
          await applyMigrations(c, migrations, { database: db.database });
          const te = performance.now();
          await c.end();
          const firstMig = calls.findIndex((x) => x.text.startsWith("BEGIN"));
          const lastMig = calls.length - 1 - [...calls].reverse().findIndex((x) => x.text.startsWith("BEGIN"));
          if (r > 0) {
            extra.connect!.push(tc - t0);
            extra.pre!.push(calls[firstMig]!.start - tc);
            extra.loop!.push(calls[lastMig]!.end - calls[firstMig]!.start);
            extra.post!.push(te - calls[lastMig]!.end);
          }
        } else {
          const c = await connect(db);
          if (k === "raw_hist1rt") await c.query("CREATE TABLE hist (id int primary key, name text, checksum text, applied_at timestamptz, duration_ms float8, in_transaction bool)");
          for (const m of migrations) {
            const h = k === "raw_hist1rt" ? `INSERT INTO hist VALUES (${m.id}, '${m.name}', '${m.checksum}', clock_timestamp(), extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000, true);\n` : "";
            await c.query(`BEGIN;\n${m.sql}\n;\n${h}COMMIT;`);
          }
          await c.end();
        }
        const s = (performance.now() - t0) / 1000;
        if (r > 0) (samples[k] ??= []).push(s);
        if (k === "pgstack") {
          const c = await connect(db);
          const sum = Number((await c.query("SELECT sum(duration_ms) AS s FROM pgstack.migrations")).rows[0].s);
          if (r > 0) extra.serverSum!.push(sum);
          await c.end();
        }
      }
      console.log(`round ${r}: ` + kinds.map((k) => `${k} ${(samples[k]?.at(-1) ?? 0).toFixed(3)}`).join(", "));
    }
    for (const k of kinds) console.log(`${k.padEnd(14)} median ${median(samples[k]!).toFixed(3)} s  [${samples[k]!.map((x) => x.toFixed(2)).join(" ")}]`);
    for (const [k, v] of Object.entries(extra)) console.log(`pgstack ${k.padEnd(10)} median ${median(v).toFixed(1)} ms`);
    await admin.end();
  } finally {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main();
