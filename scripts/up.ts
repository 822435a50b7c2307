/**
 * `npm run up`: the main job. Ensures the Pulumi toolchain, starts the dev stack's embedded
 * PostgreSQL, runs `pulumi up` on the dev stack with a local file backend, and prints the
 * stack outputs (the table inventories included). Run it again: it reports no changes.
 *
 * The program runs inline through the Automation API: the engine, state, diffs and providers
 * are Pulumi's own, and no `pulumi-language-nodejs` binary is needed.
 */
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand } from "@pulumi/pulumi/automation";
import { pgstackProgram } from "../infra/program.js";
import { start } from "./devdb.js";
import { ensureToolchain, inlineWorkDir, passphraseFile, projectRoot, pulumiEnv } from "./pulumi-env.js";

const STACK = process.env["PGSTACK_STACK"] ?? "dev";
const log = (m: string) => process.stderr.write(`[up] ${m}\n`);

async function main(): Promise<void> {
  log("1/4 toolchain (pulumi and plugins, built from Go modules on first use)");
  const bin = ensureToolchain();
  log(`2/4 embedded PostgreSQL for stack "${STACK}"`);
  await start(STACK);
  const env = pulumiEnv(bin, { backendDir: path.join(projectRoot, ".pgstack", "state"), passphraseFile: passphraseFile() });
  log(`3/4 pulumi up -s ${STACK}`);
  // The program runs inline, from here; Pulumi works on copies of the project and stack files.
  const workDir = inlineWorkDir(path.join(projectRoot, ".pgstack", STACK, "project"), [`Pulumi.${STACK}.yaml`]);
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: STACK, projectName: "pgstack", program: () => pgstackProgram({ projectRoot }) },
    { workDir, envVars: env, pulumiCommand: await PulumiCommand.get({ root: path.dirname(bin) }) },
  );
  const result = await stack.up({ onOutput: (s) => process.stdout.write(s), color: "auto" });
  const changes = Object.entries(result.summary.resourceChanges ?? {})
    .map(([k, n]) => `${n} ${k}`)
    .join(", ");
  log(`pulumi up: ${result.summary.result} (${changes})`);

  log("4/4 stack outputs");
  for (const [db, { value }] of Object.entries(result.outputs)) {
    const o = value as Record<string, unknown>;
    process.stdout.write(`\n${db}\n`);
    process.stdout.write(`  migration head:   ${String(o["migrationHead"])}\n`);
    process.stdout.write(`  reset generation: ${String(o["resetGeneration"])}\n`);
    process.stdout.write(`  last backup:      ${String(o["lastBackup"])}\n`);
    process.stdout.write(`  fingerprint:      ${String(o["fingerprint"]).slice(0, 16)}…  drift: ${String(o["drift"])}\n`);
    for (const [schema, tables] of Object.entries((o["tables"] ?? {}) as Record<string, string[]>)) {
      process.stdout.write(`  tables (${schema}): ${tables.join(", ")}\n`);
    }
    for (const fk of (o["foreignKeys"] ?? []) as string[]) process.stdout.write(`  fk: ${fk}\n`);
    for (const t of (o["inventory"] ?? []) as { table: string; estimatedRows: number; columns: string[]; owner: string }[]) {
      process.stdout.write(`  ${t.table} (owner ${t.owner}, ~${t.estimatedRows} rows): ${t.columns.length} columns\n`);
    }
  }
  process.stdout.write(`\nThe dev server stays up: \`npm run db:stop\` stops it, \`npm run up\` starts it again.\n`);
}

main().catch((err: unknown) => {
  log(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
