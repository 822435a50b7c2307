/**
 * introspectRatio: pgstack's `introspect()` (which reads every kind of the schema model) against
 * `pg_dump --schema-only` on one database of T tables plus T/4 views, functions and triggers each
 * (2,000 tables: 500 of each).
 */
import * as path from "node:path";
import type pg from "pg";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import type { TestServer } from "../../test/support/postgres.js";
import { pad, TABLE_PREFIX, writeMigrations } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { libpqArgs, libpqEnv, PG_DUMP, runBinary, runPsqlDriver } from "./processes.js";
import { median, progress, rotate, settle, since } from "./stats.js";

/** The introspection goal: at most this fraction of pg_dump's time. */
export const INTROSPECT_GOAL = 0.4;

/**
 * The views, functions and triggers beside the tables (untimed set-up): view k reads table k,
 * function k is a plpgsql function of its own, trigger k runs one shared trigger function on table k.
 */
export function logicSql(objects: number, width: number): string {
  const out = ["CREATE FUNCTION bench_touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created_at := now(); RETURN NEW; END $$;"];
  for (let k = 1; k <= objects; k++) {
    const t = `${TABLE_PREFIX}${pad(k, width)}`;
    out.push(
      `CREATE VIEW bench_v${k} AS SELECT id, name, amount FROM ${t} WHERE active AND amount > ${k};`,
      `CREATE FUNCTION bench_f${k}(x integer, note text DEFAULT NULL) RETURNS integer LANGUAGE plpgsql STABLE AS $$ BEGIN RETURN x + ${k}; END $$;`,
      `CREATE TRIGGER ${t}_touch BEFORE UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION bench_touch();`,
    );
  }
  return out.join("\n");
}

/** Medians of the introspection part, in seconds. */
export interface IntrospectResult {
  pgstack: number;
  pgDump: number;
  samples: { pgstack: number[]; pgDump: number[] };
  setupSeconds: number;
}

export async function benchIntrospect(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<IntrospectResult> {
  const n = opts.tables;
  const objects = Math.max(1, Math.floor(n / 4));
  const { driver } = writeMigrations(path.join(tmp, "introspect"), n);
  const db: ConnectionOptions = { ...server.admin, database: "bench_introspect" };
  await admin.query(`CREATE DATABASE ${quoteIdent(db.database)}`);
  // Set-up, not timed: the same generator, applied by psql.
  let started = performance.now();
  await runPsqlDriver(db, driver);
  const logic = await connect(db);
  try {
    await logic.query(logicSql(objects, Math.max(4, String(n).length)));
  } finally {
    await logic.end();
  }
  const setupSeconds = since(started);
  progress(`introspect: built ${n} tables and ${objects} views, functions and triggers each in ${setupSeconds.toFixed(1)} s`);

  // pg_dump must really dump the tables it is timed on: check once, untimed.
  const dump = await runBinary(PG_DUMP, ["--schema-only", ...libpqArgs(db)], libpqEnv(db), true);
  const count = (re: RegExp) => dump.match(re)?.length ?? 0;
  const dumped = { tables: count(/^CREATE TABLE /gm), views: count(/^CREATE VIEW /gm), functions: count(/^CREATE FUNCTION /gm), triggers: count(/^CREATE TRIGGER /gm) };
  const expected = { tables: n, views: objects, functions: objects + 1, triggers: objects };
  if (JSON.stringify(dumped) !== JSON.stringify(expected)) throw new Error(`pg_dump --schema-only printed ${JSON.stringify(dumped)} CREATE statements, expected ${JSON.stringify(expected)}`);

  const contenders: { key: "pgstack" | "pgDump"; label: string; run(): Promise<void> }[] = [
    {
      key: "pgstack",
      label: "pgstack introspect()",
      run: async () => {
        const client = await connect(db); // a fresh connection each run, as a refresh would open
        try {
          // As the verification reads it: a second session for a large schema.
          const inventory = await introspect(client, { helpers: db });
          if (inventory.tables.length !== n) throw new Error(`introspect() found ${inventory.tables.length} tables, expected ${n}`);
          const indexed = inventory.tables.filter((t) => t.indexes.length >= 2).length;
          if (indexed !== n) throw new Error(`introspect() found a secondary index on ${indexed} of ${n} tables`);
          const { views, functions, triggers } = inventory.snapshot;
          const read = { views: Object.keys(views).length, functions: Object.keys(functions).length, triggers: Object.keys(triggers).length };
          const want = { views: objects, functions: objects + 1, triggers: objects };
          if (JSON.stringify(read) !== JSON.stringify(want)) throw new Error(`introspect() read ${JSON.stringify(read)}, expected ${JSON.stringify(want)}`);
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

