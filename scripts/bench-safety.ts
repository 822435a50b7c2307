/**
 * The safety check's cost: lint (squawk + pgstack's rules) and the data-at-risk counts of 500
 * pending migrations, as a ratio of applying the same 500 in the same run. Goal: ≤ 0.25×.
 *
 * Setup (untimed): a template database with one seeded table per risky statement (80 tables of
 * 2,000 rows to change, 20 of 500 rows to drop) and a parent table, recorded as migration 0001;
 * one copy of it per timed run. The 500
 * pending migrations are scripts/bench.ts's generated files (a table, an index, three rows, a
 * foreign key every third file), and every fifth also changes a seeded table: SET NOT NULL, a
 * unique index, a foreign key, a type change with USING, or a DROP TABLE — each of which the
 * safety check counts on the live rows. All 500 apply cleanly.
 *
 * Timed, per round (median of `rounds` after one warm-up): `readDatabaseState` + `analyzeSafety`
 * (prod policy) on one copy, and `applyMigrations` of the same 500 on another. Run alone with
 * `tsx scripts/bench-safety.ts [--rounds N] [--migrations N]`; `run()` returns the figures.
 */
import { applyMigrations } from "../infra/lifecycle/apply.js";
import { connect, type ConnectionOptions } from "../infra/lifecycle/connection.js";
import { quoteIdent } from "../infra/lifecycle/identifiers.js";
import { analyzeSafety, PROFILES } from "../infra/lifecycle/safety/index.js";
import { readDatabaseState } from "../infra/lifecycle/state.js";
import { fromText, type Migration } from "../infra/lifecycle/source.js";
import { loadSqlParser } from "../infra/lifecycle/sql.js";
import { startTestServer, type TestServer } from "../test/support/postgres.js";
import { median, migrationSql } from "./bench.js";

/** Settings of {@link run}. */
export interface SafetyBenchOptions {
  rounds?: number;
  migrations?: number;
  /** An admin connection to use instead of starting a server (it needs CREATEDB). */
  admin?: ConnectionOptions;
}

const TARGET = 0.25;
const BASE_ROWS = 2000;
const DROP_ROWS = 500;

const progress = (m: string) => process.stderr.write(`[bench-safety] ${m}\n`);

/**
 * Migration 0001: one seeded table per risky statement (so no count is a repeat of another):
 * `base_k` (2,000 rows) for the changes, `drop_k` (500 rows) for the drops.
 */
function baseSql(risky: number): string {
  const out: string[] = ["CREATE TABLE base_parent (id integer PRIMARY KEY);", "INSERT INTO base_parent SELECT g FROM generate_series(1, 100) g;"];
  for (let k = 0; k < risky; k++) {
    if (k % 5 === 4) {
      out.push(`CREATE TABLE drop_${k} (id integer PRIMARY KEY, v text);`, `INSERT INTO drop_${k} SELECT g, 'v' || g FROM generate_series(1, ${DROP_ROWS}) g;`);
    } else {
      out.push(`CREATE TABLE base_${k} (id integer PRIMARY KEY, code text, note text, num integer, ref integer);`);
      out.push(`INSERT INTO base_${k} SELECT g, 'code-' || g, 'note ' || g, g, 1 + g % 100 FROM generate_series(1, ${BASE_ROWS}) g;`);
    }
  }
  return out.join("\n") + "\n";
}

/** The risky statement appended to every fifth migration (k = its index among them). */
function risky(k: number): string {
  const b = `base_${k}`;
  switch (k % 5) {
    case 0:
      return `ALTER TABLE ${b} ALTER COLUMN note SET NOT NULL;`;
    case 1:
      return `CREATE UNIQUE INDEX ${b}_code_key ON ${b} (code);`;
    case 2:
      return `ALTER TABLE ${b} ADD CONSTRAINT ${b}_ref_fk FOREIGN KEY (ref) REFERENCES base_parent (id);`;
    case 3:
      return `ALTER TABLE ${b} ALTER COLUMN num TYPE bigint USING num::bigint;`;
    default:
      return `DROP TABLE drop_${k};`;
  }
}

/** Migration 0001 plus `n` pending ones. */
export function safetyBenchMigrations(n: number): Migration[] {
  const width = Math.max(4, String(n + 1).length);
  const all = [fromText({ id: 1, name: "0001_base", file: "bench/0001_base.sql", sql: baseSql(Math.floor(n / 5)) })];
  for (let i = 1; i <= n; i++) {
    const id = i + 1;
    const extra = i % 5 === 0 ? `${risky(i / 5 - 1)}\n` : "";
    const name = `${String(id).padStart(width, "0")}_bench_${i}`;
    all.push(fromText({ id, name, file: `bench/${name}.sql`, sql: migrationSql(i, width) + extra }));
  }
  return all;
}

/** Runs the bench; returns the figures (seconds, ratio, target met). */
export async function run(options: SafetyBenchOptions = {}): Promise<Record<string, number | string | boolean>> {
  const rounds = options.rounds ?? 3;
  const n = options.migrations ?? 500;
  await loadSqlParser();
  let server: TestServer | undefined;
  const admin = options.admin ?? (server = await startTestServer()).admin;
  const cl = await connect(admin);
  const created: string[] = [];
  try {
    const all = safetyBenchMigrations(n);
    const tpl = `bench_safety_tpl_${process.pid}`;
    await cl.query(`CREATE DATABASE ${quoteIdent(tpl)}`);
    created.push(tpl);
    const tplConn = { ...admin, database: tpl };
    const t = await connect(tplConn);
    try {
      const res = await applyMigrations(t, all.slice(0, 1), { database: tpl });
      if (res.error) throw res.error;
      await t.query("ANALYZE");
    } finally {
      await t.end();
    }
    // Every copy is made before any timing.
    const copies: string[] = [];
    for (let r = 0; r <= rounds; r++) {
      for (const kind of ["s", "a"]) {
        const name = `bench_safety_${kind}${r}_${process.pid}`;
        await cl.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(tpl)}`);
        created.push(name);
        copies.push(name);
      }
    }
    const safety: number[] = [];
    const apply: number[] = [];
    let findings = 0;
    let refusals = 0;
    for (let r = 0; r <= rounds; r++) {
      const s = await connect({ ...admin, database: `bench_safety_s${r}_${process.pid}` });
      const a = await connect({ ...admin, database: `bench_safety_a${r}_${process.pid}` });
      try {
        await cl.query("CHECKPOINT");
        let started = performance.now();
        const { pending } = await readDatabaseState(s, all);
        if (pending.length !== n) throw new Error(`expected ${n} pending, found ${pending.length}`);
        const report = await analyzeSafety(s, "bench", pending, PROFILES.prod, { logger: progress });
        const safetySeconds = (performance.now() - started) / 1000;
        findings = report.findings.length;
        refusals = report.refusals.length;
        await cl.query("CHECKPOINT");
        started = performance.now();
        const res = await applyMigrations(a, all, { database: "bench" });
        const applySeconds = (performance.now() - started) / 1000;
        if (res.error) throw res.error;
        if (res.results.length !== n) throw new Error(`applied ${res.results.length} of ${n}`);
        progress(`round ${r === 0 ? "warm-up" : r}: safety ${safetySeconds.toFixed(3)} s, apply ${applySeconds.toFixed(3)} s`);
        if (r > 0) {
          safety.push(safetySeconds);
          apply.push(applySeconds);
        }
      } finally {
        await s.end();
        await a.end();
      }
    }
    const ratio = median(safety) / median(apply);
    const paired = median(safety.map((x, i) => x / (apply[i] ?? Number.NaN)));
    return {
      migrations: n,
      rounds,
      safetySeconds: Math.round(median(safety) * 1000) / 1000,
      applySeconds: Math.round(median(apply) * 1000) / 1000,
      safetyRatio: Math.round(ratio * 1000) / 1000,
      safetyRatioPaired: Math.round(paired * 1000) / 1000,
      findings,
      refusals,
      target: `≤ ${TARGET}×`,
      targetMet: ratio <= TARGET,
    };
  } finally {
    for (const d of created.reverse()) await cl.query(`DROP DATABASE IF EXISTS ${quoteIdent(d)}`).catch(() => undefined);
    await cl.end();
    await server?.stop();
  }
}

if (require.main === module) {
  const arg = (flag: string) => {
    const i = process.argv.indexOf(flag);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  run({ ...(arg("--rounds") ? { rounds: arg("--rounds") } : {}), ...(arg("--migrations") ? { migrations: arg("--migrations") } : {}) })
    .then((r) => {
      process.stdout.write(
        `safety check of ${r["migrations"]} pending migrations (lint + data at risk): ${r["safetySeconds"]} s vs apply ${r["applySeconds"]} s → ` +
          `${r["safetyRatio"]}× (paired ${r["safetyRatioPaired"]}×), target ${r["target"]}: ${r["targetMet"] ? "met" : "MISSED"}\n`,
      );
      process.stdout.write(JSON.stringify(r) + "\n");
    })
    .catch((err: unknown) => {
      process.stderr.write(`[bench-safety] FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    });
}
