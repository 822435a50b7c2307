/**
 * Dropping a scratch database as an admin that is not a superuser, while an autovacuum worker is
 * in it: `DROP DATABASE … WITH (FORCE)` refuses then (the worker's process has no role the admin
 * may signal), which left a rehearsal's roles behind in CI. On a server of its own (a one-second
 * autovacuum naptime is server-wide), a table whose vacuum is throttled to a crawl keeps a worker
 * in the database for as long as the test needs it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { dropDatabaseForce } from "../../infra/lifecycle/scratch-names.js";
import { query } from "../support/db.js";
import { createManagedStyleAdmin } from "../support/global-setup.js";
import { startTestServer, type TestServer } from "../support/postgres.js";

let server: TestServer;
let admin: ConnectionOptions;

beforeAll(async () => {
  server = await startTestServer();
  await query(server.admin, "ALTER SYSTEM SET autovacuum_naptime = 1");
  await query(server.admin, "SELECT pg_reload_conf()");
  admin = await createManagedStyleAdmin(server.admin);
}, 120_000);
afterAll(async () => server?.stop());

describe("dropDatabaseForce", () => {
  it("drops a database an autovacuum worker is in, where DROP DATABASE … WITH (FORCE) is refused to a non-superuser", async () => {
    await query(admin, "CREATE DATABASE avdrop");
    await query(
      { ...admin, database: "avdrop" },
      `CREATE TABLE big WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1, autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0)
         AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g;
       DELETE FROM big WHERE id % 2 = 0`,
    );
    // Wait (at most 30 s) for the worker to reach the table.
    let worker = false;
    for (let i = 0; i < 150 && !worker; i++) {
      const rows = await query(server.admin, "SELECT 1 FROM pg_stat_activity WHERE datname = 'avdrop' AND backend_type = 'autovacuum worker'");
      worker = rows.length > 0;
      if (!worker) await new Promise((r) => setTimeout(r, 200));
    }
    expect(worker).toBe(true);

    const client = await connect({ ...admin, database: "postgres" });
    try {
      const refused = await client.query("DROP DATABASE avdrop WITH (FORCE)").catch((e: unknown) => e);
      expect((refused as { code?: string }).code).toBe("42501");
      await dropDatabaseForce(client, "avdrop");
      expect((await client.query("SELECT 1 FROM pg_database WHERE datname = 'avdrop'")).rowCount).toBe(0);
    } finally {
      await client.end();
    }
  }, 60_000);
});
