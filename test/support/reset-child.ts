/**
 * A separate process that runs one reset with the core, as one `pulumi up` would, so a test can
 * kill it (SIGKILL) in the middle. The connection and the reset's options come in
 * PGSTACK_CHILD_CONNECTION and PGSTACK_CHILD_RESET (JSON, in the environment: never on a command
 * line). Prints every log line as `info <line>` / `warn <line>`, and a final JSON line.
 *
 *   tsx test/support/reset-child.ts
 */
import { connect, resetDatabase, type ConnectionOptions, type ResetOptions } from "../../infra/lifecycle/index.js";

async function main(): Promise<void> {
  const conn = JSON.parse(process.env["PGSTACK_CHILD_CONNECTION"] ?? "null") as ConnectionOptions | null;
  const options = JSON.parse(process.env["PGSTACK_CHILD_RESET"] ?? "null") as Omit<ResetOptions, "logger"> | null;
  if (!conn || !options) throw new Error("usage: PGSTACK_CHILD_CONNECTION=<json> PGSTACK_CHILD_RESET=<json> tsx test/support/reset-child.ts");
  const client = await connect({ ...conn, applicationName: `reset-child ${process.pid}` });
  try {
    const out = await resetDatabase(client, { ...options, logger: { info: (m) => process.stdout.write(`info ${m}\n`), warn: (m) => process.stdout.write(`warn ${m}\n`) } });
    process.stdout.write(`${JSON.stringify({ action: out.action })}\n`);
  } catch (err) {
    process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

void main();
