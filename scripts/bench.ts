/**
 * `npm run bench`: pgstack measured against floors and peers on a real PostgreSQL it starts.
 * Every figure is a ratio to a floor measured in the same run, and counts everything pgstack
 * does (read, parse, checksum, plan, apply). One file per module in `scripts/bench/`:
 *   - apply.ts: applyRatio (core, N migrations, vs psql; node-pg-migrate, postgres-migrations);
 *   - introspect.ts: introspectRatio (vs pg_dump --schema-only);
 *   - engine-up.ts: engineUpRatio (real `pulumi up` applying N, vs psql + a no-op preview);
 *   - noop-preview.ts: noopPreviewRatio, providerPeakRssMb (real CLI, 4 databases);
 *   - state-size.ts: stateBytes (real CLI, 2,000 applied migrations);
 *   - safety.ts: safetyRatio (lint + data at risk of 500 pending vs their apply);
 *   - drift.ts: driftColdRatio, driftWarmRatio (vs pg_dump --schema-only ×2 + diff);
 *   - dev-preview.ts: devPreviewRatio (no-op preview of the dev stack vs a trivial program);
 *   - adopt.ts: adoptRatio (adopting a database 100 migrations built vs applying them).
 *
 * Method: every database is created before any timing; a CHECKPOINT (and a V8 garbage
 * collection) precedes every timed run; warm-up rounds are not counted; contenders run
 * round-robin within a round (the starting one rotates); each run is verified afterwards;
 * medians are reported, with, where useful, the median of per-round ratios ("paired").
 *
 * Flags (one parser, scripts/bench/options.ts): `--quick` (small N for every module, one
 * round: checks the bench works; its figures are not the issue's), `--only <module,…>`, and a
 * size flag per setting (see `USAGE` in options.ts). The last line printed is one JSON object with
 * every module's keys.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type pg from "pg";
import { connect } from "../infra/lifecycle/connection.js";
import { startTestServer, type TestServer } from "../test/support/postgres.js";
import { benchAdopt } from "./bench/adopt.js";
import { benchApply } from "./bench/apply.js";
import { benchDevPreview } from "./bench/dev-preview.js";
import { benchDrift } from "./bench/drift.js";
import { benchEngineUp } from "./bench/engine-up.js";
import { benchIntrospect } from "./bench/introspect.js";
import { benchNoopPreview } from "./bench/noop-preview.js";
import { BenchArgumentError, MODULE_SIZES, MODULES, parseArgs, selected, type BenchOptions, type Module } from "./bench/options.js";
import { PG_DUMP, PSQL } from "./bench/processes.js";
import { benchSafety } from "./bench/safety.js";
import { benchStateSize } from "./bench/state-size.js";
import { progress } from "./bench/stats.js";

export { parseArgs, type BenchOptions } from "./bench/options.js";

/** One module's measure: its report lines and its keys for the JSON line. */
type Measure = (admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions) => Promise<{ lines: string[]; summary: Record<string, unknown> }>;

/** Every module's title and measure, by name. */
const MEASURES: Record<Module, [title: string, measure: Measure]> = {
  apply: ["apply", benchApply],
  introspect: ["introspect", introspectMeasure],
  engine: ["engine up", benchEngineUp],
  preview: ["no-op preview and provider RSS", benchNoopPreview],
  devpreview: ["dev stack preview", benchDevPreview],
  state: ["state size", benchStateSize],
  safety: ["safety check", benchSafety],
  drift: ["drift check", benchDrift],
  adopt: ["adoption", benchAdopt],
};

/** The modules these options run, in order, with the sizes each of them reads. */
export function plan(opts: BenchOptions): { module: Module; sizes: Record<string, number> }[] {
  return MODULES.filter((m) => selected(opts, m)).map((module) => ({ module, sizes: Object.fromEntries(MODULE_SIZES[module].map((k) => [k, opts[k]])) }));
}

/** Merges one module's keys into the JSON line; two modules reporting the same key is a bug. */
export function mergeSummary(into: Record<string, unknown>, module: string, keys: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(keys)) {
    if (k in into) throw new Error(`bench module ${module} reports "${k}", which is reported already`);
    into[k] = v;
  }
}

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
    const seconds: Record<string, number> = {};
    for (const { module, sizes } of plan(opts)) {
      const [title, measure] = MEASURES[module];
      const started = performance.now();
      progress(`${title}: starting ${JSON.stringify(sizes)}`);
      const { lines, summary: s } = await measure(admin, server, tmp, opts);
      report.push(...lines, "");
      mergeSummary(summary, module, s);
      seconds[module] = Math.round((performance.now() - started) / 100) / 10;
      progress(`${title}: done in ${seconds[module]} s`);
    }
    summary["moduleSeconds"] = seconds;
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
async function introspectMeasure(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
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
}

// Only when run as a script: the helpers above may be imported elsewhere.
if (require.main === module) {
  main().catch((err: unknown) => {
    // A refused command line needs its message, not a stack.
    const text = err instanceof BenchArgumentError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`[bench] FAILED: ${text}\n`);
    process.exitCode = err instanceof BenchArgumentError ? 2 : 1;
  });
}
