import { beforeAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as path from "node:path";
import { loadMigrations, loadSqlParser, type ConnectionOptions, type ManagedSchema } from "../../infra/lifecycle/index.js";
import {
  migrations,
  reset,
  verification,
  type MigrationInput,
  type MigrationSetInputs,
  type ResetInputs,
  type VerificationInputs,
} from "../../infra/providers/kinds.js";
import { expectationsOf, parseStackConfig } from "../../infra/config.js";
import { freshDatabase, query } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";
import { rawStackConfig } from "../support/stack-config.js";
import { inventoryByTable, inventoryFromState } from "../../infra/lifecycle/inventory.js";
import { tempDir } from "../support/temp.js";

const logs = captureProviderLogs();
beforeAll(loadSqlParser);

/** A database as the postgresql provider leaves it: owner role, app role, schema owned by the owner. */
async function provisioned(): Promise<{ conn: ConnectionOptions; owner: string; app: string; schemas: ManagedSchema[] }> {
  const conn = await freshDatabase("prov");
  const owner = `${conn.database}_owner`;
  const app = `${conn.database}_app`;
  await query(conn, `CREATE ROLE ${owner}; CREATE ROLE ${app}; GRANT ${owner} TO CURRENT_USER; ALTER SCHEMA public OWNER TO ${owner}; GRANT USAGE ON SCHEMA public TO ${app}`);
  return { conn, owner, app, schemas: [{ name: "public", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT"], sequences: [] }] }] };
}

/** The fltr_auth migrations as the program passes them, optionally from another folder. */
async function migrationInputs(dir = "migrations/fltr_auth"): Promise<MigrationInput[]> {
  return (await loadMigrations(dir)).map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
}

const authExpectations = () => expectationsOf(parseStackConfig(rawStackConfig("dev"), "dev").databases[1]!);

describe("the dynamic providers against a real PostgreSQL", () => {
  it("create, then a no-op second create, then a new migration through diff and update, then drift through read", async () => {
    const { conn, owner, schemas } = await provisioned();
    const r: ResetInputs = { connection: conn, stack: "dev", configPath: "pgstack:databases[1].reset", generation: 1, allowed: true, acceptDataLoss: false, schemas, backup: "b" };
    const resetOut = (await reset.create(r)).outs;
    expect(resetOut.action).toBe("adopted");

    const m: MigrationSetInputs = { connection: conn, role: owner, migrations: await migrationInputs(), resetGeneration: 1 };
    const created = await migrations.create(m);
    expect(created.outs.head).toBe("0003_create_credits");
    expect(logs.filter((l) => l.includes("applied 000"))).toHaveLength(3);

    const v: VerificationInputs = { connection: conn, schemas: ["public"], expectations: authExpectations(), migrationHead: created.outs.head };
    const verified = (await verification.create(v)).outs;
    // The state keeps one JSON text per table (a tenth of the engine's cost of nested objects).
    expect(Object.values(verified.inventory).every((t) => typeof t === "string")).toBe(true);
    const tables = inventoryByTable(inventoryFromState(verified.inventory));
    expect(Object.keys(verified.inventory)).toEqual(Object.keys(tables));
    expect(Object.keys(tables)).toEqual([
      "public.accounts", "public.api_key_credits", "public.credit_transactions", "public.sessions", "public.subscriptions",
      "public.teams", "public.user_credits", "public.users", "public.verifications",
    ]);
    expect(Object.entries(tables).flatMap(([table, t]) => t.foreignKeys.map((f) => `${table}: ${f}`)).filter((f) => f.includes("public.users(id)"))).toHaveLength(3);
    expect(verified.drift).toBe("in sync");

    // A second create (e.g. after a lost state) applies nothing and the reset stays put.
    logs.length = 0;
    expect((await reset.create(r)).outs.action).toBe("unchanged");
    const again = await migrations.create(m);
    expect(again.outs.applied).toEqual(created.outs.applied);
    expect(logs.some((l) => l.includes("up to date (3 migrations applied)"))).toBe(true);
    expect((await migrations.diff("id", again.outs, m)).changes).toBe(false);

    // A new migration: diff reports it, update applies it.
    const dir = tempDir("pgstack-migs-");
    fs.cpSync("migrations/fltr_auth", dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "0004_add_team_members.sql"), "CREATE TABLE team_members (team_id text NOT NULL REFERENCES teams (id), user_id text NOT NULL REFERENCES users (id), PRIMARY KEY (team_id, user_id));\n");
    const m2 = { ...m, migrations: await migrationInputs(dir) };
    expect((await migrations.diff("id", again.outs, m2)).changes).toBe(true);
    const updated = await migrations.update("id", again.outs, m2);
    expect(updated.outs.head).toBe("0004_add_team_members");
    expect((await verification.diff("id", verified, { ...v, migrationHead: updated.outs.head })).changes).toBe(true);
    const reverified = (await verification.update("id", verified, { ...v, migrationHead: updated.outs.head })).outs;
    expect(Object.keys(reverified.inventory)).toContain("public.team_members");
    expect(reverified.fingerprint).not.toBe(verified.fingerprint);

    // Drift: a manual ALTER TABLE, then read (refresh) shows the inventory and fingerprint changed.
    await query(conn, "ALTER TABLE users ADD COLUMN nickname text");
    const readResult = await verification.read("id", reverified);
    expect(readResult.id).toBe("id");
    const read = { props: readResult.props!, inputs: readResult.inputs! };
    expect(read.props.fingerprint).not.toBe(reverified.fingerprint);
    expect(read.props.verifiedFingerprint).toBe(reverified.fingerprint);
    expect(read.props.drift).toMatch(/^drifted: the structure changed since the last up /); // a state without the declared schema
    expect(inventoryByTable(inventoryFromState(read.props.inventory))["public.users"]?.columns).toContain("nickname text");
    expect(read.inputs).toEqual({ connection: conn, schemas: ["public"], expectations: v.expectations, migrationHead: "0004_add_team_members" });
    // …and the next up re-verifies.
    expect((await verification.diff("id", read.props, read.inputs)).changes).toBe(true);

    // A history row deleted by hand shows as drift in the MigrationSet's read.
    await query(conn, "DELETE FROM pgstack.migrations WHERE id = 4");
    const mread = { props: (await migrations.read("id", updated.outs)).props! };
    expect(mread.props.head).toBe("0003_create_credits");
    expect((await migrations.diff("id", mread.props, m2)).changes).toBe(true);
  });

  it("read reports a resource gone when its database was dropped outside pgstack", async () => {
    const { conn, owner } = await provisioned();
    const outs = (await migrations.create({ connection: conn, role: owner, migrations: await migrationInputs(), resetGeneration: 1 })).outs;
    await query({ ...conn, database: "postgres" }, `DROP DATABASE ${conn.database} WITH (FORCE)`);
    expect(await migrations.read("id", outs)).toEqual({});
    await expect(migrations.update("id", outs, outs)).rejects.toThrow(/cannot connect to .*does not exist/);
  });

  it("refuses an edited applied migration at check and at apply, naming the file", async () => {
    const { conn, owner } = await provisioned();
    const m: MigrationSetInputs = { connection: conn, role: owner, migrations: await migrationInputs(), resetGeneration: 1 };
    const outs = (await migrations.create(m)).outs;
    const edited = structuredClone(m);
    edited.migrations[1]!.sql += "\n-- tweaked";
    edited.migrations[1]!.checksum = "f".repeat(64);
    const { failures } = await migrations.check(m, edited);
    expect(failures[0]?.reason).toContain("migrations/fltr_auth/0002_create_teams_and_subscriptions.sql was edited after it was applied");
    await expect(migrations.update("id", outs, edited)).rejects.toThrow(/0002_create_teams_and_subscriptions\.sql was edited after it was applied/);
  });

  it("a generation bump: diff replaces, the replacement nukes and rebuilds, and the migrations re-apply from zero", async () => {
    const { conn, owner, app, schemas } = await provisioned();
    const r1: ResetInputs = { connection: conn, stack: "dev", configPath: "pgstack:databases[1].reset", generation: 1, allowed: true, acceptDataLoss: false, schemas, backup: "b1" };
    const reset1 = (await reset.create(r1)).outs;
    const m1: MigrationSetInputs = { connection: conn, role: owner, migrations: await migrationInputs(), resetGeneration: 1 };
    const mig1 = (await migrations.create(m1)).outs;

    const r2 = { ...r1, generation: 2, backup: "b2" };
    expect((await reset.check(r1, r2)).failures).toEqual([]);
    expect(await reset.diff("id", reset1, r2)).toMatchObject({ replaces: ["generation"], deleteBeforeReplace: true });
    await reset.delete("id", reset1);
    const reset2 = (await reset.create(r2)).outs;
    expect(reset2.action).toBe("reset");
    expect(reset2.droppedTables).toContain("public.users (0 rows)");
    expect(logs).toContain(`${conn.database}: dropping schema public (CASCADE)`);
    expect(await query(conn, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);

    const m2 = { ...m1, resetGeneration: 2 };
    expect((await migrations.diff("id", mig1, m2)).changes).toBe(true);
    const mig2 = (await migrations.update("id", mig1, m2)).outs;
    expect(mig2.applied).toEqual(mig1.applied);
    expect(await query(conn, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 9 }]);
    expect(await query(conn, `SELECT has_table_privilege('${app}', 'public.users', 'SELECT') AS ok`)).toEqual([{ ok: true }]);
  });

  it("refuses a reset of tables with rows unless data loss was accepted for that generation, and where resets are not allowed", async () => {
    const { conn, owner, schemas } = await provisioned();
    const r1: ResetInputs = { connection: conn, stack: "dev", configPath: "pgstack:databases[1].reset", generation: 1, allowed: true, acceptDataLoss: false, schemas, backup: "b" };
    await reset.create(r1);
    await migrations.create({ connection: conn, role: owner, migrations: await migrationInputs(), resetGeneration: 1 });
    await query(conn, "INSERT INTO users (id, name, email) VALUES ('u1', 'Ada', 'ada@example.com'); INSERT INTO user_credits (user_id, balance) VALUES ('u1', 5)");

    await expect(reset.create({ ...r1, generation: 2 })).rejects.toThrow(/public\.user_credits: 1 row\(s\)[\s\S]*public\.users: 1 row\(s\)[\s\S]*reset\.acceptDataLoss: 2/);
    expect(await query(conn, "SELECT count(*)::int AS n FROM users")).toEqual([{ n: 1 }]);
    // A stack that may not reset never nukes, even if `check` was bypassed.
    await expect(reset.create({ ...r1, generation: 2, allowed: false, acceptDataLoss: true })).rejects.toThrow(/does not allow resetting database/);
    expect(await query(conn, "SELECT count(*)::int AS n FROM users")).toEqual([{ n: 1 }]);

    const done = await reset.create({ ...r1, generation: 2, acceptDataLoss: true });
    expect(done.outs.droppedTables).toContain("public.users (1 rows)");
    expect(await query(conn, "SELECT to_regclass('public.users') AS t")).toEqual([{ t: null }]);
  });

  it("reports every unmet expectation at create", async () => {
    const { conn, owner } = await provisioned();
    await migrations.create({ connection: conn, role: owner, migrations: (await migrationInputs()).slice(0, 1), resetGeneration: 1 });
    const err = (await verification
      .create({ connection: conn, schemas: ["public"], expectations: authExpectations(), migrationHead: "0001" })
      .catch((e: unknown) => e)) as Error;
    expect(err.message).toContain("8 expectation(s) unmet");
    expect(err.message).toContain("table teams is missing");
    expect(err.message).toContain("foreign key api_key_credits.user_id -> users.id: table api_key_credits is missing");
  });
});
