/** A server of one major version for a test that needs it, whatever server the suites run on. */
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { adminConnection, serverMajor, superuserConnection } from "./db.js";
import { createManagedStyleAdmin } from "./global-setup.js";
import { startTestServer } from "./postgres.js";

/** A server, its managed-style admin (LOGIN CREATEROLE CREATEDB) and superuser, and how to stop it. */
export interface MajorServer {
  admin: ConnectionOptions;
  superuser: ConnectionOptions;
  /** Stops the server if this started it (the suites' own keeps running). */
  stop(): Promise<void>;
}

/** The suites' server when it is of `major`, else one of that major started here. */
export async function serverOfMajor(major: number): Promise<MajorServer> {
  if (serverMajor() === major) return { admin: adminConnection(), superuser: superuserConnection(), stop: async () => undefined };
  const server = await startTestServer({ major });
  return { admin: await createManagedStyleAdmin(server.admin), superuser: server.admin, stop: () => server.stop() };
}
