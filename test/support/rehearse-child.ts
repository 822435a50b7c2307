/**
 * A separate process that rehearses one slow pending migration, so a test can interrupt it
 * (SIGINT, SIGTERM) or kill it (SIGKILL) mid-rehearsal. The admin connection comes in
 * PGSTACK_CHILD_CONNECTION (JSON, in the environment: never on a command line). Prints each
 * progress line, then a final JSON line if it finishes.
 *
 *   node --import tsx test/support/rehearse-child.ts <database> <role> <template|build-copy>
 *
 * The database has fltr's migrations applied (the fixtures' fltrDatabase).
 */
import { loadMigrations, rehearse, sha256, type ConnectionOptions } from "../../infra/lifecycle/index.js";

async function main(): Promise<void> {
  const [database, role, method] = process.argv.slice(2);
  const raw = process.env["PGSTACK_CHILD_CONNECTION"];
  if (!database || !role || !raw) throw new Error("usage: PGSTACK_CHILD_CONNECTION=<json> rehearse-child.ts <database> <role> [build-copy]");
  const sql = "SELECT pg_sleep(60);\n";
  const report = await rehearse(JSON.parse(raw) as ConnectionOptions, database, [
    { id: 900, name: "0900_slow", file: "migrations/x/0900_slow.sql", checksum: sha256(sql), sql, inTransaction: true },
  ], {
    role,
    applied: await loadMigrations("migrations/fltr"),
    ...(method === "build-copy" ? { method: "build-copy" as const } : {}),
    logger: (m) => process.stdout.write(`${m}\n`),
  });
  process.stdout.write(`${JSON.stringify({ steps: report.steps.length, dropped: report.cloneDropped })}\n`);
}

void main();
