/** introspectRatio: pgstack's `introspect()` against `pg_dump --schema-only` on one database of T tables. */
import * as path from "node:path";
import type pg from "pg";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import type { TestServer } from "../../test/support/postgres.js";
import { writeMigrations } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { libpqArgs, libpqEnv, PG_DUMP, runBinary, runPsqlDriver } from "./processes.js";
import { median, progress, rotate, settle, since } from "./stats.js";

/** The introspection goal: at most this fraction of pg_dump's time. */
export const INTROSPECT_GOAL = 0.4;

/** Medians of the introspection part, in seconds. */
export interface IntrospectResult {
  pgstack: number;
  pgDump: number;
  samples: { pgstack: number[]; pgDump: number[] };
  setupSeconds: number;
}

export async function benchIntrospect(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<IntrospectResult> {
  const n = opts.tables;
  const { driver } = writeMigrations(path.join(tmp, "introspect"), n);
  const db: ConnectionOptions = { ...server.admin, database: "bench_introspect" };
  await admin.query(`CREATE DATABASE ${quoteIdent(db.database)}`);
  // Set-up, not timed: the same generator, applied by psql.
  let started = performance.now();
  await runPsqlDriver(db, driver);
  const setupSeconds = since(started);
  progress(`introspect: built ${n} tables in ${setupSeconds.toFixed(1)} s`);

  // pg_dump must really dump the tables it is timed on: check once, untimed.
  const dump = await runBinary(PG_DUMP, ["--schema-only", ...libpqArgs(db)], libpqEnv(db), true);
  const dumped = dump.match(/^CREATE TABLE /gm)?.length ?? 0;
  if (dumped !== n) throw new Error(`pg_dump --schema-only printed ${dumped} CREATE TABLE statements, expected ${n}`);

  const contenders: { key: "pgstack" | "pgDump"; label: string; run(): Promise<void> }[] = [
    {
      key: "pgstack",
      label: "pgstack introspect()",
      run: async () => {
        const client = await connect(db); // a fresh connection each run, as a refresh would open
        try {
          const inventory = await introspect(client);
          if (inventory.tables.length !== n) throw new Error(`introspect() found ${inventory.tables.length} tables, expected ${n}`);
          const indexed = inventory.tables.filter((t) => t.indexes.length >= 2).length;
          if (indexed !== n) throw new Error(`introspect() found a secondary index on ${indexed} of ${n} tables`);
        } finally {
          await client.end();
        }
      },
    },
    {
      key: "pgDump",
      label: "pg_dump --schema-only",
      run: async () => {
        await runBinary(PG_DUMP, ["--schema-only", "-f", "/dev/null", ...libpqArgs(db)], libpqEnv(db));
      },
    },
  ];
  const samples = { pgstack: [] as number[], pgDump: [] as number[] };
  for (let r = 0; r <= opts.rounds; r++) {
    const line: string[] = [];
    for (const c of rotate(contenders, r)) {
      await settle(admin);
      started = performance.now();
      await c.run();
      const seconds = since(started);
      if (r > 0) samples[c.key].push(seconds);
      line.push(`${c.label} ${seconds.toFixed(3)} s`);
    }
    progress(`introspect ${r === 0 ? "warm-up" : `round ${r}/${opts.rounds}`}: ${line.join(", ")}`);
  }
  return { pgstack: median(samples.pgstack), pgDump: median(samples.pgDump), samples, setupSeconds };
}

