/**
 * The declared schema (migrations applied to a shadow database) and the structural drift of a
 * live database against it, on the real server, as the non-superuser admin.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  buildDeclaredSchema,
  cachedDeclaredSchema,
  diffSchemas,
  DeclaredSchemaError,
  readSchema,
  loadMigrations,
  loadSqlParser,
  scanMigrationFiles,
  SCRATCH_PREFIX,
  type Migration,
  type SchemaSnapshot,
} from "../../infra/lifecycle/index.js";
import { adminConnection, closeClients, query } from "../support/db.js";
import { fltrDatabase } from "../support/fixtures.js";
import { inline } from "../support/migrations.js";

let fltr: Migration[];
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-declared-"));
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
    expect(declared.tables["public.datasets"]?.columns["id"]).toEqual({ type: "bigint", nullable: false, default: "identity" });
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
    await buildDeclaredSchema(db, fltr, { role: owner, cacheDir: false, onStep: (v, s: SchemaSnapshot) => steps.push([v, Object.keys(s.tables)]) });
    expect(steps).toEqual([
      [0, []],
      [1, ["public.datasets"]],
      [2, ["public.datasets", "public.documents"]],
      [3, ["public.datasets", "public.documents", "public.processing_jobs"]],
      [4, ["public.datasets", "public.documents", "public.processing_jobs"]],
    ]);
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
