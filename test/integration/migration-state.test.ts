/**
 * MigrationSet's state stays small as the history grows: applied migrations are kept as
 * `file@sha256`, SQL only for pending ones. Driven through the provider handlers in the order
 * the engine calls them (check → diff → create/update), against a real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, loadSqlParser, type ConnectionOptions } from "../../infra/lifecycle/index.js";
import { IDLE_CONNECTION_MS, closeIdleConnections, connectionStats } from "../../infra/providers/common.js";
import { migrations, setLogger, type MigrationInput, type MigrationSetInputs, type MigrationSetOutputs } from "../../infra/providers/kinds.js";
import { freshDatabase, query } from "../support/db.js";
import { until } from "../support/until.js";

const logs: string[] = [];
beforeAll(async () => {
  await loadSqlParser();
  setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) });
});
afterAll(closeIdleConnections);

async function ownedDatabase(): Promise<{ conn: ConnectionOptions; owner: string }> {
  const conn = await freshDatabase("mstate");
  const owner = `${conn.database}_owner`;
  await query(conn, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER SCHEMA public OWNER TO ${owner}`);
  return { conn, owner };
}

/** `n` small migrations as the program passes them (every one with its SQL). */
function generated(n: number): MigrationInput[] {
  return Array.from({ length: n }, (_, k) => {
    const i = k + 1;
    const name = `${String(i).padStart(4, "0")}_create_table_number_${i}`;
    const sql = `CREATE TABLE t${i} (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  name text NOT NULL,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n`;
    return { id: i, name, file: `migrations/app/${name}.sql`, checksum: `${String(i).padStart(8, "0")}${"ab".repeat(28)}`, inTransaction: true, sql };
  });
}

/** The committed fltr_auth migrations, with paths relative to the project, as the program passes them. */
async function authMigrations(): Promise<MigrationInput[]> {
  return (await loadMigrations("migrations/fltr_auth")).map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
}

/** What the engine would store for the resource: checked inputs and outputs. */
function stateBytes(inputs: MigrationSetInputs, outputs: MigrationSetOutputs): number {
  return Buffer.byteLength(JSON.stringify({ inputs, outputs }));
}

describe("MigrationSet state with a long history", () => {
  it("2,000 applied migrations: the state keeps names and checksums (under 1 MB), SQL only for the one pending", async () => {
    const { conn, owner } = await ownedDatabase();
    const all = generated(2001);
    const program = (n: number): MigrationSetInputs => ({ connection: conn, role: owner, migrations: all.slice(0, n), resetGeneration: 1 });

    // First up: all 2,000 are pending, and their SQL is shown (and stored with this one up).
    const first = await migrations.check({}, program(2000));
    expect(first.failures).toEqual([]);
    expect(first.inputs.migrations).toHaveLength(2000);
    expect(first.inputs.appliedChecksums).toEqual([]);
    const created = (await migrations.create(first.inputs)).outs;
    expect(created.head).toBe(all[1999]!.name);
    expect(JSON.stringify(created)).not.toContain("CREATE TABLE"); // outputs never keep SQL

    // Next preview, nothing new: no SQL left in the inputs, no change.
    const noop = await migrations.check(first.inputs, program(2000));
    expect(noop.inputs.migrations).toEqual([]);
    expect(noop.inputs.appliedChecksums).toHaveLength(2000);
    expect(noop.inputs.migrationsDir).toBe("migrations/app");
    expect(noop.inputs.appliedChecksums?.[0]).toBe(`${all[0]!.name}@${all[0]!.checksum}`);
    expect((await migrations.diff("id", created, noop.inputs)).changes).toBe(false);

    // One more file: only it is pending, with its SQL.
    const next = await migrations.check(noop.inputs, program(2001));
    expect(next.inputs.migrations.map((m) => [m.name, m.sql])).toEqual([[all[2000]!.name, all[2000]!.sql]]);
    expect(next.inputs.appliedChecksums).toHaveLength(2000);
    expect((await migrations.diff("id", created, next.inputs)).changes).toBe(true);
    const updated = (await migrations.update("id", created, next.inputs)).outs;
    expect(updated.applied).toHaveLength(2001);
    expect(await query(conn, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 2001 }]);

    const after = await migrations.check(next.inputs, program(2001));
    const bytes = stateBytes(after.inputs, updated);
    const oldShape = stateBytes(program(2001), { ...program(2001), applied: updated.applied, head: updated.head });
    expect(bytes).toBeLessThan(1_000_000);
    // The measure is meaningful: before the split, the same history stored its SQL twice.
    expect(oldShape).toBeGreaterThan(bytes * 2);
    expect(JSON.stringify(after.inputs)).not.toContain("CREATE TABLE");
    // The outputs hold the history once, as `applied` (name@checksum12), and no list of migrations.
    expect(updated.migrations).toEqual([]);
    expect(updated.appliedChecksums).toBeUndefined();

    // A refresh rebuilds the inputs from the database's history: names and checksums, no SQL.
    const read = await migrations.read("id", updated);
    expect(read.inputs?.migrations).toEqual([]);
    expect(read.inputs?.appliedChecksums).toEqual(after.inputs.appliedChecksums);
    const afterRefresh = await migrations.check(read.inputs, program(2001));
    expect(afterRefresh.inputs).toEqual(after.inputs);
    expect((await migrations.diff("id", read.props!, afterRefresh.inputs)).changes).toBe(false);
  }, 120_000);

  it("a state written before the split (every migration with its SQL) previews with no change and shrinks", async () => {
    const { conn, owner } = await ownedDatabase();
    const ms = await authMigrations();
    const old: MigrationSetInputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1 };
    // What the previous provider stored: its inputs, and outputs that copied them, SQL included.
    const outs = (await migrations.create(old)).outs;
    const oldOutputs: MigrationSetOutputs = { ...old, applied: outs.applied, head: outs.head };

    const checked = await migrations.check(old, { ...old });
    expect(checked.failures).toEqual([]);
    expect(checked.inputs.migrations).toEqual([]);
    expect(checked.inputs.appliedChecksums).toEqual(ms.map((m) => `${m.name}@${m.checksum}`));
    expect(checked.inputs.migrationsDir).toBe("migrations/fltr_auth");
    expect((await migrations.diff("id", oldOutputs, checked.inputs)).changes).toBe(false);
    // An update (e.g. for new provider code) runs nothing and stores no SQL.
    logs.length = 0;
    const updated = (await migrations.update("id", oldOutputs, checked.inputs)).outs;
    expect(updated.applied).toEqual(outs.applied);
    expect(logs.filter((l) => l.includes("applied 000"))).toEqual([]);
    expect(JSON.stringify(updated)).not.toContain("CREATE TABLE");

    // A new migration added after the upgrade is the only pending one.
    const extra: MigrationInput = { id: 4, name: "0004_add_notes", file: "migrations/fltr_auth/0004_add_notes.sql", checksum: "c".repeat(64), inTransaction: true, sql: "CREATE TABLE notes (id int);" };
    const next = await migrations.check(old, { ...old, migrations: [...ms, extra] });
    expect(next.inputs.migrations.map((m) => m.name)).toEqual(["0004_add_notes"]);
    const applied = (await migrations.update("id", updated, next.inputs)).outs;
    expect(applied.head).toBe("0004_add_notes");
  });

  it("the program sends names and checksums: check reads the pending migrations' SQL from their files, and an older state previews with no change", async () => {
    const { conn, owner } = await ownedDatabase();
    const withSql = await authMigrations();
    const ms = withSql.map(({ sql: _sql, ...m }) => m);
    const program: MigrationSetInputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1 };
    // The preview shows every pending migration with its SQL, as the file holds it.
    const first = await migrations.check({}, program);
    expect(first.failures).toEqual([]);
    expect(first.inputs.migrations).toEqual(withSql);
    const outs = (await migrations.create(first.inputs)).outs;
    expect(outs.head).toBe(withSql.at(-1)!.name);
    // Applied: kept as checksums, their files not read (a checksum no file has would fail a read).
    const stored = (await migrations.check(first.inputs, program)).inputs;
    const renamed = { ...program, migrations: ms.map((m) => ({ ...m, file: `${m.file}.gone` })) };
    expect(await migrations.check(first.inputs, renamed)).toMatchObject({ failures: [], inputs: { migrations: [] } });

    // A state written before the split (every migration with its SQL): no change, and it shrinks.
    const old: MigrationSetInputs = { ...program, migrations: withSql };
    const oldOutputs: MigrationSetOutputs = { ...old, applied: outs.applied, head: outs.head };
    const upgraded = await migrations.check(old, program);
    expect(upgraded.inputs).toEqual(stored);
    expect((await migrations.diff("id", oldOutputs, upgraded.inputs)).changes).toBe(false);

    // A pending file that changed since the program read it fails the check, naming it; so does a missing one.
    const extra: MigrationInput = { id: 4, name: "0004_add_notes", file: "migrations/fltr_auth/0004_add_notes.sql", checksum: "c".repeat(64), inTransaction: true };
    const missing = await migrations.check(stored, { ...program, migrations: [...ms, extra] });
    expect(missing.failures.map((f) => f.reason)).toEqual([expect.stringMatching(/^migrations\/fltr_auth\/0004_add_notes\.sql:1:1[\s\S]*0004_add_notes is pending, but its file cannot be read/)]);
    const edited = await migrations.check({}, { ...program, migrations: ms.map((m, i) => (i === 2 ? { ...m, checksum: "e".repeat(64) } : m)) });
    expect(edited.failures[0]?.reason).toMatch(/0003_create_credits\.sql:1:1[\s\S]*0003_create_credits is pending, but its file changed since the program read it \(sha256 then eeeeeeeeeeee…, file now [0-9a-f]{12}…\)/);
  });

  it("an edited or deleted applied migration fails check naming each file, without the inputs' values", async () => {
    const { conn, owner } = await ownedDatabase();
    const ms = await authMigrations();
    const first = await migrations.check({}, { connection: conn, role: owner, migrations: ms, resetGeneration: 1 });
    const stored = (await migrations.check(first.inputs, { connection: conn, role: owner, migrations: ms, resetGeneration: 1 })).inputs;
    const edited = structuredClone(ms);
    edited[0]!.checksum = "e".repeat(64);
    edited.pop();
    const { failures } = await migrations.check(stored, { connection: conn, role: owner, migrations: edited, resetGeneration: 1 });
    expect(failures.map((f) => f.property)).toEqual(["", ""]);
    expect(failures[0]?.reason).toMatch(/^migrations\/fltr_auth\/0001_create_users_and_sessions\.sql was edited after it was applied \(recorded sha256 [0-9a-f]{12}…, file now eeeeeeeeeeee…\)/);
    expect(failures[1]?.reason).toContain("0003_create_credits (version 3, #3 in the history) is recorded as applied, but no migration file has version 3");
    for (const f of failures) {
      expect(f.reason).toContain("Applied migrations are immutable");
      expect(f.reason).not.toContain("CREATE TABLE");
    }
    // After a reset (new generation) the history starts again: edits are allowed.
    expect((await migrations.check(stored, { connection: conn, role: owner, migrations: edited, resetGeneration: 2 })).failures).toEqual([]);
  });

  it("when the database lost history the state knew of, the apply re-reads those files and checks their sha256", async () => {
    const { conn, owner } = await ownedDatabase();
    const ms = await authMigrations();
    const program: MigrationSetInputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1 };
    const outs = (await migrations.create((await migrations.check({}, program)).inputs)).outs;
    const stored = (await migrations.check(program, program)).inputs;
    expect(stored.migrations).toEqual([]);

    // Someone restores an empty database by hand: the history and the tables are gone.
    await query(conn, `DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION ${owner}; DELETE FROM pgstack.migrations`);
    logs.length = 0;
    const again = (await migrations.update("id", outs, stored)).outs;
    expect(logs).toContain(`${conn.database}: reading 3 applied migration file(s) the database has no record of`);
    expect(again.applied).toEqual(outs.applied);
    expect(await query(conn, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 9 }]);

    // A file whose bytes are not the recorded ones is refused, and nothing runs.
    await query(conn, `DROP SCHEMA public CASCADE; CREATE SCHEMA public AUTHORIZATION ${owner}; DELETE FROM pgstack.migrations`);
    const tampered = { ...stored, appliedChecksums: stored.appliedChecksums!.map((k, i) => (i === 1 ? k.replace(/@.*$/, `@${"0".repeat(64)}`) : k)) };
    await expect(migrations.update("id", outs, tampered)).rejects.toThrow(
      /migrations\/fltr_auth\/0002_create_teams_and_subscriptions\.sql:1:1[\s\S]*changed since it was applied/,
    );
    expect(await query(conn, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 0 }]);
  });

  it("calls on one database reuse the connection the previous call left idle", async () => {
    const { conn, owner } = await ownedDatabase();
    const ms = await authMigrations();
    const program: MigrationSetInputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1 };
    const before = { ...connectionStats };
    const outs = (await migrations.create(program)).outs;
    await migrations.read("id", outs);
    await migrations.read("id", outs);
    expect(connectionStats.opened - before.opened).toBe(1);
    expect(connectionStats.reused - before.reused).toBe(2);
    const sessions = await query<{ n: number }>(conn, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgstack (pulumi)'");
    expect(sessions).toEqual([{ n: 1 }]);
    // Idle connections close on their own, so none is left in the way of a DROP DATABASE.
    // (Polled: the server removes the row once the backend has exited, which a loaded machine delays.)
    const started = Date.now();
    await until(async () => (await query<{ n: number }>(conn, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgstack (pulumi)'"))[0]!.n === 0, 15_000, "the idle connection to close");
    expect(Date.now() - started).toBeGreaterThanOrEqual(IDLE_CONNECTION_MS - 100);
  });
});
