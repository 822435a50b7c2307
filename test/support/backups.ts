/**
 * Whether this machine's pg_dump can back up the suites' server. Debian here ships only
 * PostgreSQL 15's client tools, which dump 15 and older: on 16, 17 and 18 every stack with
 * `backup: true` is refused in preview (infra/lifecycle/client-tools.ts). The lifecycle e2e
 * asserts that refusal there, then runs on with `backup: false`, as the refusal says to; the
 * other e2e files, whose subject is not the backup, take that setting from the start.
 */
import { backupClientProblem, findBackupClients } from "../../infra/lifecycle/client-tools.js";
import { readServerVersion } from "../../infra/lifecycle/connection.js";
import { connect } from "../../infra/lifecycle/connection.js";
import { adminConnection } from "./db.js";

/** The guard's three lines for the suites' server and the local pg_dump, or undefined when a backup can be taken. */
export async function backupProblem(configPath = "pgstack:databases[0]"): Promise<string[] | undefined> {
  const admin = adminConnection();
  const client = await connect(admin);
  try {
    const [version, clients] = await Promise.all([readServerVersion(client), findBackupClients()]);
    return backupClientProblem({ server: `${admin.host}:${admin.port}`, configPath }, version, clients);
  } finally {
    await client.end();
  }
}

/** `{ backup: false }` where the local pg_dump cannot back up the suites' server, else `{}` (the default, backups on). */
export async function backupSetting(): Promise<{ backup?: false }> {
  return (await backupProblem()) ? { backup: false } : {};
}
