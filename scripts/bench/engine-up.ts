/**
 * engineUpRatio: `pulumi up` through the real engine applying N pending migrations to a
 * database the stack already manages, against what it cannot go below: the psql floor applying
 * the same files plus the engine's own no-op preview of the same stack with 0 migrations.
 * The up runs with `--skip-preview` (one engine pass, as the baseline has one) and a cold parse
 * cache (the files are new), so it reads, checksums and parses every file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { projectParseCacheDir } from "../../infra/lifecycle/parse-cache.js";
import type { TestServer } from "../../test/support/postgres.js";
import { benchDatabase, benchProject } from "./engine.js";
import { TABLE_PREFIX, writeMigrationFiles, writeMigrations } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { runPsqlDriver } from "./processes.js";
import { count, median, progress, r4, settle, since, verdict } from "./stats.js";

/** The goal. */
export const ENGINE_UP_GOAL = 1.3;

export async function benchEngineUp(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const n = opts.migrations;
  const p = benchProject(tmp, "engine-up");
  const { driver } = writeMigrations(path.join(tmp, "engine-up-floor"), n);
  const samples = { up: [] as number[], floor: [] as number[], noop: [] as number[] };
  for (let r = 1; r <= opts.rounds; r++) {
    const name = `benchup_r${r}`;
    const stack = `up${r}`;
    const dir = path.join(p.dir, "migrations", name);
    fs.mkdirSync(dir, { recursive: true });
    await p.initStack(stack, server.admin, [benchDatabase(name)]);
    let started = performance.now();
    await p.pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
    progress(`engine up round ${r}: the stack with 0 migrations is up (${since(started).toFixed(1)} s, not timed)`);

    await settle(admin);
    const noop = await p.pulumi(["preview", "--stack", stack, "--expect-no-changes"]);
    samples.noop.push(noop.seconds);

    const floorDb: ConnectionOptions = { ...server.admin, database: `benchup_floor_r${r}` };
    await admin.query(`CREATE DATABASE ${quoteIdent(floorDb.database)}`);
    await settle(admin);
    started = performance.now();
    await runPsqlDriver(floorDb, driver);
    samples.floor.push(since(started));

    writeMigrationFiles(dir, 1, n);
    // Only the parse cache: the files are new to it, as in a real up. The provider host's bundle
    // stays, as it does for a user (it is rebuilt only when pgstack's own sources change).
    fs.rmSync(projectParseCacheDir(p.dir), { recursive: true, force: true });
    await settle(admin);
    const up = await p.pulumi(["up", "--stack", stack, "--yes", "--skip-preview"]);
    samples.up.push(up.seconds);
    const client = await connect({ ...server.admin, database: name });
    try {
      const tables = await count(client, `SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE '${TABLE_PREFIX}%'`);
      const history = await count(client, "SELECT count(*) AS n FROM pgstack.migrations");
      if (tables !== n || history !== n) throw new Error(`pulumi up left ${tables} tables and ${history} history rows in ${name}, expected ${n}`);
    } finally {
      await client.end();
    }
    progress(
      `engine up round ${r}/${opts.rounds}: pulumi up ${up.seconds.toFixed(2)} s; floor: psql ${samples.floor.at(-1)?.toFixed(2)} s + no-op preview ${noop.seconds.toFixed(2)} s`,
    );
  }
  const up = median(samples.up);
  const floor = median(samples.floor);
  const noop = median(samples.noop);
  const ratio = up / (floor + noop);
  const lines = [
    `engineUpRatio — \`pulumi up --skip-preview\` applying ${n} pending migrations (cold parse cache), vs the psql floor`,
    `plus the engine's no-op preview of the same stack with 0 migrations (medians of ${opts.rounds}):`,
    `  pulumi up ${up.toFixed(2)} s; psql ${floor.toFixed(2)} s + no-op preview ${noop.toFixed(2)} s = ${(floor + noop).toFixed(2)} s`,
    `  goal ≤ ${ENGINE_UP_GOAL}×: ${verdict(ratio <= ENGINE_UP_GOAL)} (${ratio.toFixed(2)}×)`,
  ];
  const summary = {
    engineUpRatio: r4(ratio),
    engineUpSeconds: r4(up),
    engineUpFloorSeconds: r4(floor),
    engineNoopPreviewSeconds: r4(noop),
    engineUpSamples: { up: samples.up.map(r4), floor: samples.floor.map(r4), noop: samples.noop.map(r4) },
    engineUpMet: ratio <= ENGINE_UP_GOAL,
  };
  return { lines, summary };
}
