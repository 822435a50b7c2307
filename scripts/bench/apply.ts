/**
 * applyRatio: N generated migration files applied, everything counted, by
 *   - the floor: one `psql` session running every file in its own BEGIN/COMMIT,
 *   - pgstack: read, checksum, parse (no parse cache: the files are new), plan and apply,
 *     connection included — `loadMigrations` + `applyMigrations`,
 *   - pgstack after a preview: the same with the parse cache a `pulumi preview` leaves (info),
 *   - node-pg-migrate (programmatic `runner`, `singleTransaction: false`), files read by it,
 *   - postgres-migrations (`migrate({ client }, dir)`), files read and hashed by it.
 */
import * as path from "node:path";
import type pg from "pg";
import { migrate as postgresMigrate } from "postgres-migrations";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import type { ParseCache, ParseFacts } from "../../infra/lifecycle/parse-cache.js";
import { loadMigrations, nodeFileReader } from "../../infra/lifecycle/source.js";
import { forgetParses, loadSqlParser } from "../../infra/lifecycle/sql.js";
import type { TestServer } from "../../test/support/postgres.js";
import { pad, TABLE_PREFIX, writeMigrations } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { runPsqlDriver } from "./processes.js";
import { count, median, pairedRatio, progress, r4, rotate, settle, since, verdict } from "./stats.js";

/** Goals of the issue: ≤ 1.10× the floor, and faster than both peers. */
export const APPLY_GOAL = 1.1;

type Key = "floor" | "pgstack" | "pgstackWarm" | "nodePgMigrate" | "postgresMigrations";

/** One tool that applies the migration folder to a database. */
interface ApplyContender {
  key: Key;
  label: string;
  /** Applies every migration to `db`. This is what is timed. */
  run(db: ConnectionOptions): Promise<void>;
  /** The history rows the tool must have written, or undefined when it keeps none. */
  historySql?: string;
}

/** Fails loudly unless `db` holds every generated table, its rows, and the tool's history. */
async function verifyApply(db: ConnectionOptions, contender: ApplyContender, n: number): Promise<void> {
  const client = await connect(db);
  try {
    const tables = await count(
      client,
      `SELECT count(*) AS n FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
        WHERE ns.nspname = 'public' AND c.relkind = 'r' AND c.relname LIKE '${TABLE_PREFIX}%'`,
    );
    if (tables !== n) throw new Error(`${contender.label} left ${tables} tables in ${db.database}, expected ${n}`);
    const width = Math.max(4, String(n).length);
    const rows = await count(client, `SELECT count(*) AS n FROM ${quoteIdent(`${TABLE_PREFIX}${pad(n, width)}`)}`);
    if (rows !== 3) throw new Error(`${contender.label}: the last table in ${db.database} has ${rows} rows, expected 3`);
    if (contender.historySql) {
      const history = await count(client, contender.historySql);
      if (history !== n) throw new Error(`${contender.label} recorded ${history} migrations in ${db.database}, expected ${n}`);
    }
  } finally {
    await client.end();
  }
}

/** A parse cache in memory, as the file cache behaves after a preview parsed every file. */
function memoryCache(): ParseCache {
  const m = new Map<string, ParseFacts>();
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v) };
}

/** Where pgstack's time goes in one run (cold cache), for the profile. */
interface PgstackSplit {
  load: number;
  apply: number;
}

async function contenders(migrationsDir: string, driver: string, n: number, split: PgstackSplit[]): Promise<ApplyContender[]> {
  // Dynamic import: node-pg-migrate 9 is ESM-only and this script compiles as CommonJS.
  const { runner } = await import("node-pg-migrate");
  const quiet = () => undefined;
  const warmCache = memoryCache();
  const pgstack = async (db: ConnectionOptions, cache: ParseCache | undefined, record: boolean) => {
    // As a process of its own: no parse kept from the last run (the parse cache is the files' only memory).
    forgetParses();
    const started = performance.now();
    // Everything counted: reading, checksumming and parsing the files is part of the run.
    const migrations = await loadMigrations(migrationsDir, nodeFileReader, cache ? { cache } : {});
    const loaded = performance.now();
    const client = await connect(db);
    try {
      const { error, results } = await applyMigrations(client, migrations, { database: db.database });
      if (error) throw error;
      if (results.length !== n) throw new Error(`pgstack applied ${results.length} migrations`);
    } finally {
      await client.end();
    }
    if (record) split.push({ load: (loaded - started) / 1000, apply: since(loaded) });
  };
  return [
    { key: "floor", label: "psql (floor)", run: async (db) => void (await runPsqlDriver(db, driver)) },
    { key: "pgstack", label: "pgstack", historySql: "SELECT count(*) AS n FROM pgstack.migrations", run: (db) => pgstack(db, undefined, true) },
    { key: "pgstackWarm", label: "pgstack, parse cache warm", historySql: "SELECT count(*) AS n FROM pgstack.migrations", run: (db) => pgstack(db, warmCache, false) },
    {
      key: "nodePgMigrate",
      label: "node-pg-migrate 9",
      historySql: "SELECT count(*) AS n FROM public.pgmigrations",
      run: async (db) => {
        // Same driver and connection path as pgstack: a pg client we connect and pass in.
        const client = await connect({ ...db, applicationName: "node-pg-migrate" });
        try {
          await runner({ dbClient: client, dir: migrationsDir, migrationsTable: "pgmigrations", direction: "up", singleTransaction: false, log: quiet });
        } finally {
          await client.end();
        }
      },
    },
    {
      key: "postgresMigrations",
      label: "postgres-migrations 5.3",
      historySql: "SELECT count(*) AS n FROM public.migrations WHERE id > 0", // id 0 is its own table
      run: async (db) => {
        const client = await connect({ ...db, applicationName: "postgres-migrations" });
        try {
          await postgresMigrate({ client }, migrationsDir, { logger: quiet });
        } finally {
          await client.end();
        }
      },
    },
  ];
}

/** Runs the apply measure; returns report lines and JSON keys. */
export async function benchApply(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const n = opts.migrations;
  const { migrationsDir, driver } = writeMigrations(path.join(tmp, "apply"), n);
  progress(`apply: generated ${n} migration files in ${migrationsDir}`);
  // The parser's WebAssembly is loaded once per process in every pgstack command; the warm-up
  // round pays it, as the other tools' warm-up pays their module loading.
  await loadSqlParser();
  const split: PgstackSplit[] = [];
  const list = await contenders(migrationsDir, driver, n, split);

  // Every database exists before the first timing: round 0 is the warm-up.
  const dbName = (round: number, key: string) => `bench_apply_r${round}_${key.toLowerCase()}`;
  const totalRounds = opts.rounds + 1;
  let started = performance.now();
  for (let r = 0; r < totalRounds; r++) {
    for (const c of list) await admin.query(`CREATE DATABASE ${quoteIdent(dbName(r, c.key))}`);
  }
  progress(`apply: created ${totalRounds * list.length} databases in ${since(started).toFixed(1)} s`);

  const samples = Object.fromEntries(list.map((c) => [c.key, [] as number[]])) as Record<Key, number[]>;
  for (let r = 0; r < totalRounds; r++) {
    const warmUp = r === 0;
    const line: string[] = [];
    for (const c of rotate(list, r)) {
      const db: ConnectionOptions = { ...server.admin, database: dbName(r, c.key) };
      await settle(admin);
      started = performance.now();
      await c.run(db);
      const seconds = since(started);
      await verifyApply(db, c, n);
      if (!warmUp) samples[c.key].push(seconds);
      line.push(`${c.label} ${seconds.toFixed(2)} s`);
    }
    if (warmUp) split.length = 0;
    progress(`apply ${warmUp ? "warm-up" : `round ${r}/${opts.rounds}`}: ${line.join(", ")}`);
  }
  const m = Object.fromEntries(list.map((c) => [c.key, median(samples[c.key])])) as Record<Key, number>;
  const ratio = (k: Key) => m[k] / m.floor;
  const paired = (k: Key) => pairedRatio(samples[k], samples.floor);
  const applyRatio = ratio("pgstack");
  const beatsPeers = m.pgstack < m.nodePgMigrate && m.pgstack < m.postgresMigrations;
  const load = median(split.map((s) => s.load));
  const apply = median(split.map((s) => s.apply));
  const row = (label: string, k: Key) =>
    `  ${label.padEnd(28)} ${m[k].toFixed(3).padStart(8)} s  ${ratio(k).toFixed(2).padStart(6)}×  ${(k === "floor" ? 1 : paired(k)).toFixed(2).padStart(6)}×`;
  const lines = [
    `applyRatio — apply ${n} migrations, each in its own transaction, everything counted (ratio of medians to the`,
    `psql floor, and "paired": the median of per-round ratios):`,
    `  ${"".padEnd(28)} ${"median".padStart(10)}  ${"ratio".padStart(7)}  ${"paired".padStart(7)}`,
    ...list.map((c) => row(c.label, c.key)),
    `  profile: pgstack = read + checksum + parse ${load.toFixed(3)} s + connect, plan and apply ${apply.toFixed(3)} s ` +
      `(apply alone ${(apply / m.floor).toFixed(2)}× the floor)`,
    `  goal: pgstack ≤ ${APPLY_GOAL}× floor: ${verdict(applyRatio <= APPLY_GOAL)} (${applyRatio.toFixed(2)}×); faster than both peers: ${verdict(beatsPeers)}`,
  ];
  const summary = {
    migrations: n,
    applyRatio: r4(applyRatio),
    applyRatioPaired: r4(paired("pgstack")),
    applyRatioWarmCache: r4(ratio("pgstackWarm")),
    nodePgMigrateRatio: r4(ratio("nodePgMigrate")),
    postgresMigrationsRatio: r4(ratio("postgresMigrations")),
    nodePgMigrateRatioPaired: r4(paired("nodePgMigrate")),
    postgresMigrationsRatioPaired: r4(paired("postgresMigrations")),
    floorSeconds: r4(m.floor),
    pgstackSeconds: r4(m.pgstack),
    pgstackLoadSeconds: r4(load),
    pgstackApplySeconds: r4(apply),
    pgstackWarmCacheSeconds: r4(m.pgstackWarm),
    nodePgMigrateSeconds: r4(m.nodePgMigrate),
    postgresMigrationsSeconds: r4(m.postgresMigrations),
    applySamples: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, v.map(r4)])),
    applyMet: applyRatio <= APPLY_GOAL,
    beatsPeers,
  };
  return { lines, summary };
}
