/**
 * Repeatable migrations (`R__name.sql`) against a real PostgreSQL, through the MigrationSet's
 * handlers in the order the engine calls them (check → diff → create/update) and through the
 * core: a view edited twice re-applies twice (one `pgstack.repeatables` row per checksum), an
 * unchanged folder previews as a no-op, a failing function reports file:line:col and leaves
 * nothing of its file, repeatables run after the versioned ones, a reset re-applies them, an
 * adoption records only versioned ones, a history an older pgstack wrote gains the table, and
 * the safety check judges (and the rehearsal runs) exactly the repeatables that will re-run.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  applyMigrations,
  ensureHistory,
  loadMigrations,
  loadSqlParser,
  readDatabaseState,
  resetDatabase,
  type ConnectionOptions,
  type ManagedSchema,
} from "../../infra/lifecycle/index.js";
import { PROFILES } from "../../infra/lifecycle/safety/index.js";
import { closeIdleConnections } from "../../infra/providers/common.js";
import { migrations, safety, type MigrationSetInputs, type SafetyInputs } from "../../infra/providers/kinds.js";
import { closeClients, connectTo, freshDatabase, query, superuserConnection } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";

const FIXTURE = "test/fixtures/repeatable/migrations";
const logs = captureProviderLogs();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-repeatable-"));
beforeAll(loadSqlParser);
afterEach(closeClients);
afterAll(async () => {
  await closeIdleConnections();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A database as the stack leaves it before the migrations: owner role, public owned by it, the admin a member. */
async function owned(prefix: string): Promise<{ conn: ConnectionOptions; owner: string; schemas: ManagedSchema[] }> {
  const conn = await freshDatabase(prefix);
  const owner = `${conn.database}_owner`;
  await query(conn, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER`);
  // By the superuser: before PostgreSQL 15 `public` belongs to it, not to the database's owner.
  await query({ ...superuserConnection(), database: conn.database }, `ALTER SCHEMA public OWNER TO ${owner}`);
  return { conn, owner, schemas: [{ name: "public", owner, grants: [] }] };
}

/** A copy of the fixture folder to edit. */
function folder(): string {
  const dir = fs.mkdtempSync(path.join(tmp, "m-"));
  fs.cpSync(FIXTURE, dir, { recursive: true });
  return dir;
}

async function inputsOf(dir: string) {
  return (await loadMigrations(dir)).map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
}

const runs = async (conn: ConnectionOptions) =>
  query<{ name: string; checksum: string }>(conn, "SELECT name, checksum FROM pgstack.repeatables ORDER BY applied_at");
const viewColumns = async (conn: ConnectionOptions) =>
  (await query<{ column_name: string }>(conn, "SELECT column_name FROM information_schema.columns WHERE table_name = 'item_names' ORDER BY ordinal_position")).map((r) => r.column_name);

describe("repeatable migrations through the MigrationSet", () => {
  it("a view edited twice re-applies twice (each checksum in the history); unchanged previews as a no-op", async () => {
    const { conn, owner } = await owned("rep");
    const dir = folder();
    const view = path.join(dir, "R__views.sql");
    const base = (migrations: MigrationSetInputs["migrations"]): MigrationSetInputs => ({ connection: conn, role: owner, migrations, resetGeneration: 1 });

    // First up: everything runs, the repeatables after the versioned one, by name.
    const first = base(await inputsOf(dir));
    const checked1 = await migrations.check(undefined, first);
    expect(checked1.failures).toEqual([]);
    expect(logs).toContain(`${conn.database}: repeatable R__views will run for the first time (${view})`);
    const created = await migrations.create(checked1.inputs);
    expect(logs.filter((l) => l.includes(": applied ")).map((l) => /applied (\S+)/.exec(l)?.[1])).toEqual(["0001_create_items", "R__functions", "R__views"]);
    expect(created.outs.head).toBe("0001_create_items");
    expect(created.outs.applied.map((k) => k.split("@")[0])).toEqual(["0001_create_items", "R__functions", "R__views"]);
    expect(await viewColumns(conn)).toEqual(["id", "name"]);
    const v1 = (await runs(conn)).find((r) => r.name === "R__views")?.checksum;

    // Unchanged: no re-run, nothing in the preview, no diff.
    logs.length = 0;
    const checked2 = await migrations.check(checked1.inputs, base(await inputsOf(dir)));
    expect(checked2.inputs.migrations).toEqual([]);
    expect(logs.filter((l) => l.includes("repeatable"))).toEqual([]);
    expect((await migrations.diff("id", created.outs, checked2.inputs)).changes).toBe(false);

    // Edit 1: the preview names the re-run and shows the definition's diff; up applies it.
    fs.writeFileSync(view, fs.readFileSync(view, "utf8").replace("SELECT id, name", "SELECT id, name, price"));
    logs.length = 0;
    const checked3 = await migrations.check(checked2.inputs, base(await inputsOf(dir)));
    expect(checked3.inputs.migrations.map((m) => m.name)).toEqual(["R__views"]);
    const preview = logs.join("\n");
    expect(preview).toContain(`${conn.database}: repeatable R__views will run again (sha256 ${v1?.slice(0, 12)}…`);
    expect(preview).toContain("  -  SELECT id, name\n  +  SELECT id, name, price");
    expect(preview).not.toContain("R__functions");
    expect((await migrations.diff("id", created.outs, checked3.inputs)).changes).toBe(true);
    logs.length = 0;
    const updated = await migrations.update("id", created.outs, checked3.inputs);
    expect(logs.filter((l) => l.includes(": applied ")).map((l) => /applied (\S+)/.exec(l)?.[1])).toEqual(["R__views"]);
    expect(await viewColumns(conn)).toEqual(["id", "name", "price"]);

    // Edit 2: applied again.
    fs.writeFileSync(view, fs.readFileSync(view, "utf8").replace("SELECT id, name, price", "SELECT id, name, price, updated_at"));
    const checked4 = await migrations.check(checked3.inputs, base(await inputsOf(dir)));
    expect((await migrations.diff("id", updated.outs, checked4.inputs)).changes).toBe(true);
    const updated2 = await migrations.update("id", updated.outs, checked4.inputs);
    expect(await viewColumns(conn)).toEqual(["id", "name", "price", "updated_at"]);

    const history = await runs(conn);
    const viewRuns = history.filter((r) => r.name === "R__views").map((r) => r.checksum);
    expect(viewRuns).toHaveLength(3);
    expect(new Set(viewRuns).size).toBe(3);
    expect(viewRuns[2]).toBe(checked4.inputs.migrations[0]?.checksum);
    expect(history.filter((r) => r.name === "R__functions")).toHaveLength(1);
    expect(await query(conn, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 1 }]);

    // Refresh reads the repeatables' latest runs back: no change afterwards.
    const read = await migrations.read("id", updated2.outs);
    expect(read.props?.applied).toEqual(updated2.outs.applied);
    expect(read.inputs?.appliedChecksums?.filter((k) => k.startsWith("R__"))).toHaveLength(2);
    const checked5 = await migrations.check(read.inputs, base(await inputsOf(dir)));
    expect(checked5.inputs.migrations).toEqual([]);
    expect((await migrations.diff("id", read.props as never, checked5.inputs)).changes).toBe(false);
  });

  it("a repeatable function that fails to compile fails up at its file:line:col and leaves nothing of its file", async () => {
    const { conn, owner } = await owned("repfail");
    const dir = folder();
    const file = path.join(dir, "R__functions.sql");
    // A helper that would apply on its own, then a PL/pgSQL body with a syntax error on line 9.
    fs.writeFileSync(
      file,
      [
        "CREATE OR REPLACE FUNCTION item_label(i items) RETURNS text",
        "LANGUAGE sql AS $$ SELECT i.name $$;",
        "",
        "CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger",
        "LANGUAGE plpgsql AS $$",
        "BEGIN",
        "  NEW.updated_at := now();",
        "  RETURN NEW;",
        "  IF THEN",
        "END",
        "$$;",
        "",
      ].join("\n"),
    );
    const inputs: MigrationSetInputs = { connection: conn, role: owner, migrations: await inputsOf(dir), resetGeneration: 1 };
    const err = (await migrations.create((await migrations.check(undefined, inputs)).inputs).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(err).toBeInstanceOf(Error);
    // The message's wording varies by major ("missing expression" on 15); the place and SQLSTATE do not.
    expect(err.message.startsWith(`Migration R__functions failed: ${file}:9:6: `)).toBe(true);
    expect(err.message).toMatch(/at or near "THEN" \(SQLSTATE 42601\)\n\s+IF THEN\n\s+\^/);
    expect(err.message).toContain("R__functions was rolled back");
    // The versioned migration before it stays applied; nothing of the failing file, no history row; the view after it did not run.
    expect(await query(conn, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 1 }]);
    expect(await runs(conn)).toEqual([]);
    expect(await query(conn, "SELECT proname FROM pg_proc WHERE proname IN ('item_label', 'touch_updated_at')")).toEqual([]);
    expect(await viewColumns(conn)).toEqual([]);
  });

  it("repeatables run after every pending versioned migration; a new versioned one does not re-run unchanged repeatables", async () => {
    const { conn, owner } = await owned("reporder");
    const dir = folder();
    // The view needs a column a later versioned migration adds: only the order makes it apply.
    fs.writeFileSync(path.join(dir, "0002_add_sku.sql"), "ALTER TABLE items ADD COLUMN sku text;\n");
    fs.writeFileSync(path.join(dir, "R__views.sql"), "CREATE OR REPLACE VIEW item_names AS SELECT id, name, sku FROM items;\n");
    const cl = await connectTo(conn);
    const all = await loadMigrations(dir);
    const state = await readDatabaseState(cl, all);
    expect(state.pending.map((m) => m.name)).toEqual(["0001_create_items", "0002_add_sku", "R__functions", "R__views"]);
    const first = await applyMigrations(cl, all, { database: conn.database, role: owner });
    expect(first.error).toBeUndefined();
    expect(first.results.map((r) => r.name)).toEqual(["0001_create_items", "0002_add_sku", "R__functions", "R__views"]);
    expect(await viewColumns(conn)).toEqual(["id", "name", "sku"]);

    fs.writeFileSync(path.join(dir, "0003_add_stock.sql"), "ALTER TABLE items ADD COLUMN stock int NOT NULL DEFAULT 0;\n");
    const next = await applyMigrations(cl, await loadMigrations(dir), { database: conn.database, role: owner });
    expect(next.results.map((r) => r.name)).toEqual(["0003_add_stock"]);
    expect(await runs(conn)).toHaveLength(2);
  });

  it("a reset re-applies every repeatable; adoption records the versioned ones only and runs the repeatables", async () => {
    const { conn, owner, schemas } = await owned("represet");
    const cl = await connectTo(conn);
    const all = await loadMigrations(FIXTURE);
    await resetDatabase(cl, { database: conn.database, generation: 1, schemas, acceptDataLoss: false }); // records generation 1
    expect((await applyMigrations(cl, all, { database: conn.database, role: owner })).error).toBeUndefined();
    expect(await runs(conn)).toHaveLength(2);
    await resetDatabase(cl, { database: conn.database, generation: 2, schemas, acceptDataLoss: true });
    expect(await runs(conn)).toEqual([]);
    const state = await readDatabaseState(cl, all, { generation: 2 });
    expect(state.pending.map((m) => m.name)).toEqual(["0001_create_items", "R__functions", "R__views"]);
    expect(state.repeatables).toEqual([]);
    const again = await applyMigrations(cl, all, { database: conn.database, role: owner });
    expect(again.results.map((r) => r.name)).toEqual(["0001_create_items", "R__functions", "R__views"]);
    expect(await viewColumns(conn)).toEqual(["id", "name"]);

    // Adoption: a database built by hand to 0001 (with the view), no pgstack history.
    const adopted = await owned("repadopt");
    await query(adopted.conn, `SET ROLE ${adopted.owner}; ${all[0]?.sql}; CREATE VIEW item_names AS SELECT id, name FROM items`);
    const acl = await connectTo(adopted.conn);
    const planned: number[] = [];
    const planner = async (_c: unknown, ms: readonly { id: number }[]) => {
      planned.push(ms.length);
      return { count: 1, source: "stated" as const, message: "adopting at 0001" };
    };
    const adoptState = await readDatabaseState(acl, all, { adoption: planner });
    expect(planned).toEqual([1]); // the planner sees the versioned migrations only
    expect(adoptState.pending.map((m) => m.name)).toEqual(["R__functions", "R__views"]);
  });

  it("a history an older pgstack wrote (no repeatables table): read-only reads work, the next up adds the table", async () => {
    const { conn, owner } = await owned("repold");
    const cl = await connectTo(conn);
    const all = await loadMigrations(FIXTURE);
    expect((await applyMigrations(cl, all.slice(0, 1), { database: conn.database, role: owner })).error).toBeUndefined();
    await query(conn, "DROP TABLE pgstack.repeatables");
    const state = await readDatabaseState(cl, all);
    expect(state.repeatables).toEqual([]);
    expect(state.pending.map((m) => m.name)).toEqual(["R__functions", "R__views"]);
    expect(await query(conn, "SELECT to_regclass('pgstack.repeatables') IS NULL AS missing")).toEqual([{ missing: true }]);
    await ensureHistory(cl);
    expect((await applyMigrations(cl, all, { database: conn.database, role: owner })).results.map((r) => r.name)).toEqual(["R__functions", "R__views"]);
    expect((await runs(conn)).map((r) => r.name)).toEqual(["R__functions", "R__views"]);
  });

  it("the safety check judges the repeatables that will re-run, and the rehearsal runs them on a copy", async () => {
    const { conn, owner } = await owned("repsafe");
    const dir = folder();
    const cl = await connectTo(conn);
    expect((await applyMigrations(cl, await loadMigrations(dir), { database: conn.database, role: owner })).error).toBeUndefined();
    await closeClients();
    const inputs = async (policy: SafetyInputs["policy"]): Promise<SafetyInputs> => ({ connection: conn, role: owner, migrations: await inputsOf(dir), policy, configPath: "pgstack:safety", resetGeneration: 1 });
    const report = () => logs.filter((l) => l.startsWith(`safety ${conn.database}`) || l.startsWith("  "));

    logs.length = 0;
    expect((await safety.check(undefined, await inputs(PROFILES.prod))).failures).toEqual([]);
    expect(report()[0]).toBe(`safety ${conn.database}, prod policy: 0 pending migration(s) → safe`);

    // The view now drops the table under it: judged like any migration (prod refuses the data loss).
    await query(conn, "INSERT INTO items (name) VALUES ('a'), ('b')");
    fs.writeFileSync(path.join(dir, "R__views.sql"), "DROP VIEW IF EXISTS item_names;\nDROP TABLE items;\n");
    logs.length = 0;
    const refused = await safety.check(undefined, await inputs(PROFILES.prod));
    expect(refused.failures[0]?.reason).toMatch(/R__views\.sql:2:1[\s\S]*items[\s\S]*2 row/);
    expect(report()).toContain("  pending: R__views");

    // dev rehearses the re-run on a throwaway copy; the real view is untouched.
    fs.writeFileSync(path.join(dir, "R__views.sql"), "CREATE OR REPLACE VIEW item_names AS SELECT id, name, price FROM items;\n");
    logs.length = 0;
    expect((await safety.check(undefined, await inputs(PROFILES.dev))).failures).toEqual([]);
    expect(logs).toContain("rehearsing R__views (1/1)");
    expect(logs.join("\n")).not.toMatch(/rehearsing (0001|R__functions)/);
    expect(await viewColumns(conn)).toEqual(["id", "name"]);
  });
});
