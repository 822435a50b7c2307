/**
 * PostgreSQL 14 gives the `public` schema of a new database to the bootstrap superuser (15 and
 * later to pg_database_owner), so a managed-style admin may neither own nor drop it. On a stock
 * PostgreSQL 14, started here whatever the suites' version: the declared-schema build and a reset
 * name the schema and the one superuser step; after that step (what the suites' PG14 server gets
 * in global setup) both work.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { buildDeclaredSchema, loadSqlParser, resetDatabase } from "../../infra/lifecycle/index.js";
import { PgstackError } from "../../infra/lifecycle/errors.js";
import { query } from "../support/db.js";
import { createManagedStyleAdmin } from "../support/global-setup.js";
import { inline } from "../support/migrations.js";
import { givePublicToDatabaseOwner, startTestServer, type TestServer } from "../support/postgres.js";

let server: TestServer;
let admin: ConnectionOptions;

beforeAll(async () => {
  await loadSqlParser();
  server = await startTestServer({ major: 14 });
  admin = await createManagedStyleAdmin(server.admin);
  await query(admin, "CREATE ROLE app_owner; GRANT app_owner TO CURRENT_USER");
}, 120_000);
afterAll(async () => server?.stop());

const publicSchema = [{ name: "public", owner: "app_owner", grants: [] }];
const MESSAGE = /the admin may not take over schema public: must be owner of schema public\n {2}→ on PostgreSQL 14 the public schema of a new database belongs to the bootstrap superuser .*ALTER SCHEMA public OWNER TO pg_database_owner` in template1 and template0 .*or manage another schema than public$/s;

describe("PostgreSQL 14's public schema", () => {
  it("stock 14: the declared build and a reset name the schema and the superuser step; nothing is dropped", async () => {
    const migrations = await inline({ "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY);" });
    const err = await buildDeclaredSchema(admin, migrations, { role: "app_owner", schemas: publicSchema, cacheDir: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PgstackError);
    expect((err as PgstackError).code).toBe("SCHEMA_NOT_OWNED");
    expect((err as Error).message).toMatch(MESSAGE);

    await query(admin, "CREATE DATABASE stock OWNER app_owner");
    const db = { ...admin, database: "stock" };
    expect(await query(db, "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'public'")).toEqual([{ owner: "postgres" }]);
    await query(db, "SET ROLE app_owner; CREATE TABLE public.kept (id int)");
    const client = await connect(db);
    try {
      const options = { database: "stock", schemas: publicSchema, acceptDataLoss: true };
      expect((await resetDatabase(client, { ...options, generation: 1 })).action).toBe("adopted");
      const reset = await resetDatabase(client, { ...options, generation: 2 }).catch((e: unknown) => e);
      expect((reset as PgstackError).code).toBe("SCHEMA_NOT_OWNED");
      expect((reset as Error).message).toMatch(/^database "stock": the admin may not take over schema public/);
    } finally {
      await client.end();
    }
    // One transaction: the table is still there, and connections are allowed again.
    expect(await query(db, "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'kept'")).toEqual([{ n: 1 }]);
    expect(await query(admin, "SELECT datallowconn FROM pg_database WHERE datname = 'stock'")).toEqual([{ datallowconn: true }]);
  });

  it("after the superuser step: public belongs to each new database's owner, and the declared build works", async () => {
    await givePublicToDatabaseOwner(server.admin);
    const migrations = await inline({ "0001_t.sql": "CREATE TABLE t (id int PRIMARY KEY);" });
    const snapshot = await buildDeclaredSchema(admin, migrations, { role: "app_owner", schemas: publicSchema, cacheDir: false });
    expect(Object.keys(snapshot.tables)).toEqual(["public.t"]);
    await query(admin, "CREATE DATABASE fresh OWNER app_owner");
    expect(await query({ ...admin, database: "fresh" }, "SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = 'public'")).toEqual([{ owner: "pg_database_owner" }]);
    // template0 took no connections before, and takes none after.
    expect(await query(admin, "SELECT datallowconn FROM pg_database WHERE datname = 'template0'")).toEqual([{ datallowconn: false }]);
  });
});
