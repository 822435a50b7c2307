/**
 * `npm run up`: the main job. Ensures the Pulumi toolchain, starts the dev stack's embedded
 * PostgreSQL, runs `pulumi up` on the dev stack with a local file backend, and prints the
 * stack outputs (the table inventories included). Run it again: it reports no changes.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { start } from "./devdb.js";
import { ensureToolchain, passphraseFile, projectRoot, pulumiEnv } from "./pulumi-env.js";

const STACK = process.env["PGSTACK_STACK"] ?? "dev";
const log = (m: string) => process.stderr.write(`[up] ${m}\n`);

function pulumi(args: string[], env: Record<string, string>, capture = false): string {
  const r = spawnSync("pulumi", args, {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: capture ? ["ignore", "pipe", "inherit"] : "inherit",
    encoding: "utf8",
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`\`pulumi ${args.join(" ")}\` failed (exit ${r.status})`);
  return r.stdout ?? "";
}

async function main(): Promise<void> {
  log("1/4 toolchain (pulumi and plugins, built from Go modules on first use)");
  const bin = ensureToolchain();
  log(`2/4 embedded PostgreSQL for stack "${STACK}"`);
  await start(STACK);
  const env = pulumiEnv(bin, { backendDir: path.join(projectRoot, ".pgstack", "state"), passphraseFile: passphraseFile() });
  log(`3/4 pulumi up -s ${STACK}`);
  pulumi(["stack", "select", "--create", STACK, "--non-interactive"], env);
  pulumi(["up", "--yes", "--non-interactive", "--stack", STACK, "--diff=false"], env);
  log("4/4 stack outputs");
  const outputs = JSON.parse(pulumi(["stack", "output", "--json", "--stack", STACK], env, true)) as Record<string, Record<string, unknown>>;
  for (const [db, o] of Object.entries(outputs)) {
    process.stdout.write(`\n${db}\n`);
    process.stdout.write(`  migration head:   ${String(o["migrationHead"])}\n`);
    process.stdout.write(`  reset generation: ${String(o["resetGeneration"])}\n`);
    process.stdout.write(`  last backup:      ${String(o["lastBackup"])}\n`);
    process.stdout.write(`  fingerprint:      ${String(o["fingerprint"]).slice(0, 16)}…  drift: ${String(o["drift"])}\n`);
    for (const [schema, tables] of Object.entries((o["tables"] ?? {}) as Record<string, string[]>)) {
      process.stdout.write(`  tables (${schema}): ${tables.join(", ")}\n`);
    }
    for (const fk of (o["foreignKeys"] ?? []) as string[]) process.stdout.write(`  fk: ${fk}\n`);
  }
  process.stdout.write(
    `\nThe dev server stays up (npm run db:stop stops it). For plain pulumi commands:\n` +
      `  eval "$(bash scripts/toolchain.sh --print-env)"; export PULUMI_BACKEND_URL=${env["PULUMI_BACKEND_URL"]} PULUMI_CONFIG_PASSPHRASE_FILE=${env["PULUMI_CONFIG_PASSPHRASE_FILE"]}\n` +
      `  pulumi preview -s ${STACK}\n`,
  );
}

main().catch((err: unknown) => {
  log(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
