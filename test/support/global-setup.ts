/** Vitest global setup: one real PostgreSQL for the whole run. */
import type { TestProject } from "vitest/node";
import { startTestServer, type TestServer } from "./postgres.js";

let server: TestServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startTestServer();
  // Printed so a test log shows which real server the integration tests talked to.
  console.log(`[pgstack tests] PostgreSQL (${server.kind}) on ${server.admin.host}:${server.admin.port}`);
  project.provide("pgAdmin", server.admin);
  project.provide("pgKind", server.kind);
  project.provide("pgBinDir", server.binDir ?? "");
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
