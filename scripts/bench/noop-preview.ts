/**
 * noopPreviewRatio and providerPeakRssMb, on two stacks of D databases (4): one with M applied
 * migrations per database (500, so 2,000 in all), one with 1 per database.
 *   - noopPreviewRatio: a no-op `pulumi preview` of the first against the second (medians);
 *   - providerPeakRssMb: the highest peak RSS of the dynamic-provider process in those previews;
 *   - info: the first stack's state file, where every migration created a table (so the
 *     inventory of tables in the state grows with it; see state-size.ts for a real history).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import type { TestServer } from "../../test/support/postgres.js";
import { benchDatabase, benchProject, previewRounds, type BenchProject } from "./engine.js";
import { writeMigrationFiles } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { median, progress, r4, settle, since, verdict } from "./stats.js";

export const NOOP_PREVIEW_GOAL = 1.2;
export const PROVIDER_RSS_GOAL_MB = 200;

async function stackWith(p: BenchProject, server: TestServer, stack: string, databases: number, migrations: number): Promise<void> {
  const names = Array.from({ length: databases }, (_, i) => `benchpv_${stack}_${i}`);
  for (const name of names) writeMigrationFiles(path.join(p.dir, "migrations", name), 1, migrations);
  await p.initStack(stack, server.admin, names.map(benchDatabase));
  const started = performance.now();
  await p.pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
  progress(`preview: stack ${stack} is up with ${databases} × ${migrations} migrations (${since(started).toFixed(1)} s, not timed)`);
}

export async function benchNoopPreview(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const d = opts.previewDatabases;
  const m = opts.previewMigrations;
  const p = benchProject(tmp, "noop-preview");
  await stackWith(p, server, "big", d, m);
  const afterApply = p.stateBytes("big");
  // The next up stores the inputs without the applied batch's SQL: the steady state.
  await p.pulumi(["up", "--stack", "big", "--yes", "--skip-preview"]);
  const stateBytes = p.stateBytes("big");
  await stackWith(p, server, "small", d, 1);
  await p.pulumi(["up", "--stack", "small", "--yes", "--skip-preview"]);

  const contenders = [
    { key: "big" as const, label: `${d} × ${m} applied` },
    { key: "small" as const, label: `${d} × 1 applied` },
  ];
  const { samples, peakRssMb } = await previewRounds(p, admin, contenders, opts.rounds, "no-op preview");
  const peakRss = Math.max(peakRssMb.big, peakRssMb.small);
  // Info: a preview on a machine that never parsed these files (a fresh CI checkout).
  fs.rmSync(path.join(p.dir, ".pgstack", "cache"), { recursive: true, force: true });
  await settle(admin);
  const cold = await p.pulumi(["preview", "--stack", "big", "--expect-no-changes"]);

  const big = median(samples.big);
  const small = median(samples.small);
  const ratio = big / small;
  const lines = [
    `noopPreviewRatio — no-op \`pulumi preview\` of ${d} databases with ${m} applied migrations each, vs 1 each (medians of ${opts.rounds}):`,
    `  ${big.toFixed(2)} s vs ${small.toFixed(2)} s; goal ≤ ${NOOP_PREVIEW_GOAL}×: ${verdict(ratio <= NOOP_PREVIEW_GOAL)} (${ratio.toFixed(2)}×)`,
    `  info: the same preview with no parse cache (a fresh checkout) ${cold.seconds.toFixed(2)} s (${(cold.seconds / small).toFixed(2)}×)`,
    `providerPeakRssMb — dynamic-provider process during those previews: ${peakRss.toFixed(0)} MB; goal ≤ ${PROVIDER_RSS_GOAL_MB} MB: ${verdict(peakRss <= PROVIDER_RSS_GOAL_MB)}`,
    `  info: its state file, ${d * m} migrations each creating a table: ${stateBytes} bytes (${afterApply} right after the up that applied them)`,
  ];
  const summary = {
    previewDatabases: d,
    previewMigrations: m,
    noopPreviewRatio: r4(ratio),
    noopPreviewSeconds: r4(big),
    noopPreviewBaselineSeconds: r4(small),
    noopPreviewColdCacheSeconds: r4(cold.seconds),
    noopPreviewSamples: { big: samples.big.map(r4), small: samples.small.map(r4) },
    providerPeakRssMb: Math.round(peakRss),
    previewStateBytes: stateBytes,
    noopPreviewMet: ratio <= NOOP_PREVIEW_GOAL,
    providerRssMet: peakRss > 0 && peakRss <= PROVIDER_RSS_GOAL_MB,
  };
  return { lines, summary };
}
