/**
 * The declared schema (migrations applied to a shadow database) and the structural drift of a
 * live database against it, on the real server, as the non-superuser admin.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildDeclaredSchema,
  stepThroughDeclared,
  cachedDeclaredSchema,
  diffSchemas,
  DeclaredSchemaError,
  readSchema,
  loadMigrations,
  loadSqlParser,
  scanMigrationFiles,
  SCRATCH_PREFIX,
  type ManagedSchema,
  type Migration,
  type SchemaSnapshot,
} from "../../infra/lifecycle/index.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { adminConnection, closeClients, query } from "../support/db.js";
import { fltrDatabase } from "../support/fixtures.js";
import { inline } from "../support/migrations.js";
import { tempDir } from "../support/temp.js";

let fltr: Migration[];
const tmp = () => tempDir("pgstack-declared-");
const shadows = async () => (await query<{ d: string }>(adminConnection(), `SELECT datname AS d FROM pg_database WHERE starts_with(datname, '${SCRATCH_PREFIX}')`)).map((r) => r.d);

beforeAll(async () => {
  await loadSqlParser();
  fltr = await loadMigrations("migrations/fltr");
});
afterEach(closeClients);

describe("the declared schema", () => {
  it("equals a database the same migrations built; hand-made drift shows per object, by name", async () => {
    const { db, cl, owner } = await fltrDatabase("decl");
    const logs: string[] = [];
    const declared = await buildDeclaredSchema(db, fltr, { role: owner, cacheDir: false, logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(logs).toContainEqual(expect.stringMatching(new RegExp(`^declared: building in the scratch database ${SCRATCH_PREFIX}`)));
    expect(Object.keys(declared.tables)).toEqual(["public.datasets", "public.documents", "public.processing_jobs"]);
    expect(declared.tables["public.datasets"]?.columns["id"]).toEqual({ type: "bigint", nullable: false, default: "identity", identity: "always" });
    expect(declared.tables["public.processing_jobs"]?.indexes["public.processing_jobs_status_queued_at_idx"]).toContain("USING btree (status, queued_at)");
    expect(declared.history.map((h) => h.name)).toEqual(fltr.map((m) => m.name));
    expect(await shadows()).toEqual([]);

    expect(diffSchemas(declared, await readSchema(cl))).toEqual([]);

    await cl.query(`SET ROLE ${owner};
      CREATE TABLE api_usage_metric (id int PRIMARY KEY, hits int NOT NULL DEFAULT 0);
      CREATE TABLE "bazaar-vid_user" (id int);
      RESET ROLE;
      ALTER TABLE datasets ADD COLUMN nickname text;
      ALTER TABLE documents ALTER COLUMN filename DROP NOT NULL, ALTER COLUMN mime_type TYPE varchar(100);
      DROP INDEX processing_jobs_status_queued_at_idx;
      CREATE INDEX datasets_nickname_idx ON datasets (nickname);
      GRANT SELECT ON datasets TO PUBLIC;
      DELETE FROM pgstack.migrations WHERE id = 4;`);
    const live = await readSchema(cl);
    expect(diffSchemas(declared, live)).toEqual([
      "- migration 0004_index_jobs_by_status (not applied)",
      "+ table public.api_usage_metric (not in migrations)",
      '+ table public."bazaar-vid_user" (not in migrations)',
      "~ public.datasets: + column nickname text (not in migrations)",
      "~ public.datasets: + grant PUBLIC: SELECT (not declared)",
      "+ index public.datasets_nickname_idx (not in migrations)",
      "~ public.documents: ~ column filename: not null → nullable",
      "~ public.documents: ~ column mime_type: type text → character varying(100)",
      "- index public.processing_jobs_status_queued_at_idx (missing)",
    ]);
  });

  it("leaves out another tool's history table that no migration creates, and compares one that a migration creates", async () => {
    const { db, cl, owner } = await fltrDatabase("known");
    const declared = await buildDeclaredSchema(db, fltr, { role: owner, cacheDir: false });
    await cl.query(`CREATE TABLE public.schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
      CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id serial PRIMARY KEY, hash text NOT NULL, created_at bigint);
      CREATE TABLE public.goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());`);
    const live = await readSchema(cl); // every schema, drizzle's too
    expect(Object.keys(live.tables)).toEqual(expect.arrayContaining(["drizzle.__drizzle_migrations", "public.schema_migrations", "public.goose_db_version"]));
    expect(diffSchemas(declared, live)).toEqual([]);

    // A migration of the project creates a table of that name: it is declared, and compared as usual.
    const own = await inline({
      ...Object.fromEntries(fltr.map((m) => [path.basename(m.file), m.sql])),
      "0005_own_schema_migrations.sql": "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY);\n",
    });
    const declaring = await buildDeclaredSchema(db, own, { role: owner, cacheDir: false });
    expect(diffSchemas(declaring, live, { history: false })).toEqual([
      "~ public.schema_migrations: owner " + owner + " → " + String(live.tables["public.schema_migrations"]?.owner),
      "~ public.schema_migrations: + column dirty boolean not null (not in migrations)",
    ]);
  });

  it("reads inside a caller's transaction without ending it or changing its search_path", async () => {
    const { cl } = await fltrDatabase("txn");
    await cl.query("BEGIN; SET LOCAL search_path = pgstack, public; CREATE TABLE public.in_txn (id int)");
    const inside = await readSchema(cl, { schemas: ["public"] });
    expect(Object.keys(inside.tables)).toContain("public.in_txn");
    expect((await cl.query<{ search_path: string }>("SHOW search_path")).rows[0]?.search_path).toBe("pgstack, public");
    await cl.query("ROLLBACK");
    expect((await cl.query<{ t: string | null }>("SELECT to_regclass('public.in_txn')::text AS t")).rows[0]?.t).toBeNull();
    expect(Object.keys((await readSchema(cl, { schemas: ["public"] })).tables)).not.toContain("public.in_txn");
  });

  it("keeps nullability the column's: a NOT NULL is never also a constraint (PostgreSQL 18 lists them in pg_constraint)", async () => {
    const { cl } = await fltrDatabase("notnull");
    await cl.query("CREATE TABLE public.nn (id int PRIMARY KEY, name text NOT NULL, n int CHECK (n > 0))");
    const nn = (await readSchema(cl, { schemas: ["public"] })).tables["public.nn"]!;
    expect(Object.keys(nn.constraints).sort()).toEqual(["nn_n_check", "nn_pkey"]);
    expect(nn.columns["name"]).toEqual({ type: "text", nullable: false, default: null });
    const [info] = (await introspect(cl, { schemas: ["public"] })).tables.filter((t) => t.name === "nn");
    expect(info?.constraints).toEqual(["nn_n_check: CHECK ((n > 0))"]);
    expect(info?.primaryKey).toEqual(["id"]);
  });

  it("is cached by the files' checksums: a second build does no database work at all", async () => {
    const { db, owner } = await fltrDatabase("cache");
    const cacheDir = tmp();
    const first = await buildDeclaredSchema(db, fltr, { role: owner, cacheDir });
    expect(fs.readdirSync(cacheDir)).toHaveLength(1);
    // A server that cannot be reached: any query would fail, so a result proves none ran.
    const unreachable = { ...db, port: 1, connectTimeoutMs: 500 };
    const logs: string[] = [];
    const second = await buildDeclaredSchema(unreachable, fltr, { role: owner, cacheDir, logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(second).toEqual(first);
    expect(logs).toEqual([expect.stringMatching(/^declared schema: 4 migration\(s\) unchanged, from the cache \([0-9a-f]{12}…\)$/)]);
    // Without parsing any SQL: the files' checksums find the same entry; other inputs miss.
    const files = await scanMigrationFiles("migrations/fltr");
    expect(files.map((f) => [f.id, f.name, f.checksum])).toEqual(fltr.map((m) => [m.id, m.name, m.checksum]));
    expect(cachedDeclaredSchema(files, { role: owner, cacheDir })).toEqual(first);
    expect(cachedDeclaredSchema(files, { role: "someone_else", cacheDir })).toBeUndefined();
    expect(cachedDeclaredSchema(files, { role: owner, cacheDir, upTo: 3 })).toBeUndefined();
    // An edited file is a different key: it is built again (and here the server is unreachable).
    const edited = fltr.map((m, i) => (i === 3 ? { ...m, checksum: "0".repeat(64) } : m));
    await expect(buildDeclaredSchema(unreachable, edited, { role: owner, cacheDir })).rejects.toThrow(/cannot connect to/);
    // upTo: the schema at version 2 has two tables.
    const atTwo = await buildDeclaredSchema(db, fltr, { role: owner, cacheDir, upTo: 2 });
    expect(Object.keys(atTwo.tables)).toEqual(["public.datasets", "public.documents"]);
    expect(fs.readdirSync(cacheDir)).toHaveLength(2);
  });

  it("reports each version through onStep", async () => {
    const { db, owner } = await fltrDatabase("steps");
    const steps: [number, string[]][] = [];
    const light: string[][] = [];
    await stepThroughDeclared(db, fltr, {
      role: owner,
      onStep: async (step) => {
        steps.push([step.version, Object.keys((await step.read()).tables)]);
        light.push(await step.tables());
      },
    });
    // The light read names the same tables as the whole read, at every version.
    expect(light).toEqual(steps.map(([, tables]) => tables));
    expect(steps).toEqual([
      [0, []],
      [1, ["public.datasets"]],
      [2, ["public.datasets", "public.documents"]],
      [3, ["public.datasets", "public.documents", "public.processing_jobs"]],
      [4, ["public.datasets", "public.documents", "public.processing_jobs"]],
    ]);
  });

  it("does not pre-create a managed schema that a migration creates (it belongs to the migrations); live and declared then agree", async () => {
    const { db, cl, owner, app } = await fltrDatabase("ownschema");
    const billing: ManagedSchema = { name: "billing", owner, grants: [{ role: app, schema: ["USAGE"], tables: [], sequences: [] }] };
    const managed: ManagedSchema[] = [{ name: "public", owner, grants: [] }, billing];
    const more = { ...fltr[0]!, id: 5, name: "0005_billing", file: "migrations/fltr/0005_billing.sql", sql: "-- the schema is the migration's\nCREATE SCHEMA billing;\nCREATE TABLE billing.invoices (id int PRIMARY KEY);\n", inTransaction: true };
    const all = [...fltr, more];
    const steps: [number, string[]][] = [];
    await stepThroughDeclared(db, all, { role: owner, schemas: managed, onStep: async (step) => steps.push([step.version, Object.keys((await step.read()).tables)]) });
    expect(steps.at(-1)).toEqual([5, ["billing.invoices", "public.datasets", "public.documents", "public.processing_jobs"]]);
    const declared = await buildDeclaredSchema(db, all, { role: owner, schemas: managed, cacheDir: false });
    expect(Object.keys(declared.tables)).toContain("billing.invoices");
    // The same migration applied for real, then the schema owned and granted as configured: no drift.
    const { applyMigrations } = await import("../../infra/lifecycle/apply.js");
    await cl.query(`GRANT CREATE ON DATABASE ${db.database} TO ${owner}`);
    expect((await applyMigrations(cl, all, { database: db.database, role: owner })).error).toBeUndefined();
    await cl.query(`GRANT USAGE ON SCHEMA billing TO ${app}`);
    expect(diffSchemas(declared, await readSchema(cl, { schemas: ["public", "billing"] }))).toEqual([]);
    expect(await shadows()).toEqual([]);
  });

  it("drops the shadow when a migration fails, naming file:line, and drops a crashed run's leftover", async () => {
    const { db, owner } = await fltrDatabase("fail");
    // Its creator (pid 1, started at the epoch) is no session: a crashed run's leftover.
    const leftover = `${SCRATCH_PREFIX}1_0_declared_abcdef`;
    await query(adminConnection(), `CREATE DATABASE ${leftover}`);
    const broken = await inline({ "0001_a.sql": "CREATE TABLE a (id int);\n", "0002_b.sql": "CREATE TABLE b (\n  a_id int REFERENCES nope (id)\n);\n" });
    const err = (await buildDeclaredSchema(db, broken, { role: owner, cacheDir: false }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(DeclaredSchemaError);
    expect(err.message).toContain("the migrations do not build on an empty database");
    expect(err.message).toContain("mem/0002_b.sql:2:");
    expect(err.message).toContain('relation "nope" does not exist');
    expect(await shadows()).toEqual([]);
  });
});
