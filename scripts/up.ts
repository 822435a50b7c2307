/**
 * `npm run up`: the main job. Makes the Pulumi toolchain available, starts the dev stack's
 * embedded PostgreSQL, runs the plain `pulumi up` of the dev stack from the project folder (real
 * language host and plugins, local file backend) and prints each database's table inventory.
 * Run it again: Pulumi reports every resource unchanged.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as os from "node:os";
import * as readline from "node:readline";
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";
import { EnvironmentError, toPgstackError } from "../infra/lifecycle/errors.js";
import { start } from "./devdb.js";
import { projectRoot, scriptBackend, type ScriptBackend } from "./pulumi-env.js";
import { formatOutcomes, OutcomeTracker, type EngineEvent } from "./up/outcome.js";

const STACK = process.env["PGSTACK_STACK"] ?? "dev";
const log = (m: string) => process.stderr.write(`[up] ${m}\n`);

/** Runs `pulumi ARGS` in `cwd`; with `capture`, returns stdout, else streams it. Throws on failure. */
function pulumi(env: Record<string, string>, args: string[], opts: { cwd?: string; capture?: boolean } = {}): string {
  const r = spawnSync("pulumi", [...args, "--non-interactive"], {
    cwd: opts.cwd ?? projectRoot,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", opts.capture ? "pipe" : "inherit", opts.capture ? "pipe" : "inherit"],
  });
  if (r.error) throw new EnvironmentError(`could not run pulumi: ${r.error.message}`);
  if (r.status !== 0) throw new EnvironmentError(`pulumi ${args[0]} failed (exit ${r.status})${opts.capture ? `:\n${r.stderr}` : " (its output is above)"}`);
  return r.stdout ?? "";
}

/**
 * Creates the stack if it is new. Local backend: without writing into the committed stack file.
 * Shared backend: a plain `pulumi stack init`, whose `encryptionsalt` line in Pulumi.<stack>.yaml
 * belongs to the team's passphrase and is committed.
 */
function ensureStack(backend: ScriptBackend): void {
  const env = backend.env;
  const stacks = JSON.parse(pulumi(env, ["stack", "ls", "--json"], { capture: true })) as { name: string }[];
  if (stacks.some((s) => s.name === STACK)) return;
  if (backend.shared) {
    pulumi(env, ["stack", "init", STACK], { capture: true });
    log(`created stack "${STACK}" in ${backend.label}: commit Pulumi.${STACK}.yaml (its encryptionsalt goes with the team's passphrase)`);
    return;
  }
  // `stack init` writes the new salt into Pulumi.<stack>.yaml of its working folder: run it in a
  // scratch folder holding the project file, and carry the salt over to the working copy.
  const scratch = path.join(projectRoot, ".pgstack", STACK, "init");
  fs.mkdirSync(scratch, { recursive: true });
  fs.copyFileSync(path.join(projectRoot, "Pulumi.yaml"), path.join(scratch, "Pulumi.yaml"));
  pulumi(env, ["stack", "init", STACK], { cwd: scratch, capture: true });
  const salted = path.join(scratch, `Pulumi.${STACK}.yaml`);
  fs.copyFileSync(salted, path.join(projectRoot, ".pgstack", STACK, `Pulumi.${STACK}.yaml`));
  fs.rmSync(scratch, { recursive: true, force: true });
  log(`created stack "${STACK}" in the local backend (.pgstack/state)`);
}

/**
 * `pulumi up ARGS`, its output streamed as is, and each database's outcome from the engine's
 * events. The events come through a named pipe in a private folder, never a file: debug events
 * may hold secrets.
 */
async function upWithOutcomes(env: Record<string, string>, args: string[], databases: string[]): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-events-"));
  try {
    const fifo = path.join(dir, "events");
    execFileSync("mkfifo", ["-m", "600", fifo]);
    // Pulumi opens the log once for its preview and again for the update: while `keeper` holds
    // a writing end, the pipe does not read as ended in between. Closed after Pulumi exits, the
    // reader reads what is left, then the end.
    const keeper = fs.openSync(fifo, "r+");
    const events = fs.createReadStream("", { fd: fs.openSync(fifo, "r") });
    const ended = once(events, "close");
    const tracker = new OutcomeTracker(databases);
    readline.createInterface({ input: events }).on("line", (line) => {
      try {
        tracker.add(JSON.parse(line) as EngineEvent);
      } catch {
        // not an event line
      }
    });
    const child = spawn("pulumi", [...args, "--event-log", fifo, "--non-interactive"], {
      cwd: projectRoot,
      // `--event-log` is one of the flags Pulumi shows only with PULUMI_DEBUG_COMMANDS.
      env: { ...process.env, ...env, PULUMI_DEBUG_COMMANDS: "true" },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const status = await new Promise<number>((resolve, reject) => {
      child.on("error", (err) => reject(new Error(`could not run pulumi: ${err.message}`)));
      child.on("close", (code) => resolve(code ?? 1));
    });
    fs.closeSync(keeper);
    await ended;
    process.stdout.write(`\n${formatOutcomes(tracker.outcomes()).join("\n")}\n`);
    return status;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function printInventory(outputs: Record<string, Record<string, unknown>>): void {
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
    // Keyed by table (older states: a list).
    const inventory = (o["inventory"] ?? {}) as Record<string, { table?: string; rows: number; rowsExact: boolean; columns: string[]; owner: string; grants?: string[] }>;
    for (const [key, t] of Object.entries(inventory)) {
      const grants = t.grants?.length ? `; grants ${t.grants.join("; ")}` : "";
      process.stdout.write(`  ${t.table ?? key} (owner ${t.owner}, ${t.rowsExact ? "" : "~"}${t.rows} rows): ${t.columns.length} columns${grants}\n`);
    }
    for (const line of (o["driftReport"] ?? []) as string[]) process.stdout.write(`  drift: ${line}\n`);
  }
}

async function main(): Promise<void> {
  log("1/4 toolchain: the pulumi CLI (built from Go modules on first use) and its plugins");
  const backend = scriptBackend();
  const env = backend.env;
  const config = (yaml.load(fs.readFileSync(path.join(projectRoot, `Pulumi.${STACK}.yaml`), "utf8")) as { config?: Record<string, unknown> } | undefined)?.config ?? {};
  const databases = ((config["pgstack:databases"] ?? []) as { name?: unknown }[]).flatMap((d) => (typeof d?.name === "string" ? [d.name] : []));
  // A shared stack usually runs on a real server; only an embedded one is started here.
  if ((config["pgstack:server"] as { embedded?: boolean } | undefined)?.embedded) {
    log(`2/4 embedded PostgreSQL for stack "${STACK}"`);
    await start(STACK);
  } else log(`2/4 stack "${STACK}" runs on its own server (pgstack:server), nothing to start`);
  ensureStack(backend);
  const stackFile = backend.stackFile(STACK);
  log(`3/4 pulumi up --stack ${STACK} (config: Pulumi.${STACK}.yaml; state: ${backend.label})`);
  const status = await upWithOutcomes(env, ["up", "--stack", STACK, "--config-file", stackFile, "--yes", "--suppress-outputs"], databases);
  if (status !== 0) throw new EnvironmentError(`pulumi up failed (exit ${status}): its output and each database's outcome are above`);
  log("4/4 stack outputs");
  printInventory(JSON.parse(pulumi(env, ["stack", "output", "--stack", STACK, "--json"], { capture: true })) as Record<string, Record<string, unknown>>);
  process.stdout.write(`\nThe dev server stays up: \`npm run db:stop\` stops it, \`npm run up\` starts it again.\n`);
}

main().catch((err: unknown) => {
  // A PgstackError's message, never a stack trace; an unexpected error as an internal one.
  log(`error: ${toPgstackError(err, "npm run up").message}`);
  process.exit(1);
});
