/**
 * The one migration state model (`readDatabaseState`) against a real Postgres: pgstack's history,
 * a new reset generation, an interrupted no-transaction migration, and databases another tool
 * migrated (a hand-written golang-migrate `schema_migrations`, Flyway's `flyway_schema_history`),
 * whose versions adoption records without running them and so are not pending. Then the safety
 * check through the MigrationSafety provider on such a database: the prod profile judges only the
 * new migrations, and says in one line how many are adopted.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { adoptionPlanner } from "../../infra/importers/adoption.js";
import { flywayChecksum } from "../../infra/importers/flyway.js";
import {
  applyMigrations,
  ensureHistory,
  loadMigrations,
  loadSqlParser,
  MigrationInterruptedError,
  readDatabaseState,
  writeMarkerSql,
  writeMeta,
  type ConnectionOptions,
  type Migration,
} from "../../infra/lifecycle/index.js";
import { PROFILES } from "../../infra/lifecycle/safety/index.js";
import { closeIdleConnections } from "../../infra/providers/common.js";
import { migrations, safety, type SafetyInputs } from "../../infra/providers/kinds.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";
import { golangMigrateAt, importFixture, runByTool } from "../support/foreign.js";

const FIX = "test/fixtures/importers";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-state-"));
const logs = captureProviderLogs();
beforeAll(loadSqlParser);
afterEach(closeClients);
afterAll(async () => {
  await closeIdleConnections();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const names = (ms: readonly { name: string }[]) => ms.map((m) => m.name);
const adoption = (conn: ConnectionOptions, ms: readonly Migration[], owner?: string) => adoptionPlanner({ connection: conn, schemas: ["public"], migrations: ms, ...(owner ? { owner } : {}) });

describe("pgstack's own history", () => {
  let all: Migration[];
  beforeAll(async () => {
    all = await loadMigrations("test/fixtures/safety/migrations");
  });

  it("applied, pending and the recorded generation; nothing to adopt once the history exists", async () => {
    const conn = await freshDatabase("state");
    const cl = await connectTo(conn);
    expect((await applyMigrations(cl, all.slice(0, 2), { database: conn.database })).error).toBeUndefined();
    await writeMeta(cl, "reset_generation", "3");
    const state = await readDatabaseState(cl, all, { generation: 3, adoption: adoption(conn, all) });
    expect(names(state.applied)).toEqual(names(all.slice(0, 2)));
    expect(names(state.pending)).toEqual(names(all.slice(2)));
    expect(state).toMatchObject({ mismatches: [], afterReset: false, recordedGeneration: 3 });
    expect(state.adoption).toBeUndefined();
    expect(state.interrupted).toBeUndefined();
  });

  it("a new reset generation: everything pending, on the emptied database", async () => {
    const conn = await freshDatabase("state");
    const cl = await connectTo(conn);
    expect((await applyMigrations(cl, all.slice(0, 2), { database: conn.database })).error).toBeUndefined();
    await writeMeta(cl, "reset_generation", "1");
    const state = await readDatabaseState(cl, all, { generation: 2 });
    expect(state).toMatchObject({ afterReset: true, applied: [], recordedGeneration: 1 });
    expect(names(state.pending)).toEqual(names(all));
    // The same generation: the history counts.
    expect(names((await readDatabaseState(cl, all, { generation: 1 })).pending)).toEqual(names(all.slice(2)));
  });

  it("an interrupted no-transaction migration is named, with what may have run; an edited applied file is a mismatch", async () => {
    const conn = await freshDatabase("state");
    const cl = await connectTo(conn);
    expect((await applyMigrations(cl, all.slice(0, 1), { database: conn.database })).error).toBeUndefined();
    const next = all[1]!;
    await cl.query(writeMarkerSql({ id: next.id, name: next.name, file: next.file, checksum: next.checksum, statements: 2, completed: 1 }));
    const state = await readDatabaseState(cl, all);
    expect(state.interrupted).toBeInstanceOf(MigrationInterruptedError);
    expect(state.interrupted?.message).toContain(next.name);
    expect(state.interrupted?.clearSql).toBe(`DELETE FROM pgstack.meta WHERE key = 'running:${next.id}';`);
    const edited = [{ ...all[0]!, checksum: "0".repeat(64) }, ...all.slice(1)];
    expect((await readDatabaseState(cl, edited)).mismatches).toEqual([expect.stringContaining(`${all[0]!.file} was edited after it was applied`)]);
  });

  it("an empty database with no history: nothing adopted, everything pending", async () => {
    const conn = await freshDatabase("state");
    const cl = await connectTo(conn);
    await ensureHistory(cl);
    const state = await readDatabaseState(cl, all, { adoption: adoption(conn, all) });
    expect(state.adoption).toBeUndefined();
    expect(names(state.pending)).toEqual(names(all));
  });
});

describe("another tool's history, mapped onto the files", () => {
  it("golang-migrate: a hand-written schema_migrations at version 2 → 0001..0002 adopted (verified), 0003..0004 pending", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    const conn = await freshDatabase("stategm");
    const cl = await connectTo(conn);
    await runByTool(cl, ms.slice(0, 2));
    await golangMigrateAt(cl, 2);
    const state = await readDatabaseState(cl, ms, { generation: 1, adoption: adoption(conn, ms) });
    expect(state.adoption).toMatchObject({ source: { tool: "golang-migrate" } });
    expect(state.adoption && "migrations" in state.adoption && names(state.adoption.migrations)).toEqual(names(ms.slice(0, 2)));
    expect(names(state.pending)).toEqual(names(ms.slice(2)));
    expect(state.applied).toEqual([]);
    // Read-only: nothing was recorded.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);
    // Without adoption's settings, the same database has everything pending (what the safety check judged before).
    expect(names((await readDatabaseState(cl, ms)).pending)).toEqual(names(ms));
  });

  it("golang-migrate claiming more than the schema holds: the refusal is state, nothing is pending", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    const conn = await freshDatabase("stategm");
    const cl = await connectTo(conn);
    await runByTool(cl, ms.slice(0, 1));
    await golangMigrateAt(cl, 2);
    const state = await readDatabaseState(cl, ms, { adoption: adoption(conn, ms) });
    expect(state.adoption).toEqual({ refusal: expect.stringContaining("golang-migrate's history says its schema is at 0002_create_orders, but it differs") });
    expect(state.pending).toEqual([]);
  });

  it("a history table the owner has and the admin cannot read yet: the preview says so in one line (not a refusal) and judges what follows the version the schema equals", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    const conn = await freshDatabase("stategm");
    const cl = await connectTo(conn);
    await runByTool(cl, ms.slice(0, 2));
    const owner = `${conn.database}_owner`;
    await golangMigrateAt(cl, 2);
    // The tool ran as the owner, whom the admin joins only during `up` (postgresql.GrantRole).
    await cl.query(`CREATE ROLE ${owner}; GRANT CREATE ON SCHEMA public TO ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER TABLE schema_migrations OWNER TO ${owner}; REVOKE ${owner} FROM CURRENT_USER`);
    const state = await readDatabaseState(cl, ms, { adoption: adoption(conn, ms, owner) });
    // The schema alone equals 0002: the preview judges what follows it; up checks it against the history.
    expect(state.adoption).toMatchObject({
      message: expect.stringMatching(/: cannot read public\.schema_migrations \(golang-migrate's history\) yet: the admin "[^"]+" becomes a member of its owner "[^"]+" during up, and up reads it then; the live schema equals 0002_create_orders/),
    });
    expect(state.pending.map((m) => m.id)).toEqual([3, 4]);
    // The MigrationSet's preview passes with that one line (up plans it after the membership), no stack trace.
    const inputs = { connection: conn, role: owner, migrations: ms.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })), resetGeneration: 1, schemas: ["public"] };
    expect((await migrations.check(undefined, inputs)).failures).toEqual([]);
    expect(logs.filter((l) => l.includes("cannot read public.schema_migrations"))).toHaveLength(1);
    expect(logs.join("\n")).not.toMatch(/permission denied|\n\s+at /);
  });

  it("flyway: flyway_schema_history with V1, V1.1 and V2 → 0001..0003 adopted, 0004..0006 pending", async () => {
    const dir = `${FIX}/flyway/db/migration`;
    const ms = await importFixture(tmp, "flyway", dir);
    const conn = await freshDatabase("statefw");
    const cl = await connectTo(conn);
    await runByTool(cl, ms.slice(0, 3));
    await cl.query(`CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,
      script varchar(1000) NOT NULL, checksum int, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL, success boolean NOT NULL)`);
    const insert = `INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES ($1, $2, $3, 'SQL', $4, $5, 'app', 12, true)`;
    const sum = (script: string) => flywayChecksum(fs.readFileSync(`${dir}/${script}`, "utf8"));
    await cl.query(insert, [1, "1", "Create accounts", "V1__Create_accounts.sql", sum("V1__Create_accounts.sql")]);
    await cl.query(insert, [2, "1.1", "Add account email", "V1_1__Add_account_email.sql", sum("V1_1__Add_account_email.sql")]);
    await cl.query(insert, [3, "2", "Create invoices", "billing/V2__Create_invoices.sql", sum("billing/V2__Create_invoices.sql")]);
    const state = await readDatabaseState(cl, ms, { adoption: adoption(conn, ms) });
    expect(state.adoption).toMatchObject({ source: { tool: "flyway" } });
    expect(state.adoption && "migrations" in state.adoption && names(state.adoption.migrations)).toEqual(names(ms.slice(0, 3)));
    expect(names(state.pending)).toEqual(names(ms.slice(3)));
  });
});

describe("the safety check on a database being adopted (MigrationSafety provider)", () => {
  /** A golang-migrate folder whose early migrations would each be refused by prod if judged on today's rows. */
  function folder(): string {
    const dir = fs.mkdtempSync(path.join(tmp, "gm-risky-"));
    const files: Record<string, string> = {
      "000001_create_users.up.sql": "CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, active boolean);\n",
      "000002_create_orders.up.sql": "CREATE TABLE orders (id serial PRIMARY KEY, user_id int);\n",
      // On today's rows: an UPDATE without WHERE, a FOREIGN KEY and a NOT NULL over rows, a DROP.
      "000003_backfill.up.sql": "UPDATE users SET active = true;\nALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);\nALTER TABLE orders ALTER COLUMN user_id SET NOT NULL;\n",
      "000004_add_phone.up.sql": "ALTER TABLE users ADD COLUMN phone text;\n",
    };
    for (const [name, sql] of Object.entries(files)) {
      fs.writeFileSync(path.join(dir, name), sql);
      fs.writeFileSync(path.join(dir, name.replace(".up.", ".down.")), "SELECT 1;\n");
    }
    return dir;
  }

  it("prod: 0 refusals, only 0004 pending, one line says 3 migrations are adopted; without adoption all four were judged on misread rows", async () => {
    const ms = await importFixture(tmp, "golang-migrate", folder());
    const conn = await freshDatabase("statesafe");
    const cl = await connectTo(conn);
    await runByTool(cl, ms.slice(0, 3));
    await golangMigrateAt(cl, 3);
    await cl.query(`INSERT INTO users (name) VALUES ('ada'), ('bob'); INSERT INTO orders (user_id) SELECT id FROM users`);
    const inputs: SafetyInputs = {
      connection: conn,
      role: conn.user,
      migrations: ms.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })),
      policy: PROFILES.prod,
      configPath: "pgstack:safety",
      resetGeneration: 1,
      schemas: ["public"],
      databaseConfigPath: "pgstack:databases[0]",
    };
    const checked = await safety.check(undefined, inputs);
    expect(checked.failures).toEqual([]);
    const report = logs.filter((l) => l.startsWith(`safety ${conn.database}`) || l.startsWith("  "));
    expect(report[0]).toBe(`safety ${conn.database}, prod policy: 1 pending migration(s) → safe`);
    expect(report).toContain(`  adoption: 3 migration(s) will be adopted (recorded as applied without running): ${ms[0]!.name}..${ms[2]!.name}, as golang-migrate's history says (verified)`);
    expect(report).toContain(`  pending: ${ms[3]!.name}`);
    expect(logs.join("\n")).not.toMatch(/created earlier in this batch|UPDATE without WHERE|FOREIGN KEY/);
    // Nothing was recorded by the check.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);

    // The same database judged without adoption (what the check did before issue 16): all four
    // are pending, and the tables that hold rows are said to be empty ("created earlier in this batch").
    logs.length = 0;
    const { schemas: _s, ...withoutAdoption } = inputs;
    await safety.check(undefined, withoutAdoption);
    expect(logs).toContain(`safety ${conn.database}, prod policy: 4 pending migration(s) → warn`);
    expect(logs.join("\n")).toMatch(/UPDATE without WHERE on users overwrites 0 rows \(created earlier in this batch/);

    // dev (rehearsal on): the copy runs only what the next `up` runs, on the adopted rows.
    await closeClients();
    logs.length = 0;
    expect((await safety.check(undefined, { ...inputs, policy: PROFILES.dev })).failures).toEqual([]);
    expect(logs).toContain(`rehearsing ${ms[3]!.name} (1/1)`);
    expect(logs.filter((l) => l.startsWith("rehearsing "))).toHaveLength(1);
  });
});
