/**
 * dbScaleRatio: how a no-op `pulumi preview` grows from 1 database to D (50) in one stack, each
 * database with the same M (5) applied migrations, against the 1-database stack measured in the
 * same run (medians). Goal ≤ 10× for 50× the databases: the engine previews databases in
 * parallel. With it, the dynamic-provider process's peak RSS in those previews (≤ 300 MB), and
 * as info the `up` that created each stack (the engine applies databases in parallel too).
 */
import * as path from "node:path";
import type pg from "pg";
import type { TestServer } from "../../test/support/postgres.js";
import { benchDatabase, benchProject, previewRounds, type BenchProject } from "./engine.js";
import { writeMigrationFiles } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { median, progress, r4, verdict } from "./stats.js";

export const DB_SCALE_GOAL = 10;
export const DB_SCALE_RSS_GOAL_MB = 300;
/** Applied migrations per database: small, so the measure is about the count of databases. */
const MIGRATIONS_PER_DATABASE = 5;

/** Declares a stack of `databases` databases and brings it up; returns the up's seconds. */
async function stackOf(p: BenchProject, server: TestServer, stack: string, databases: number): Promise<number> {
  const names = Array.from({ length: databases }, (_, i) => `benchsc_${stack}_${i}`);
  for (const name of names) writeMigrationFiles(path.join(p.dir, "migrations", name), 1, MIGRATIONS_PER_DATABASE);
  await p.initStack(stack, server.admin, names.map(benchDatabase));
  const up = await p.pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
  // The next up stores the inputs without the applied batch's SQL: the steady state previews see.
  await p.pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
  progress(`scale: stack ${stack} is up with ${databases} database(s) × ${MIGRATIONS_PER_DATABASE} migrations (${up.seconds.toFixed(1)} s)`);
  return up.seconds;
}

export async function benchDbScale(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const d = opts.scaleDatabases;
  const p = benchProject(tmp, "db-scale");
  const upOne = await stackOf(p, server, "one", 1);
  const upMany = await stackOf(p, server, "many", d);

  const contenders = [
    { key: "many" as const, label: `${d} databases` },
    { key: "one" as const, label: "1 database" },
  ];
  const { samples, peakRssMb: rss } = await previewRounds(p, admin, contenders, opts.rounds, "scale: no-op preview");
  const many = median(samples.many);
  const one = median(samples.one);
  const ratio = many / one;
  const lines = [
    `dbScaleRatio — no-op \`pulumi preview\` of ${d} databases vs 1 (${MIGRATIONS_PER_DATABASE} applied migrations each; medians of ${opts.rounds}):`,
    `  ${many.toFixed(2)} s vs ${one.toFixed(2)} s; goal ≤ ${DB_SCALE_GOAL}×: ${verdict(ratio <= DB_SCALE_GOAL)} (${ratio.toFixed(2)}×)`,
    `  provider peak RSS (${d} databases): ${rss.many.toFixed(0)} MB (1 database: ${rss.one.toFixed(0)} MB); goal ≤ ${DB_SCALE_RSS_GOAL_MB} MB: ${verdict(rss.many > 0 && rss.many <= DB_SCALE_RSS_GOAL_MB)}`,
    `  info: the up that created them, ${upMany.toFixed(1)} s vs ${upOne.toFixed(1)} s (${(upMany / upOne).toFixed(2)}× for ${d}× the databases)`,
  ];
  const summary = {
    dbScaleDatabases: d,
    dbScaleRatio: r4(ratio),
    dbScalePreviewSeconds: r4(many),
    dbScaleBaselineSeconds: r4(one),
    dbScaleSamples: { many: samples.many.map(r4), one: samples.one.map(r4) },
    dbScaleProviderPeakRssMb: Math.round(rss.many),
    dbScaleUpSeconds: r4(upMany),
    dbScaleUpBaselineSeconds: r4(upOne),
    dbScaleMet: ratio <= DB_SCALE_GOAL,
    dbScaleRssMet: rss.many > 0 && rss.many <= DB_SCALE_RSS_GOAL_MB,
  };
  return { lines, summary };
}
