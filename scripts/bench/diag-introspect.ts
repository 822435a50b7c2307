// TEMPORARY diagnostic (deleted after use)
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import type pg from "pg";
import { connect } from "../../infra/lifecycle/connection.js";
import { introspect, fingerprintOf } from "../../infra/lifecycle/introspect.js";
import { startTestServer } from "../../test/support/postgres.js";
import { writeMigrations, median } from "../bench.js";

async function main() {
  const server = await startTestServer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-diag-"));
  try {
    const admin = await connect(server.admin);
    await admin.query("CREATE DATABASE d");
    const db = { ...server.admin, database: "d" };
    const { driver } = writeMigrations(tmp, 2000);
    execFileSync("/usr/lib/postgresql/15/bin/psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", db.host, "-p", String(db.port), "-U", db.user, "-d", "d", "-f", driver], { env: { ...process.env, PGPASSWORD: db.password } });
    const c = await connect(db);
    let captured = "";
    const orig = c.query.bind(c);
    (c as any).query = (sql: string) => { captured = sql; return orig(sql); };
    await introspect(c);
    (c as any).query = orig;
    const stmts = captured.split(/;\n/).map((s) => s.trim()).filter(Boolean);
    const rels = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgstack') AND n.nspname NOT LIKE 'pg\\_%'`;
    const variants: Record<string, string> = {
      tables: stmts[0]!, columns: stmts[1]!, constraints: stmts[2]!, indexes: stmts[3]!,
      columns_noexpr: stmts[1]!.replace(/pg_get_expr\(d\.adbin, d\.adrelid\)/, "NULL::text"),
      columns_noformat: stmts[1]!.replace(/format_type\(a\.atttypid, a\.atttypmod\)/, "a.atttypid::text"),
      columns_nofunc: stmts[1]!.replace(/pg_get_expr\(d\.adbin, d\.adrelid\)/, "NULL::text").replace(/format_type\(a\.atttypid, a\.atttypmod\)/, "a.atttypid::text"),
      constraints_def_only_ucx: stmts[2]!.replace("pg_get_constraintdef(co.oid) AS definition", "CASE WHEN co.contype IN ('u','c','x') THEN pg_get_constraintdef(co.oid) END AS definition"),
      constraints_noarrays: stmts[2]!.replace(/ARRAY\(SELECT a\.attname FROM unnest\(co\.conkey\)[\s\S]*?::text\[\] AS columns/, "co.conkey::text AS columns").replace(/ARRAY\(SELECT a\.attname FROM unnest\(co\.confkey\)[\s\S]*?::text\[\] AS ref_columns/, "co.confkey::text AS ref_columns"),
      columns_expr_relid0: stmts[1]!.replace("ELSE pg_get_expr(d.adbin, d.adrelid) END", "WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) ELSE pg_get_expr(d.adbin, 0) END"),
      indexes_nodef: stmts[3]!.replace("pg_get_indexdef(i.indexrelid)", "NULL::text"),
    };
    console.log(stmts[1]);
    {
      const a = (await c.query(variants.columns!)).rows; const b = (await c.query(variants.columns_expr_relid0!)).rows;
      console.log(`relid0 identical: ${JSON.stringify(a) === JSON.stringify(b)} (${a.length} rows)`);
      const all = captured.replace("ELSE pg_get_expr(d.adbin, d.adrelid) END", "WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) ELSE pg_get_expr(d.adbin, 0) END").replace("pg_get_constraintdef(co.oid) AS definition", "CASE WHEN co.contype IN ('u','c','x') THEN pg_get_constraintdef(co.oid) END AS definition");
      variants["whole_optimized"] = all; variants["whole"] = captured;
    }
    // cold: a fresh backend per measurement
    for (const [name, sql] of Object.entries(variants)) {
      const cold: number[] = []; const warm: number[] = [];
      for (let r = 0; r < 5; r++) {
        const x = await connect(db);
        let t = performance.now();
        await x.query(sql);
        cold.push(performance.now() - t);
        t = performance.now();
        await x.query(sql);
        warm.push(performance.now() - t);
        await x.end();
      }
      console.log(`${name.padEnd(28)} cold ${median(cold).toFixed(1)} ms warm ${median(warm).toFixed(1)} ms`);
    }
    for (const label of ["whole cold", "introspect() cold"]) {
      const xs: number[] = [];
      for (let r = 0; r < 7; r++) {
        const x = await connect(db);
        const t = performance.now();
        if (label === "whole cold") await x.query(captured); else await introspect(x);
        xs.push(performance.now() - t);
        await x.end();
      }
      console.log(`${label} ${median(xs).toFixed(1)} ms  ${xs.map((v) => v.toFixed(0)).join(" ")}`);
    }
    const conns: number[] = [];
    for (let r = 0; r < 7; r++) { const t0 = performance.now(); const x = await connect(db); conns.push(performance.now() - t0); await x.end(); }
    console.log(`connect ${median(conns).toFixed(1)} ms`);
    await c.end();
    await admin.end();
  } finally {
    await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
main();
