/**
 * safetyRatio: the safety check's cost — lint (squawk + pgstack's rules) and the data-at-risk
 * counts of N pending migrations (500) — as a ratio of applying the same N in the same run.
 *
 * Setup (untimed): a template database with one seeded table per risky statement (2,000 rows
 * each to change, 500 each to drop) and a parent table, recorded as migration 0001; one copy
 * of it per timed run. The N pending migrations are generate.ts's files (a table, an index,
 * three rows, a foreign key every third file), and every fifth also changes a seeded table:
 * SET NOT NULL, a unique index, a foreign key, a type change with USING, or a DROP TABLE —
 * each of which the safety check counts on the live rows. All N apply cleanly.
 *
 * Timed, per round (median of `rounds` after one warm-up): `readDatabaseState` +
 * `analyzeSafety` (prod policy) on one copy, and `applyMigrations` of the same N on another.
 * The check runs twice on its copy: with the parses the loading made (safetyRatio: new files, as
 * in an `up`), and parsing every file itself (safetyRatioParsing: files the parse cache on disk
 * served, which keeps only facts, not parse trees).
 */
import type pg from "pg";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { connect } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { analyzeSafety, PROFILES } from "../../infra/lifecycle/safety/index.js";
import { fromText, type Migration } from "../../infra/lifecycle/source.js";
import { forgetParses, loadSqlParser, splitStatements } from "../../infra/lifecycle/sql.js";
import { readDatabaseState } from "../../infra/lifecycle/state.js";
import type { TestServer } from "../../test/support/postgres.js";
import { migrationSql } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { median, pairedRatio, progress, r4, settle, since, verdict } from "./stats.js";

/** Goal of the issue: the check costs at most a quarter of the apply. */
export const SAFETY_GOAL = 0.25;
const BASE_ROWS = 2000;
const DROP_ROWS = 500;

/** Migration 0001: one seeded table per risky statement, so no count repeats another. */
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

/** The safety measure, as report lines and keys. */
export async function benchSafety(admin: pg.Client, server: TestServer, _tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const n = opts.safetyMigrations;
  await loadSqlParser();
  const all = safetyBenchMigrations(n);
  const tpl = "bench_safety_tpl";
  const created: string[] = [];
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(tpl)}`);
    created.push(tpl);
    const t = await connect({ ...server.admin, database: tpl });
    try {
      const res = await applyMigrations(t, all.slice(0, 1), { database: tpl });
      if (res.error) throw res.error;
      await t.query("ANALYZE");
    } finally {
      await t.end();
    }
    // Every copy is made before any timing.
    const copy = (kind: "s" | "a", r: number) => `bench_safety_${kind}${r}`;
    for (let r = 0; r <= opts.rounds; r++) {
      for (const kind of ["s", "a"] as const) {
        await admin.query(`CREATE DATABASE ${quoteIdent(copy(kind, r))} TEMPLATE ${quoteIdent(tpl)}`);
        created.push(copy(kind, r));
      }
    }
    const samples = { safety: [] as number[], parsing: [] as number[], apply: [] as number[] };
    let findings = 0;
    let refusals = 0;
    for (let r = 0; r <= opts.rounds; r++) {
      const s = await connect({ ...server.admin, database: copy("s", r) });
      const a = await connect({ ...server.admin, database: copy("a", r) });
      try {
        // The check reads only: it runs twice on the same copy, in turn first, sharing the parse
        // the loading made (new files, as in an `up`) and parsing on its own (files the parse
        // cache on disk served, which keeps no parse trees).
        const check = async (ownParse: boolean): Promise<number> => {
          if (ownParse) forgetParses();
          await settle(admin);
          const started = performance.now();
          const { pending } = await readDatabaseState(s, all);
          if (pending.length !== n) throw new Error(`safety: expected ${n} pending, found ${pending.length}`);
          const report = await analyzeSafety(s, "bench", pending, PROFILES.prod, { logger: progress });
          const seconds = since(started);
          findings = report.findings.length;
          refusals = report.refusals.length;
          if (ownParse) for (const m of all) splitStatements(m.sql, m.file); // parsed again, as loading left them
          return seconds;
        };
        const order = r % 2 === 0 ? [false, true] : [true, false];
        const [first, second] = [await check(order[0] as boolean), await check(order[1] as boolean)];
        const safetySeconds = order[0] ? second : first;
        const parsingSeconds = order[0] ? first : second;
        await settle(admin);
        const started = performance.now();
        const res = await applyMigrations(a, all, { database: "bench" });
        const applySeconds = since(started);
        if (res.error) throw res.error;
        if (res.results.length !== n) throw new Error(`safety: applied ${res.results.length} of ${n}`);
        progress(`safety ${r === 0 ? "warm-up" : `round ${r}/${opts.rounds}`}: check ${safetySeconds.toFixed(3)} s (parsing itself ${parsingSeconds.toFixed(3)} s), apply ${applySeconds.toFixed(3)} s`);
        if (r > 0) {
          samples.safety.push(safetySeconds);
          samples.parsing.push(parsingSeconds);
          samples.apply.push(applySeconds);
        }
      } finally {
        await s.end();
        await a.end();
      }
    }
    // The check must see the risky statements, or it timed nothing worth timing.
    if (n >= 5 && findings === 0) throw new Error("safety: the check reported no finding on migrations with risky statements");
    const check = median(samples.safety);
    const apply = median(samples.apply);
    const ratio = check / apply;
    const paired = pairedRatio(samples.safety, samples.apply);
    const parsing = median(samples.parsing);
    return {
      lines: [
        `safetyRatio — lint + data at risk of ${n} pending migrations vs their apply (medians of ${opts.rounds}):`,
        `  apply ${apply.toFixed(3)} s, safety check ${check.toFixed(3)} s: ${ratio.toFixed(2)}× (paired ${paired.toFixed(2)}×); ${findings} findings, ${refusals} refusals`,
        `  the check parsing the files itself (served by the parse cache on disk, not parsed while loading) ${parsing.toFixed(3)} s: ${(parsing / apply).toFixed(2)}×`,
        `  goal ≤ ${SAFETY_GOAL}× the apply: ${verdict(ratio <= SAFETY_GOAL)}`,
      ],
      summary: {
        safetyMigrations: n,
        safetySeconds: r4(check),
        safetyApplySeconds: r4(apply),
        safetyRatio: r4(ratio),
        safetyRatioPaired: r4(paired),
        safetyParsingSeconds: r4(parsing),
        safetyRatioParsing: r4(parsing / apply),
        safetyFindings: findings,
        safetyRefusals: refusals,
        safetyMet: ratio <= SAFETY_GOAL,
      },
    };
  } finally {
    for (const d of created.reverse()) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(d)}`).catch(() => undefined);
  }
}
