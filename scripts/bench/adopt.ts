/**
 * adoptRatio: adopting a database that N migrations built (100) against applying the same N
 * with pgstack's apply, in the same run.
 *
 * Setup (untimed): N generated migrations (generate.ts: tables, indexes, foreign keys, rows); a
 * template database built by them as the owner, with pgstack's history then dropped (as another
 * tool or `create_all` would leave it); one copy of it per timed run, and one empty database per
 * timed run for the apply.
 *
 * Timed, round-robin per round (medians of the timed rounds after one warm-up), each from the
 * files on disk with no parse cache (on disk or in the process), connection included:
 *   - the floor: `loadMigrations` + `applyMigrations` of the N on the empty database;
 *   - adoption: `loadMigrations` + `applyMigrations` with the adopter `up` uses (the MigrationSet's
 *     `adopt`: the live schema read, the migrations built in a scratch database and compared at
 *     every version, the N recorded as `baselined`), on a copy of the built database.
 *   - adoption as an `up` runs it (adoptUpRatio): the three plans one dynamic-provider process
 *     makes (the MigrationSet's check and the safety check read the state model with adoption's
 *     planner, then the apply with the adopter records the N), on another copy.
 *   - adoption's floor (adoptFloorRatio): what any adoption that measures rather than guesses
 *     must do beyond the apply, done once and as plainly as possible: read the live schema (a
 *     third copy), create an empty database on the bench's open connection, apply the N there,
 *     read its schema, compare the two (they must be equal) and drop it. Adoption also reads the
 *     table keys after each version and compares every version that could match, so it cannot
 *     go below this.
 * Each run is verified: N history rows, all `baselined` for adoption and none for the apply.
 */
import * as path from "node:path";
import type pg from "pg";
import { adoptionInput, adoptionOptions, adoptionPlanner } from "../../infra/importers/adoption.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { ADOPTION_LABELS, baselineAdopter } from "../../infra/lifecycle/baseline.js";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { forgetParses, loadSqlParser } from "../../infra/lifecycle/sql.js";
import { diffSchemas, readSchema } from "../../infra/lifecycle/schema/index.js";
import { readDatabaseState } from "../../infra/lifecycle/state.js";
import type { TestServer } from "../../test/support/postgres.js";
import { writeMigrations } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { count, median, pairedRatio, progress, r4, rotate, settle, since, verdict } from "./stats.js";

/** Goal of the issue: adopting costs at most 1.5× applying the same migrations. */
export const ADOPT_GOAL = 1.5;
const OWNER = "bench_adopt_owner";

/** The adopt measure, as report lines and keys. */
export async function benchAdopt(admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const n = opts.adoptMigrations;
  await loadSqlParser();
  const { migrationsDir } = writeMigrations(path.join(tmp, "adopt"), n);
  const tpl = "bench_adopt_tpl";
  const created: string[] = [];
  type Kind = "adopt" | "adoptUp" | "apply" | "floor";
  const name = (kind: Kind, r: number) => `bench_adopt_${kind}_r${r}`;
  const db = (database: string): ConnectionOptions => ({ ...server.admin, database });
  try {
    await admin.query(`CREATE ROLE ${OWNER}`);
    await admin.query(`CREATE DATABASE ${tpl} OWNER ${OWNER}`);
    created.push(tpl);
    const t = await connect(db(tpl));
    try {
      const built = await applyMigrations(t, await loadMigrations(migrationsDir), { database: tpl, role: OWNER });
      if (built.error) throw built.error;
      // What another tool leaves: the tables, and no pgstack history.
      await t.query("DROP SCHEMA pgstack CASCADE");
    } finally {
      await t.end();
    }
    for (let r = 0; r <= opts.rounds; r++) {
      for (const kind of ["adopt", "adoptUp", "floor"] as const) {
        await admin.query(`CREATE DATABASE ${quoteIdent(name(kind, r))} TEMPLATE ${tpl} OWNER ${OWNER}`);
        created.push(name(kind, r));
      }
      await admin.query(`CREATE DATABASE ${quoteIdent(name("apply", r))} OWNER ${OWNER}`);
      created.push(name("apply", r));
    }
    progress(`adopt: ${n} migrations; the built database and ${4 * (opts.rounds + 1)} copies are ready (not timed)`);

    const floor = async (r: number): Promise<number> => {
      forgetParses();
      const started = performance.now();
      const migrations = await loadMigrations(migrationsDir);
      const live = await connect(db(name("floor", r)));
      const scratch = `bench_adopt_floor_scratch_r${r}`;
      try {
        const liveSchema = await readSchema(live, { schemas: ["public"] });
        await admin.query(`CREATE DATABASE ${quoteIdent(scratch)} OWNER ${OWNER}`);
        const built = await connect(db(scratch));
        let declared;
        try {
          const res = await applyMigrations(built, migrations, { database: scratch, role: OWNER });
          if (res.error) throw res.error;
          declared = await readSchema(built, { schemas: ["public"] });
        } finally {
          await built.end();
        }
        const differences = diffSchemas(declared, liveSchema, { history: false, structureOnly: true, labels: ADOPTION_LABELS });
        await admin.query(`DROP DATABASE ${quoteIdent(scratch)}`);
        const seconds = since(started);
        if (differences.length > 0) throw new Error(`adopt: the floor's build differs from the built database: ${differences.slice(0, 3).join("; ")}`);
        return seconds;
      } finally {
        await live.end();
        await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(scratch)}`);
      }
    };

    const run = async (kind: Kind, r: number): Promise<number> => {
      if (kind === "floor") return floor(r);
      const database = name(kind, r);
      // Each run parses the files as a process of its own would: once, while loading.
      forgetParses();
      const started = performance.now();
      const migrations = await loadMigrations(migrationsDir);
      const client = await connect(db(database));
      try {
        const input = adoptionInput({ connection: db(database), role: OWNER }, migrations);
        if (kind === "adoptUp") {
          // The MigrationSet's check, then the safety check: each plans adoption in the same process.
          for (let check = 0; check < 2; check++) await readDatabaseState(client, migrations, { database, adoption: adoptionPlanner(input) });
        }
        const adopt = kind === "apply" ? {} : { adopt: baselineAdopter(database, adoptionOptions(input)) };
        const res = await applyMigrations(client, migrations, { database, role: OWNER, ...adopt });
        const seconds = since(started);
        if (res.error) throw res.error;
        const baselined = await count(client, "SELECT count(*) AS n FROM pgstack.migrations WHERE baselined");
        const rows = await count(client, "SELECT count(*) AS n FROM pgstack.migrations");
        const expected = kind === "apply" ? { ran: n, baselined: 0 } : { ran: 0, baselined: n };
        if (res.results.length !== expected.ran || baselined !== expected.baselined || rows !== n) {
          throw new Error(`adopt: ${kind} on ${database} ran ${res.results.length}, recorded ${rows} (${baselined} baselined); expected ${expected.ran} run and ${n} recorded (${expected.baselined} baselined)`);
        }
        return seconds;
      } finally {
        await client.end();
      }
    };

    const samples = { adopt: [] as number[], adoptUp: [] as number[], apply: [] as number[], floor: [] as number[] };
    for (let r = 0; r <= opts.rounds; r++) {
      const times: Record<string, number> = {};
      for (const kind of rotate(["adopt", "adoptUp", "apply", "floor"] as const, r)) {
        await settle(admin);
        times[kind] = await run(kind, r);
      }
      progress(`adopt ${r === 0 ? "warm-up" : `round ${r}/${opts.rounds}`}: adopt ${times["adopt"]?.toFixed(3)} s, adopt as an up ${times["adoptUp"]?.toFixed(3)} s, apply ${times["apply"]?.toFixed(3)} s, adoption's floor ${times["floor"]?.toFixed(3)} s`);
      if (r === 0) continue;
      samples.adopt.push(times["adopt"] ?? Number.NaN);
      samples.adoptUp.push(times["adoptUp"] ?? Number.NaN);
      samples.apply.push(times["apply"] ?? Number.NaN);
      samples.floor.push(times["floor"] ?? Number.NaN);
    }
    const adopt = median(samples.adopt);
    const apply = median(samples.apply);
    const ratio = adopt / apply;
    const paired = pairedRatio(samples.adopt, samples.apply);
    const adoptUp = median(samples.adoptUp);
    const upRatio = adoptUp / apply;
    const floorSeconds = median(samples.floor);
    const floorRatio = floorSeconds / apply;
    return {
      lines: [
        `adoptRatio — adopting a database built by ${n} migrations vs applying the same ${n} (load + apply, medians of ${opts.rounds}):`,
        `  apply ${apply.toFixed(3)} s, adoption ${adopt.toFixed(3)} s: ${ratio.toFixed(2)}× (paired ${paired.toFixed(2)}×); goal ≤ ${ADOPT_GOAL}×: ${verdict(ratio <= ADOPT_GOAL)}`,
        `  as an \`up\` runs it (the MigrationSet's check, the safety check, the apply: one process) ${adoptUp.toFixed(3)} s: ${upRatio.toFixed(2)}× (paired ${pairedRatio(samples.adoptUp, samples.apply).toFixed(2)}×)`,
        `  adoption's floor (one build in a new database, two schema reads, one comparison, the drop) ${floorSeconds.toFixed(3)} s: ${floorRatio.toFixed(2)}× the apply; adoption is ${(adopt / floorSeconds).toFixed(2)}× its floor`,
      ],
      summary: {
        adoptMigrations: n,
        adoptSeconds: r4(adopt),
        adoptApplySeconds: r4(apply),
        adoptRatio: r4(ratio),
        adoptRatioPaired: r4(paired),
        adoptMet: ratio <= ADOPT_GOAL,
        adoptUpSeconds: r4(adoptUp),
        adoptUpRatio: r4(upRatio),
        adoptFloorSeconds: r4(floorSeconds),
        adoptFloorRatio: r4(floorRatio),
        adoptOverFloor: r4(adopt / floorSeconds),
      },
    };
  } finally {
    for (const d of created.reverse()) await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(d)}`).catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${OWNER}`).catch(() => undefined);
  }
}
