/**
 * Every kind of object the schema model reads (schemas, extensions, collations, enums, domains,
 * composite types, sequences, views, materialized views, functions, procedures, triggers, event
 * triggers, row-level security, policies, default privileges, identity and generated columns,
 * column collations, check and exclusion constraints, partitions, comments), built by migrations
 * on the real server, changed by hand through the providers' refresh and `up`: each change and
 * each removal is exactly one drift line, `up` keeps reporting it, undoing it clears it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import pg from "pg";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadMigrations, loadSqlParser, migrationsDigest, readSchema, schemaDdl, type ConnectionOptions, type ManagedSchema } from "../../infra/lifecycle/index.js";
import { migrations, setLogger, verification, type MigrationInput, type VerificationInputs, type VerificationOutputs } from "../../infra/providers/kinds.js";
import { closeClients, connectTo, freshDatabase, query, serverMajor, superuserConnection } from "../support/db.js";
import { EVERY_KIND_FILES, EVERY_KIND_SCHEMAS, HAND_CHANGES, lineFor, type HandChange } from "../support/every-kind.js";
import { tempDir } from "../support/temp.js";

beforeAll(async () => {
  await loadSqlParser();
  setLogger({ info: () => undefined, warn: () => undefined });
});
afterEach(closeClients);

/** A database as the stack leaves it (owned by its owner role), with the fixture's migrations applied through the MigrationSet. */
async function everyKindStack(): Promise<{ conn: ConnectionOptions; owner: string; v: VerificationInputs }> {
  const conn = await freshDatabase("kinds");
  const owner = `${conn.database}_owner`;
  await query(conn, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER DATABASE ${conn.database} OWNER TO ${owner}`);
  const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [] }];
  await query(conn, schemaDdl(schemas[0]!).join(";\n"));
  const dir = tempDir("pgstack-kinds-");
  for (const [name, sql] of Object.entries(EVERY_KIND_FILES)) fs.writeFileSync(path.join(dir, name), sql);
  const ms: MigrationInput[] = (await loadMigrations(dir)).map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
  const applied = (await migrations.create({ connection: conn, role: owner, migrations: ms, resetGeneration: 1 })).outs;
  const declared = { dir, digest: migrationsDigest(ms), role: owner, policy: "warn" as const, accept: [], configPath: "pgstack:databases[0].drift" };
  const v: VerificationInputs = { connection: conn, schemas: [...EVERY_KIND_SCHEMAS], expectations: { tables: [], foreignKeys: [] }, migrationHead: applied.head, grants: schemas, declared };
  return { conn, owner, v };
}

async function refresh(props: VerificationOutputs): Promise<VerificationOutputs> {
  return (await verification.read("id", props)).props!;
}

/** Runs a hand-made change's SQL: as the owner (as someone with the owner's password would), or as the superuser. */
async function byHand(conn: ConnectionOptions, owner: string, c: HandChange, sql: string): Promise<void> {
  if (!sql) return;
  if (c.superuser) await query({ ...superuserConnection(), database: conn.database }, sql);
  else await query(conn, `SET ROLE ${owner}; ${sql}; RESET ROLE`);
}

describe(`every kind of object, in drift (PostgreSQL ${serverMajor()})`, () => {
  it("is read from a database the migrations built, and equals the declared schema", async () => {
    const { conn, owner, v } = await everyKindStack();
    const created = (await verification.create(v)).outs;
    expect(created.driftReport).toEqual([]);
    const cl = await connectTo(conn);
    const live = await readSchema(cl, { schemas: [...EVERY_KIND_SCHEMAS] });
    expect(Object.keys(live.schemas)).toEqual(["audit", "public"]);
    expect(live.extensions["citext"]).toEqual({ version: "1.5", schema: "public" });
    // An extension's own objects (citext's type and functions) are the extension's, not listed.
    expect(Object.keys(live.types)).toEqual(["public.address", "public.email", "public.mood", "public.priority"]);
    expect(Object.keys(live.functions)).toEqual(["public.account_count()", "public.reset_balances()", "public.touch_updated_at()"]);
    expect(live.types["public.mood"]).toEqual({ kind: "enum", labels: ["sad", "ok", "happy"] });
    expect(live.types["public.email"]).toMatchObject({ kind: "domain", base: "text", constraints: { email_check: "CHECK ((VALUE ~~ '%@%'::text))" } });
    expect(live.types["public.address"]).toEqual({ kind: "composite", attributes: { street: "text", city: "text" } });
    expect(live.sequences).toMatchObject({
      "public.order_number_seq": { type: "bigint", start: "1000", increment: "1", cycle: false, ownedBy: null },
      "public.bookings_id_seq": { type: "integer", ownedBy: "public.bookings.id" },
    });
    // Identity columns' sequences are their columns'.
    expect(Object.keys(live.sequences)).toHaveLength(2);
    expect(live.views["public.active_accounts"]).toEqual({ materialized: false, definition: expect.stringMatching(/WHERE \((accounts\.)?balance > \(0\)::numeric\);$/) });
    expect(live.views["public.account_moods"]).toMatchObject({ materialized: true, indexes: { "public.account_moods_mood_idx": expect.stringContaining("(mood)") } });
    expect(live.functions["public.touch_updated_at()"]).toEqual({
      kind: "function", returns: "trigger", language: "plpgsql", volatility: "volatile", securityDefiner: false, strict: false, config: [],
      body: "\nBEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND\n",
    });
    expect(live.functions["public.account_count()"]).toMatchObject({ language: "sql", volatility: "stable", body: expect.stringContaining("BEGIN ATOMIC") });
    expect(live.functions["public.reset_balances()"]).toMatchObject({ kind: "procedure", returns: null });
    expect(live.triggers["accounts_touch on public.accounts"]).toEqual({ definition: expect.stringContaining("EXECUTE FUNCTION public.touch_updated_at()"), enabled: "enabled" });
    expect(live.policies["own_rows on public.accounts"]).toEqual({ command: "select", permissive: true, roles: ["PUBLIC"], using: "(owner_name = CURRENT_USER)", withCheck: null });
    expect(live.defaultPrivileges).toEqual({ [`for role ${owner} in schema audit on tables`]: { PUBLIC: "SELECT" } });
    expect(live.collations["public.plain_c"]).toMatchObject({ provider: "libc", deterministic: true });
    const accounts = live.tables["public.accounts"]!;
    expect(accounts).toMatchObject({ rowSecurity: "enabled", comment: "who pays" });
    expect(accounts.columns["id"]).toMatchObject({ identity: "always" });
    expect(accounts.columns["balance_cents"]).toMatchObject({ generated: "stored", default: "((balance * (100)::numeric))::bigint" });
    expect(accounts.columns["name"]).toMatchObject({ collation: 'pg_catalog."C"' });
    expect(accounts.columns["mood"]).toMatchObject({ type: "public.mood", comment: "how they feel" });
    expect(live.tables["public.events"]?.partitionKey).toBe("RANGE (at)");
    expect(live.tables["public.events_2026"]).toMatchObject({ partitionOf: "public.events", partitionBound: "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')" });
    expect(live.tables["audit.log"]?.columns["id"]).toMatchObject({ identity: "by default" });
  });

  it("names each constraint's columns in key order, past a dropped column, and a system column (tableoid) too", async () => {
    const conn = await freshDatabase("keys");
    await query(
      conn,
      `CREATE TABLE parent (a int, b int, PRIMARY KEY (b, a));
       CREATE TABLE child (gone int, x int, y int, z int, CONSTRAINT child_parent FOREIGN KEY (z, x) REFERENCES parent (b, a),
                           CONSTRAINT child_sane CHECK (tableoid <> 0 AND y > 0), CONSTRAINT child_yx UNIQUE (y, x));
       ALTER TABLE child DROP COLUMN gone`,
    );
    const live = await readSchema(await connectTo(conn), { schemas: ["public"], history: false });
    expect(live.tables["public.parent"]?.constraints["parent_pkey"]).toMatchObject({ kind: "primary key", columns: ["b", "a"] });
    const child = live.tables["public.child"]!;
    expect(child.constraints["child_parent"]).toMatchObject({ kind: "foreign key", columns: ["z", "x"], references: { table: "public.parent", columns: ["b", "a"] } });
    expect(child.constraints["child_yx"]).toMatchObject({ kind: "unique", columns: ["y", "x"] });
    expect(child.constraints["child_sane"]).toMatchObject({ kind: "check", columns: ["tableoid", "y"] });
  });

  it("read over two sessions sharing one snapshot (a large schema's read), every kind is what one session reads; the session is left outside a transaction", async () => {
    const { conn } = await everyKindStack();
    const alone = await readSchema(await connectTo(conn));
    const sent = vi.spyOn(pg.Client.prototype, "query");
    try {
      const imports = () => sent.mock.calls.filter(([sql]) => typeof sql === "string" && sql.includes("SET TRANSACTION SNAPSHOT")).length;
      const main = await connectTo(conn);
      expect(await readSchema(main, { helpers: conn, parallelFrom: 0 })).toEqual(alone);
      expect(imports()).toBe(1);
      // The snapshot's transaction is over: a SAVEPOINT needs one.
      await expect(main.query("SAVEPOINT after_read")).rejects.toThrow(/can only be used in transaction blocks/);
      // A helper that cannot connect leaves its part to the one session; a small schema opens none.
      expect(await readSchema(await connectTo(conn), { helpers: { ...conn, password: "not-the-password" }, parallelFrom: 0 })).toEqual(alone);
      expect(await readSchema(await connectTo(conn), { helpers: conn })).toEqual(alone);
      expect(imports()).toBe(1);
    } finally {
      sent.mockRestore();
    }
  });

  it("each hand-made change and each removal is exactly one line; undoing it by hand clears it", async () => {
    const { conn, owner, v } = await everyKindStack();
    const created = (await verification.create(v)).outs;
    for (const c of HAND_CHANGES) {
      await byHand(conn, owner, c, c.change);
      expect({ kind: c.kind, report: (await refresh(created)).driftReport }).toEqual({ kind: c.kind, report: [lineFor(c, owner)] });
      await byHand(conn, owner, c, c.undo);
      expect({ kind: c.kind, undone: (await refresh(created)).driftReport }).toEqual({ kind: c.kind, undone: [] });
    }
  });

  it("all of them at once: refresh names each, `up` keeps reporting them, undoing them all by hand clears them", async () => {
    const { conn, owner, v } = await everyKindStack();
    const created = (await verification.create(v)).outs;
    // Removals that would hide a change of the same object, and a second change of one object (one line per object), are left for the one-by-one test.
    const alone = ["view (removed)", "materialized view (removed)", "policy (removed)", "trigger (removed)", "default privileges (removed)", "sequence (removed)", "enum (removed)", "function security"];
    const together = HAND_CHANGES.filter((c) => !alone.includes(c.kind));
    for (const c of together) await byHand(conn, owner, c, c.change);
    const refreshed = await refresh(created);
    const expected = together.map((c) => lineFor(c, owner));
    const report = refreshed.driftReport ?? [];
    expect([...report].sort()).toEqual([...expected].sort());
    expect(refreshed.drift).toMatch(/^drifted: /);
    if (process.env["PGSTACK_PRINT_DRIFT"]) console.log(`drift report, every kind changed by hand (PostgreSQL ${serverMajor()}):\n${report.join("\n")}`);

    const upped = (await verification.update("id", refreshed, v)).outs;
    expect(upped.driftReport).toEqual(report);
    expect((await refresh(upped)).driftReport).toEqual(report);

    for (const c of [...together].reverse()) await byHand(conn, owner, c, c.undo);
    const undone = await refresh(upped);
    expect(undone.driftReport).toEqual([]);
    expect(undone.drift).toBe("in sync");
  });
});
