/**
 * Adoption through the MigrationSet provider, as the engine calls it: `check` (preview) names N
 * in the log or fails with the difference; `create` (up) records 0001..N as baselined and runs
 * the rest. The database is fltr_auth's, built by hand as `create_all` would, at version 2 of 3.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { loadMigrations, loadSqlParser, readHistory, type ConnectionOptions } from "../../infra/lifecycle/index.js";
import { migrations, type MigrationInput, type MigrationSetInputs } from "../../infra/providers/kinds.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";

const logs = captureProviderLogs();
beforeAll(loadSqlParser);

async function fltrAuthAt2(extra = ""): Promise<{ conn: ConnectionOptions; inputs: MigrationSetInputs }> {
  const conn = await freshDatabase("adoptp");
  const all = await loadMigrations("migrations/fltr_auth");
  // The tables of 0001 and 0002, made by running their SQL as a script (no pgstack history).
  await query(conn, `${all[0]?.sql}\n${all[1]?.sql}\n${extra}`);
  const ms: MigrationInput[] = all.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
  return { conn, inputs: { connection: conn, role: "", migrations: ms, resetGeneration: 1, schemas: ["public"], configPath: "pgstack:databases[1]" } };
}

describe("adoption through the MigrationSet provider", () => {
  it("check names N in the preview's log; create records 0001..0002 as baselined and applies only 0003", async () => {
    const { conn, inputs } = await fltrAuthAt2();
    const inputsNoRole = { ...inputs, role: conn.user };
    const checked = await migrations.check(undefined, inputsNoRole);
    expect(checked.failures).toEqual([]);
    expect(logs).toContain(`${conn.database}: adopting an existing schema at 0002_create_teams_and_subscriptions: 0001..0002 will be recorded as applied without running; 0003 will run`);
    const { outs } = await migrations.create(inputsNoRole);
    expect(outs.head).toBe("0003_create_credits");
    const cl = await connectTo(conn);
    expect((await readHistory(cl)).map((h) => [h.name, h.baselined])).toEqual([
      ["0001_create_users_and_sessions", true],
      ["0002_create_teams_and_subscriptions", true],
      ["0003_create_credits", false],
    ]);
    expect(logs).toContain(`${conn.database}: adopting an existing schema at 0002_create_teams_and_subscriptions: 0001..0002 were recorded as applied without running; 0003 will run`);
    // Once adopted, check says nothing more.
    logs.length = 0;
    expect((await migrations.check(inputsNoRole, inputsNoRole)).failures).toEqual([]);
    expect(logs.filter((l) => l.includes("adopting"))).toEqual([]);
    await closeClients();
  });

  it("a database that matches no version fails check (the preview) with the difference, and a stated wrong baseline too", async () => {
    const { conn, inputs } = await fltrAuthAt2("ALTER TABLE users ADD COLUMN nickname text;");
    const checked = await migrations.check(undefined, { ...inputs, role: conn.user });
    expect(checked.failures).toHaveLength(1);
    // No property: the engine would print every migration's SQL before the reason.
    expect(checked.failures[0]?.property).toBe("");
    expect(checked.failures[0]?.reason).toContain("its schema equals no version of the migrations; the closest is 0002_create_teams_and_subscriptions, with 1 difference(s)");
    expect(checked.failures[0]?.reason).toContain("    ~ public.users: + column nickname text (only in the database)");
    expect(checked.failures[0]?.reason).toContain("set pgstack:databases[1].baseline: <version>");

    const clean = await fltrAuthAt2();
    const stated = await migrations.check(undefined, { ...clean.inputs, role: clean.conn.user, baseline: 1 });
    expect(stated.failures[0]?.reason).toContain(`database "${clean.conn.database}": pgstack:databases[1].baseline: 1 says its schema is at 0001_create_users_and_sessions, but it differs from that version in`);
    expect(stated.failures[0]?.reason).toContain("\n    + table public.teams (only in the database)\n");
    // Nothing was recorded by the preview.
    expect(await query(clean.conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);
  });

  it("check on a database that does not exist yet (a stack about to create it) says nothing", async () => {
    const { inputs } = await fltrAuthAt2();
    const missing = { ...inputs, connection: { ...inputs.connection, database: "no_such_db_adopt" } };
    expect((await migrations.check(undefined, missing)).failures).toEqual([]);
    expect(logs).toEqual([]);
  });
});
