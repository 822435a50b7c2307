/**
 * `npm run bench`: pgstack measured against floors and peers on a real PostgreSQL it starts.
 * Every figure is a ratio to a floor measured in the same run, and counts everything pgstack
 * does (read, parse, checksum, plan, apply). One file per measure in `scripts/bench/`:
 *   - apply.ts: applyRatio (core, N migrations, vs psql; node-pg-migrate, postgres-migrations);
 *   - introspect.ts: introspectRatio (vs pg_dump --schema-only);
 *   - engine-up.ts: engineUpRatio (real `pulumi up` applying N, vs psql + a no-op preview);
 *   - noop-preview.ts: noopPreviewRatio, providerPeakRssMb (real CLI, 4 databases);
 *   - state-size.ts: stateBytes (real CLI, 2,000 applied migrations).
 * Other modules (see {@link EXTRA_BENCH_MODULES}) add their own keys.
 *
 * Method: every database is created before any timing; a CHECKPOINT (and a V8 garbage
 * collection) precedes every timed run; warm-up rounds are not counted; contenders run
 * round-robin within a round (the starting one rotates); each run is verified afterwards;
 * medians are reported, with, where useful, the median of per-round ratios ("paired").
 *
 * Flags: `--quick` (small N, one round: checks the bench works; its figures are not the
 * issue's), `--only apply,introspect,engine,preview,state,extra`, `--rounds N`, `--migrations N`,
 * `--tables N`, `--preview-migrations N`, `--preview-databases N`, `--state-migrations N`. The last line printed is
 * one JSON object.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type pg from "pg";
import { connect } from "../infra/lifecycle/connection.js";
import { startTestServer, type TestServer } from "../test/support/postgres.js";
import { benchApply } from "./bench/apply.js";
import { benchEngineUp } from "./bench/engine-up.js";
import { benchIntrospect } from "./bench/introspect.js";
import { benchNoopPreview } from "./bench/noop-preview.js";
import { parseArgs, selected, type BenchOptions } from "./bench/options.js";
import { PG_DUMP, PSQL } from "./bench/processes.js";
import { benchStateSize } from "./bench/state-size.js";
import { progress } from "./bench/stats.js";

export { parseArgs, type BenchOptions } from "./bench/options.js";
export { median, pairedRatio } from "./bench/stats.js";
export { migrationSql, writeMigrations } from "./bench/generate.js";

/** What a standalone bench module exports: its figures, merged into the final JSON line. */
export interface BenchModule {
  run(): Promise<Record<string, number | string | boolean>>;
}

/**
 * Standalone bench modules, relative to `scripts/`, run after the built-in measures when the
 * file exists (e.g. "./bench-safety.ts"). Each exports {@link BenchModule.run}; its keys are
 * added to the JSON line as they are (a key clash is an error).
 */
export const EXTRA_BENCH_MODULES: string[] = ["./bench-safety.ts", "./bench-drift.ts"];

/** Runs the modules of `paths` that exist; their keys, and a report line each. */
export async function runExtraModules(paths: readonly string[]): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const summary: Record<string, unknown> = {};
  const lines: string[] = [];
  for (const rel of paths) {
    const file = path.resolve(__dirname, rel);
    if (!fs.existsSync(file)) {
      progress(`extra module ${rel}: not present, skipped`);
      continue;
    }
    progress(`extra module ${rel}: running`);
    const started = performance.now();
    const mod = (await import(file)) as Partial<BenchModule>;
    if (typeof mod.run !== "function") throw new Error(`${rel} does not export \`async function run()\``);
    const figures = await mod.run();
    for (const [k, v] of Object.entries(figures)) {
      if (k in summary) throw new Error(`${rel}: key "${k}" is already reported by another module`);
      summary[k] = v;
    }
    lines.push(`${rel} (${((performance.now() - started) / 1000).toFixed(1)} s): ${JSON.stringify(figures)}`);
  }
  return { lines, summary };
}

/** One measure: a title for progress, and the function that runs it. */
type Measure = (admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions) => Promise<{ lines: string[]; summary: Record<string, unknown> }>;

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.quick) progress("--quick: small N and one round, to check that the bench runs; the figures are not the issue's");
  else if (opts.rounds < 3) progress(`warning: --rounds ${opts.rounds} is below 3; the median is not robust`);
  for (const bin of [PSQL, PG_DUMP]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: the bench needs Debian's PostgreSQL 15 client binaries (see README, "Benchmarks")`);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-bench-"));
  let server: TestServer | undefined;
  let admin: pg.Client | undefined;
  // Cleanup on Ctrl-C too: the server and the temp dirs would otherwise outlive the bench.
  const cleanup = async () => {
    await admin?.end().catch(() => undefined);
    admin = undefined;
    try {
      await server?.stop();
    } finally {
      server = undefined;
      // PGSTACK_BENCH_KEEP=1 keeps the projects and their states, to look into a figure.
      if (process.env["PGSTACK_BENCH_KEEP"] === "1") progress(`kept ${tmp}`);
      else fs.rmSync(tmp, { recursive: true, force: true });
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    progress(`${signal}: stopping the server and removing ${tmp}`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const report: string[] = [];
  const summary: Record<string, unknown> = {};
  try {
    server = await startTestServer();
    progress(`PostgreSQL (${server.kind}) on ${server.admin.host}:${server.admin.port}; ${JSON.stringify(opts)}`);
    admin = await connect(server.admin);
    const version = (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? "?";
    Object.assign(summary, { serverKind: server.kind, serverVersion: version, quick: opts.quick, rounds: opts.rounds });
    report.push("", `PostgreSQL ${version} (${server.kind}), fsync=off for every contender${opts.quick ? "; --quick: small N, one round" : ""}`, "");
    const measures: [Parameters<typeof selected>[1], string, Measure][] = [
      ["apply", "apply", benchApply],
      ["introspect", "introspect", introspectMeasure],
      ["engine", "engine up", benchEngineUp],
      ["preview", "no-op preview and provider RSS", benchNoopPreview],
      ["state", "state size", benchStateSize],
    ];
    for (const [key, title, measure] of measures) {
      if (!selected(opts, key)) continue;
      const started = performance.now();
      progress(`${title}: starting`);
      const { lines, summary: s } = await measure(admin, server, tmp, opts);
      report.push(...lines, "");
      Object.assign(summary, s);
      progress(`${title}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    if (selected(opts, "extra") && EXTRA_BENCH_MODULES.length > 0) {
      const extra = await runExtraModules(EXTRA_BENCH_MODULES);
      for (const k of Object.keys(extra.summary)) if (k in summary) throw new Error(`an extra bench module reports "${k}", which the bench reports already`);
      report.push(...extra.lines, "");
      Object.assign(summary, extra.summary);
    }
  } finally {
    await cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  // Printed after cleanup, so the JSON object really is the last line.
  process.stdout.write(report.join("\n") + "\n");
  process.stdout.write(JSON.stringify(summary) + "\n");
}

/** The introspection measure, as report lines and keys. */
const introspectMeasure: Measure = async (admin, server, tmp, opts) => {
  const { INTROSPECT_GOAL } = await import("./bench/introspect.js");
  const { pairedRatio, r4, verdict } = await import("./bench/stats.js");
  const intro = await benchIntrospect(admin, server, tmp, opts);
  const ratio = intro.pgstack / intro.pgDump;
  const paired = pairedRatio(intro.samples.pgstack, intro.samples.pgDump);
  return {
    lines: [
      `introspectRatio — introspect ${opts.tables} tables (fresh connection each run) vs pg_dump --schema-only:`,
      `  pg_dump ${intro.pgDump.toFixed(3)} s, pgstack introspect() ${intro.pgstack.toFixed(3)} s: ${ratio.toFixed(2)}× (paired ${paired.toFixed(2)}×)`,
      `  goal ≤ ${INTROSPECT_GOAL}× pg_dump: ${verdict(ratio <= INTROSPECT_GOAL)}`,
    ],
    summary: {
      tables: opts.tables,
      introspectRatio: r4(ratio),
      introspectRatioPaired: r4(paired),
      pgstackIntrospectSeconds: r4(intro.pgstack),
      pgDumpSeconds: r4(intro.pgDump),
      introspectSamples: { pgstack: intro.samples.pgstack.map(r4), pgDump: intro.samples.pgDump.map(r4) },
      introspectMet: ratio <= INTROSPECT_GOAL,
    },
  };
};

// Only when run as a script: the helpers above may be imported elsewhere.
if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`[bench] FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
