/**
 * Drift through the providers' handlers, against a real PostgreSQL: hand-made drift survives an
 * `up`, is cleared only by a migration that makes it real or by undoing it, and a stack whose
 * policy refuses drift refuses (in `check`, before anything runs) unless the config accepts it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { declaredFiles, declaredSchemaCached, DriftRefusedError, loadMigrations, loadSqlParser, migrationsDigest, schemaDdl, type ConnectionOptions, type DeclaredInput, type ManagedSchema } from "../../infra/lifecycle/index.js";
import { SCRATCH_PREFIX } from "../../infra/lifecycle/scratch.js";
import {
  migrations,
  setLogger,
  verification,
  type MigrationInput,
  type VerificationInputs,
  type VerificationOutputs,
} from "../../infra/providers/kinds.js";
import { connect } from "../../infra/lifecycle/connection.js";
import { readSchema } from "../../infra/lifecycle/schema/index.js";
import { freshDatabase, query } from "../support/db.js";
import { inventoryByTable, inventoryFromState } from "../../infra/lifecycle/inventory.js";
import { tempDir } from "../support/temp.js";
import { schemaReadScans } from "../support/catalog-scans.js";

const logs: string[] = [];
beforeAll(async () => {
  await loadSqlParser();
  setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) });
});
afterEach(() => {
  logs.length = 0;
});

/** A database as the stack leaves it: owner and app roles, the schema with its grants and default privileges. */
async function provisioned(): Promise<{ conn: ConnectionOptions; owner: string; schemas: ManagedSchema[] }> {
  const conn = await freshDatabase("drift");
  const owner = `${conn.database}_owner`;
  const app = `${conn.database}_app`;
  await query(conn, `CREATE ROLE ${owner}; CREATE ROLE ${app}; GRANT ${owner} TO CURRENT_USER`);
  const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT", "INSERT"], sequences: [] }] }];
  await query(conn, schemaDdl(schemas[0]!).join(";\n"));
  return { conn, owner, schemas };
}

/** A copy of fltr_auth's migrations in a temporary folder, to add files to. */
function migrationsFolder(): string {
  const dir = tempDir("pgstack-drift-");
  fs.cpSync("migrations/fltr_auth", dir, { recursive: true });
  return dir;
}

async function inputsOf(dir: string): Promise<MigrationInput[]> {
  return (await loadMigrations(dir)).map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
}

async function stackOn(policy: "refuse" | "warn", accept: string[] = []) {
  const { conn, owner, schemas } = await provisioned();
  const dir = migrationsFolder();
  const ms = await inputsOf(dir);
  const m = { connection: conn, role: owner, migrations: ms, resetGeneration: 1 };
  const applied = (await migrations.create(m)).outs;
  const declared: DeclaredInput = { dir, digest: migrationsDigest(ms), role: owner, policy, accept, configPath: "pgstack:databases[1].drift" };
  const v: VerificationInputs = { connection: conn, schemas: ["public"], expectations: { tables: [], foreignKeys: [] }, migrationHead: applied.head, grants: schemas, declared };
  return { conn, owner, dir, m, applied, v };
}

/** Refresh: the handler's read, as the engine calls it. */
async function refresh(props: VerificationOutputs): Promise<{ props: VerificationOutputs; inputs: VerificationInputs }> {
  const r = await verification.read("id", props);
  return { props: r.props!, inputs: r.inputs! as VerificationInputs };
}

const HAND_MADE = [
  "+ table public.api_usage_metric (not in migrations)",
  "~ public.users: + column nickname text (not in migrations)",
];

describe("drift against the declared schema, through the providers", () => {
  it("survives an up; a migration that makes it real clears it", async () => {
    const { conn, owner, dir, m, applied, v } = await stackOn("warn");
    const created = (await verification.create(v)).outs;
    expect(created.drift).toBe("in sync");
    expect(created.driftReport).toEqual([]);
    expect(Object.keys(created.inventory)).toContain("public.users");

    await query(conn, `SET ROLE ${owner}; CREATE TABLE api_usage_metric (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0); RESET ROLE; ALTER TABLE users ADD COLUMN nickname text`);
    const refreshed = await refresh(created);
    expect(refreshed.props.driftReport).toEqual(HAND_MADE);
    expect(refreshed.props.drift).toBe(`drifted: ${HAND_MADE.join("; ")}`);
    // Keyed inventory: the refresh diff names the table that changed.
    expect(inventoryByTable(inventoryFromState(refreshed.props.inventory))["public.users"]?.columns).toContain("nickname text");

    // `up`: the verification re-runs (the structure changed since it last verified) and keeps the drift.
    expect((await verification.diff("id", refreshed.props, refreshed.inputs)).changes).toBe(true);
    const upped = (await verification.update("id", refreshed.props, refreshed.inputs)).outs;
    expect(upped.driftReport).toEqual(HAND_MADE);
    expect(logs.some((l) => l.startsWith("warn: ") && l.includes("drifted from its migrations") && l.includes(HAND_MADE[1]!))).toBe(true);
    // …and it stays a difference (refresh shows it, each up measures again) until the config accepts it.
    expect((await verification.diff("id", upped, refreshed.inputs)).changes).toBe(true);
    expect((await verification.diff("id", upped, { ...refreshed.inputs, declared: { ...refreshed.inputs.declared!, accept: HAND_MADE } })).changes).toBe(true);
    const acceptedUp = (await verification.update("id", upped, { ...refreshed.inputs, declared: { ...refreshed.inputs.declared!, accept: HAND_MADE } })).outs;
    expect((await verification.diff("id", acceptedUp, acceptedUp)).changes).toBe(false);
    expect((await refresh(upped)).props.driftReport).toEqual(HAND_MADE);

    // A migration that makes the hand-made change real clears it.
    fs.writeFileSync(
      path.join(dir, "0004_usage_and_nickname.sql"),
      "CREATE TABLE IF NOT EXISTS api_usage_metric (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);\nALTER TABLE users ADD COLUMN IF NOT EXISTS nickname text;\n",
    );
    const ms = await inputsOf(dir);
    // Before `up`, the new file is pending: refresh reports it (and what it would create) against the files.
    expect((await refresh(upped)).props.driftReport).toEqual(["- migration 0004_usage_and_nickname (not applied)"]);
    const m2 = (await migrations.update("id", applied, { ...m, migrations: ms })).outs;
    const v2 = { ...v, migrationHead: m2.head, declared: { ...v.declared!, digest: migrationsDigest(ms) } };
    expect((await verification.diff("id", upped, v2)).changes).toBe(true);
    const settled = (await verification.update("id", upped, v2)).outs;
    expect(settled.drift).toBe("in sync");
    expect(settled.driftReport).toEqual([]);
  });

  it("is cleared by undoing it by hand, seen at the next refresh", async () => {
    const { conn, v } = await stackOn("warn");
    const created = (await verification.create(v)).outs;
    await query(conn, "ALTER TABLE sessions ADD COLUMN device text; DROP INDEX IF EXISTS nothing_here; ALTER TABLE users ALTER COLUMN image SET NOT NULL");
    expect((await refresh(created)).props.driftReport).toEqual([
      "~ public.sessions: + column device text (not in migrations)",
      "~ public.users: ~ column image: nullable → not null",
    ]);
    await query(conn, "ALTER TABLE sessions DROP COLUMN device; ALTER TABLE users ALTER COLUMN image DROP NOT NULL");
    const undone = await refresh(created);
    expect(undone.props.drift).toBe("in sync");
    expect(undone.props.driftReport).toEqual([]);
  });

  it("a stack whose policy refuses drift refuses in check (before anything runs) and in up, unless the config accepts it", async () => {
    const { conn, owner, dir, v } = await stackOn("refuse");
    const created = (await verification.create(v)).outs;
    expect((await verification.check(undefined, v)).failures).toEqual([]);
    // A pending migration is not drift in the check: it is measured at the version the database has reached.
    fs.writeFileSync(path.join(dir, "0004_add_flags.sql"), "CREATE TABLE flags (id int PRIMARY KEY);\n");
    expect((await verification.check(undefined, v)).failures).toEqual([]);
    fs.rmSync(path.join(dir, "0004_add_flags.sql"));

    await query(conn, `SET ROLE ${owner}; CREATE TABLE api_usage_metric (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0); RESET ROLE; ALTER TABLE users ADD COLUMN nickname text`);
    const { failures } = await verification.check(created, v);
    expect(failures).toHaveLength(1);
    // No property name: the engine would print `property declared value {map[…]} has a problem:` first.
    expect(failures[0]?.property).toBe("");
    expect(failures[0]?.reason).toBe(
      `database "${conn.database}" has drifted from its migrations (2 difference(s) the stack does not accept):\n` +
        `    ${HAND_MADE[0]}\n    ${HAND_MADE[1]}\n` +
        "  → make each change real with a migration, or undo it by hand; or, if it is known and wanted, accept the exact line(s) in " +
        "pgstack:databases[1].drift.accept (or set pgstack:databases[1].drift.policy: warn)",
    );
    const err = await verification.update("id", created, v).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DriftRefusedError);
    expect((err as DriftRefusedError).lines).toEqual(HAND_MADE);

    // Accepting one line is not enough; accepting both lets `up` through, and the drift stays reported.
    const one = { ...v, declared: { ...v.declared!, accept: [HAND_MADE[0]!] } };
    expect((await verification.check(created, one)).failures[0]?.reason).toContain("(1 difference(s) the stack does not accept):\n    ~ public.users: + column nickname text");
    const both = { ...v, declared: { ...v.declared!, accept: [...HAND_MADE, "+ table public.gone (not in migrations)"] } };
    expect((await verification.check(created, both)).failures).toEqual([]);
    expect(logs).toContain(`warn: ${conn.database}: pgstack:databases[1].drift.accept lists "+ table public.gone (not in migrations)", which no longer occurs; remove it`);
    const accepted = (await verification.update("id", created, both)).outs;
    expect(accepted.driftReport).toEqual(HAND_MADE);
  });

  it("another tool's history table is never drift: golang-migrate's schema_migrations and drizzle's drizzle.__drizzle_migrations", async () => {
    const { conn, owner, v: base } = await stackOn("refuse");
    // drizzle-kit keeps its history in its own schema; the stack manages it here so that it is read at all.
    await query(conn, `CREATE SCHEMA drizzle AUTHORIZATION ${owner}`);
    const v = { ...base, schemas: ["public", "drizzle"] };
    const created = (await verification.create(v)).outs;
    expect(created.drift).toBe("in sync");
    await query(
      conn,
      `SET ROLE ${owner};
       CREATE TABLE public.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
       INSERT INTO public.schema_migrations VALUES (3, false);
       CREATE TABLE drizzle.__drizzle_migrations (id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);
       INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ('abc', 1700000000000);
       RESET ROLE;`,
    );
    // Both are there to be read: the live inventory lists them.
    const refreshed = await refresh(created);
    expect(Object.keys(refreshed.props.inventory)).toEqual(expect.arrayContaining(["public.schema_migrations", "drizzle.__drizzle_migrations"]));
    expect(refreshed.props.driftReport).toEqual([]);
    expect(refreshed.props.drift).toBe("in sync");
    // The prod-like policy does not refuse, and `up` neither refuses nor warns.
    expect((await verification.check(created, v)).failures).toEqual([]);
    const upped = (await verification.update("id", created, v)).outs;
    expect(upped.drift).toBe("in sync");
    expect(logs.filter((l) => l.startsWith("warn: "))).toEqual([]);
    // A hand-made table next to them still is drift.
    await query(conn, `SET ROLE ${owner}; CREATE TABLE public.notes (id int); RESET ROLE;`);
    expect((await refresh(upped)).props.driftReport).toEqual(["+ table public.notes (not in migrations)"]);
  });

  it("an up and a refresh read the live schema once: the inventory and the drift measure share the read", async () => {
    const { conn, v } = await stackOn("warn");
    await verification.create(v); // the declared schema is built and cached: only the live side reads below
    // pg_description (comments) is read by the schema read's queries and by nothing else here.
    const scans = () => schemaReadScans(conn);
    const start = await scans();
    const reader = await connect(conn);
    await readSchema(reader, { schemas: ["public"] });
    await reader.end();
    const one = (await scans()) - start;
    expect(one).toBeGreaterThan(0);
    let before = await scans();
    const upped = (await verification.update("id", { ...v } as VerificationOutputs, v)).outs;
    expect(upped.drift).toBe("in sync");
    expect((await scans()) - before).toBe(one);
    before = await scans();
    expect((await refresh(upped)).props.drift).toBe("in sync");
    expect((await scans()) - before).toBe(one);
  });

  it("the MigrationSet builds the declared schema beside its apply: the verification finds it cached; nothing outlives the call, even a failed apply", async () => {
    const { conn, owner, schemas } = await provisioned();
    const dir = migrationsFolder();
    const ms = await inputsOf(dir);
    const declared: DeclaredInput = { dir, digest: migrationsDigest(ms), role: owner, policy: "warn", accept: [], configPath: "pgstack:databases[1].drift" };
    const subject = { connection: conn, schemas: ["public"], grants: schemas, declared };
    const files = await declaredFiles(process.cwd(), declared);
    expect(declaredSchemaCached(subject, files)).toBe(false);
    // As check passes them: the folder, the managed schemas and their grants.
    const inputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1, migrationsDir: dir, schemas: ["public"], grants: schemas };
    const applied = (await migrations.create(inputs)).outs;
    expect(applied.head).toBe(ms.at(-1)?.name);
    expect(logs).toContain(`${conn.database}: building the declared schema of ${ms.length} migration file(s) for the drift check, beside the apply`);
    expect(logs.some((l) => l.startsWith(`${conn.database}: the declared schema is ready for the drift check (`))).toBe(true);
    expect(declaredSchemaCached(subject, files)).toBe(true);
    const scratch = () => query(conn, `SELECT datname FROM pg_database WHERE datname LIKE '${SCRATCH_PREFIX}%'`);
    expect(await scratch()).toEqual([]);
    // The verification compares with the cached build: in sync, and no scratch database is made
    // (a build logs "declared: building in the scratch database …", as the role case below shows).
    const v: VerificationInputs = { connection: conn, schemas: ["public"], expectations: { tables: [], foreignKeys: [] }, migrationHead: applied.head, grants: schemas, declared };
    logs.length = 0;
    expect((await verification.create(v)).outs.drift).toBe("in sync");
    expect(logs.filter((l) => l.includes("scratch database"))).toEqual([]);
    // Nothing to apply: nothing built either.
    logs.length = 0;
    await migrations.update("id", { ...inputs, ...applied }, inputs);
    expect(logs.filter((l) => l.includes("declared schema"))).toEqual([]);

    // A new file that fails: the apply fails, the build beside it too; the call ends after both, with the apply's error.
    fs.writeFileSync(path.join(dir, "0004_broken.sql"), "CREATE TABLE broken (id int REFERENCES no_such_table (id));\n");
    const broken = { ...inputs, migrations: await inputsOf(dir) };
    await expect(migrations.update("id", { ...inputs, ...applied }, broken)).rejects.toThrow(/0004_broken/);
    expect(await scratch()).toEqual([]);
    expect(declaredSchemaCached(subject, await declaredFiles(process.cwd(), declared))).toBe(false);
  });

  it("migrations that create a role are not built beside their apply (both runs would create it): the verification builds them after", async () => {
    const { conn, owner, schemas } = await provisioned();
    const dir = migrationsFolder();
    const reader = `${conn.database}_reader`;
    await query(conn, `ALTER ROLE ${owner} CREATEROLE`);
    fs.writeFileSync(path.join(dir, "0004_reader.sql"), `CREATE ROLE ${reader};\nGRANT SELECT ON users TO ${reader};\n`);
    const ms = await inputsOf(dir);
    const inputs = { connection: conn, role: owner, migrations: ms, resetGeneration: 1, migrationsDir: dir, schemas: ["public"], grants: schemas };
    const applied = (await migrations.create(inputs)).outs;
    expect(applied.head).toBe("0004_reader");
    expect(logs.filter((l) => l.includes("declared schema"))).toEqual([]);
    expect(await query(conn, `SELECT rolname FROM pg_roles WHERE rolname = '${reader}'`)).toEqual([{ rolname: reader }]);
    const declared: DeclaredInput = { dir, digest: migrationsDigest(ms), role: owner, policy: "warn", accept: [], configPath: "pgstack:databases[1].drift" };
    const v: VerificationInputs = { connection: conn, schemas: ["public"], expectations: { tables: [], foreignKeys: [] }, migrationHead: applied.head, grants: schemas, declared };
    logs.length = 0;
    expect((await verification.create(v)).outs.drift).toBe("in sync");
    expect(logs.some((l) => l.startsWith("declared: building in the scratch database "))).toBe(true);
    // The role the real run made stays; the scratch run did not create or drop it.
    expect(await query(conn, `SELECT rolname FROM pg_roles WHERE rolname = '${reader}'`)).toEqual([{ rolname: reader }]);
  });
});
