/**
 * Vitest global setup: one real PostgreSQL for the whole run, and the admin role the suites
 * connect as. That admin is what managed Postgres (RDS, Cloud SQL, Neon, Supabase) gives: LOGIN
 * CREATEROLE CREATEDB and no superuser, so nothing in pgstack may rely on superuser rights.
 */
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent, quoteLiteral } from "../../infra/lifecycle/identifiers.js";
import { startTestServer, type TestServer } from "./postgres.js";

let server: TestServer | undefined;

/** The role the suites run as. */
export const TEST_ADMIN = "pgstack_admin";

/** Creates (or resets the password of) the non-superuser admin; returns how to reach it. */
export async function createManagedStyleAdmin(superuser: ConnectionOptions): Promise<ConnectionOptions> {
  const password = randomBytes(18).toString("base64url");
  const client = await connect(superuser);
  try {
    const exists = (await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [TEST_ADMIN])).rowCount === 1;
    await client.query(
      `${exists ? "ALTER" : "CREATE"} ROLE ${quoteIdent(TEST_ADMIN)} WITH LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD ${quoteLiteral(password)}`,
    );
  } finally {
    await client.end();
  }
  return { ...superuser, user: TEST_ADMIN, password };
}

/** The server's major version, as it reports it. */
async function serverMajorOf(conn: ConnectionOptions): Promise<number> {
  const client = await connect(conn);
  try {
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v");
    return Math.floor(Number(rows[0]?.v) / 10000);
  } finally {
    await client.end();
  }
}

export async function setup(project: TestProject): Promise<void> {
  server = await startTestServer();
  const admin = await createManagedStyleAdmin(server.admin);
  const major = await serverMajorOf(server.admin);
  // Printed so a test log shows which real server the suites talked to, and as whom.
  console.log(`[pgstack tests] PostgreSQL ${major} (${server.kind}) on ${admin.host}:${admin.port}, admin "${admin.user}" (LOGIN CREATEROLE CREATEDB, not a superuser)`);
  project.provide("pgAdmin", admin);
  project.provide("pgSuperuser", server.admin);
  project.provide("pgKind", server.kind);
  project.provide("pgMajor", major);
  project.provide("pgBinDir", server.binDir ?? "");
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
