/**
 * A separate process that applies a migrations folder with the core, as one `pulumi up` (or one
 * checkout with its own state) would: the crash and concurrency suites start several and kill
 * some. The connection comes in PGSTACK_CHILD_CONNECTION (JSON, in the environment: never on a
 * command line). Prints `progress <n>` after each applied migration and a final JSON line.
 *
 *   tsx test/support/apply-child.ts <migrations dir>
 */
import { applyMigrations, connect, loadMigrations, loadSqlParser, type ConnectionOptions } from "../../infra/lifecycle/index.js";

async function main(): Promise<void> {
  const dir = process.argv[2];
  const raw = process.env["PGSTACK_CHILD_CONNECTION"];
  if (!dir || !raw) throw new Error("usage: PGSTACK_CHILD_CONNECTION=<json> tsx test/support/apply-child.ts <dir>");
  const conn = JSON.parse(raw) as ConnectionOptions;
  await loadSqlParser();
  const migrations = await loadMigrations(dir);
  const client = await connect({ ...conn, applicationName: `apply-child ${process.pid}` });
  let applied = 0;
  try {
    const result = await applyMigrations(client, migrations, {
      database: conn.database,
      lockTimeoutMs: 60_000,
      logger: {
        info: (m) => {
          if (/: applied /.test(m)) process.stdout.write(`progress ${++applied}\n`);
        },
        warn: () => undefined,
      },
    });
    const ok = result.results.filter((r) => r.status === "Success").length;
    process.stdout.write(`${JSON.stringify({ applied: ok, error: result.error ? { code: result.error.code, message: result.error.message } : null })}\n`);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    process.stdout.write(`${JSON.stringify({ applied, error: { code: e.code ?? "UNKNOWN", message: e.message ?? String(err) } })}\n`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

void main();
