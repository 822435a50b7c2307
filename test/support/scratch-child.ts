/**
 * A separate process that holds a scratch database while its owner session sleeps, so a test can
 * interrupt it (SIGTERM). The admin connection comes in PGSTACK_CHILD_CONNECTION (JSON, in the
 * environment: never on a command line). Prints `ready <database> <role>` once the owner session
 * is busy.
 *
 *   node --import tsx test/support/scratch-child.ts <owner>
 */
import { withScratchDatabase, type ConnectionOptions } from "../../infra/lifecycle/index.js";

async function main(): Promise<void> {
  const [owner] = process.argv.slice(2);
  const raw = process.env["PGSTACK_CHILD_CONNECTION"];
  if (!owner || !raw) throw new Error("usage: PGSTACK_CHILD_CONNECTION=<json> scratch-child.ts <owner>");
  const log = { info: (m: string) => process.stdout.write(`${m}\n`), warn: (m: string) => process.stdout.write(`${m}\n`) };
  await withScratchDatabase(JSON.parse(raw) as ConnectionOptions, { purpose: "declared", owner, logger: log }, async (scratch) => {
    const session = await scratch.ownerSession();
    const { rows } = await session.query<{ u: string }>("SELECT session_user AS u");
    process.stdout.write(`ready ${scratch.name} ${rows[0]?.u}\n`);
    await session.query("SELECT pg_sleep(60)");
  });
}

void main();
