/**
 * The plain Pulumi CLI on a throwaway copy of the project, as a user runs it: `pulumi up`,
 * `preview`, `refresh` and `destroy` from the project folder, with the real language host and
 * plugins, a local file backend inside the copy, and the committed program and migrations.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import yaml from "js-yaml";
import { ensureToolchain, projectRoot, pulumiEnv } from "../../scripts/pulumi-env.js";

/** The result of one CLI run. */
export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertions on what a user sees. */
  output: string;
}

/** A copy of the project with its own state, driven through the CLI. */
export interface CliProject {
  dir: string;
  env: Record<string, string>;
  /** Runs `pulumi ARGS` in the project folder (with `input` on stdin); never throws. */
  run(args: string[], input?: string): CliResult;
  /** Runs `pulumi ARGS` and throws with the whole output unless it succeeds. */
  ok(args: string[], input?: string): CliResult;
  /** Runs `pulumi ARGS` without blocking, so runs from two checkouts can overlap; never rejects. */
  runAsync(args: string[]): Promise<CliResult>;
  /**
   * Runs `pulumi ARGS` while taking a snapshot of every process's command line (`ps`) every
   * 100 ms, so tests can check that no secret ever sits in a process list.
   */
  okWatchingProcesses(args: string[]): Promise<{ result: CliResult; processLists: string[] }>;
  /** Every output of every run, as a person sees it, to search for secrets. */
  transcript: string[];
  /** The output of `up --json` runs (engine events, debug diagnostics included). */
  jsonTranscript: string[];
}

let bin: string | undefined;

/** The toolchain's bin folder (built or cached by scripts/toolchain.sh). */
export function toolchainBin(): string {
  bin ??= ensureToolchain();
  return bin;
}

/** The committed project files (what `git clone` gives), without node_modules. */
function projectFiles(): string[] {
  return execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: projectRoot, encoding: "utf8" })
    .split("\n")
    .filter((f) => f && !f.startsWith("node_modules/") && fs.existsSync(path.join(projectRoot, f)));
}

/**
 * Copies the project into a new 0700 temporary folder (as `mktemp -d` makes), with
 * node_modules linked, a passphrase file and a file backend at `.pgstack/state` (or the
 * `backendUrl` given, e.g. a team's `postgres://…` state, with the same passphrase).
 */
export function copyProjectForCli(prefix = "pgstack-cli-", opts: { backendUrl?: string } = {}): CliProject {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  for (const f of projectFiles()) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(projectRoot, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  fs.mkdirSync(path.join(dir, ".pgstack", "state"), { recursive: true });
  fs.writeFileSync(path.join(dir, ".pgstack", "passphrase"), E2E_PASSPHRASE, { mode: 0o600 });
  return cliProject(dir, opts);
}

/** The passphrase of every copy's stacks (the same in each, as a team shares one). */
export const E2E_PASSPHRASE = "e2e-passphrase";

/** A CLI driver for a project folder made by {@link copyProjectForCli} (or moved from one). */
export function cliProject(dir: string, opts: { backendUrl?: string } = {}): CliProject {
  const env = {
    ...pulumiEnv(toolchainBin(), { backendDir: path.join(dir, ".pgstack", "state"), passphraseFile: path.join(dir, ".pgstack", "passphrase") }),
    ...(opts.backendUrl ? { PULUMI_BACKEND_URL: opts.backendUrl } : {}),
    PULUMI_HOME: process.env["PULUMI_HOME"] ?? path.join(os.homedir(), ".pulumi"),
  };
  const transcript: string[] = [];
  const jsonTranscript: string[] = [];
  const run = (args: string[], input?: string): CliResult => {
    const r = spawnSync("pulumi", [...args, "--non-interactive", "--color", "never"], {
      cwd: dir,
      input,
      env: { ...process.env, ...env },
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    const result = { status: r.status ?? 1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", output: `${r.stdout ?? ""}${r.stderr ?? ""}` };
    // `up --json` streams the engine's debug diagnostics, and Pulumi's Node SDK logs every
    // RegisterResource response there, secret outputs in plain text (an upstream behaviour that
    // pgstack cannot change; the README warns about it). It is kept apart from what a person sees.
    (args[0] === "up" && args.includes("--json") ? jsonTranscript : transcript).push(result.output);
    return result;
  };
  return {
    dir,
    env,
    run,
    ok(args, input) {
      const r = run(args, input);
      if (r.status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${r.status}):\n${r.output}`);
      return r;
    },
    async runAsync(args) {
      const child = spawn("pulumi", [...args, "--non-interactive", "--color", "never"], { cwd: dir, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const status = await new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
      const result = { status, stdout, stderr, output: `${stdout}${stderr}` };
      transcript.push(result.output);
      return result;
    },
    async okWatchingProcesses(args) {
      const child = spawn("pulumi", [...args, "--non-interactive", "--color", "never"], { cwd: dir, env: { ...process.env, ...env } });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      const done = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
      const processLists: string[] = [];
      let finished = false;
      void done.then(() => (finished = true));
      while (!finished) {
        processLists.push(execFileSync("ps", ["-eo", "pid,args", "--no-headers", "-ww"], { encoding: "utf8" }));
        await new Promise((r) => setTimeout(r, 100));
      }
      const status = await done;
      const result = { status, stdout, stderr, output: `${stdout}${stderr}` };
      transcript.push(result.output);
      if (status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${status}):\n${result.output}`);
      return { result, processLists };
    },
    transcript,
    jsonTranscript,
  };
}

/** The `Resources:` summary of an up/preview/refresh/destroy, e.g. `{ created: 37 }` or `{ unchanged: 37 }`. */
export function resourceSummary(output: string): Record<string, number> {
  const block = output.split(/\nResources:\n/).at(-1) ?? "";
  const out: Record<string, number> = {};
  for (const m of block.matchAll(/^\s+(?:[+~\-]+|\+-)?\s*(\d+) (to create|created|to update|updated|to replace|replaced|to delete|deleted|unchanged|errored)$/gm)) {
    out[m[2]!.replace(/^to /, "")] = Number(m[1]);
  }
  return out;
}

/**
 * Sets the stack's `pgstack:server`, `pgstack:databases` and `pgstack:safety` in `Pulumi.<stack>.yaml`,
 * as a user edits the stack file (its encryption salt and secrets are kept).
 */
export function setStackConfig(p: CliProject, stack: string, config: { server?: unknown; databases?: unknown; safety?: unknown }): void {
  const file = path.join(p.dir, `Pulumi.${stack}.yaml`);
  const doc = (fs.existsSync(file) ? yaml.load(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> };
  doc.config ??= {};
  if (config.server !== undefined) doc.config["pgstack:server"] = config.server;
  if (config.databases !== undefined) doc.config["pgstack:databases"] = config.databases;
  if (config.safety !== undefined) doc.config["pgstack:safety"] = config.safety;
  fs.writeFileSync(file, yaml.dump(doc));
}

/** Sets a secret config value, passed on stdin (never on a command line, where `ps` shows it). */
export function setSecret(p: CliProject, stack: string, key: string, value: string): void {
  p.ok(["config", "set", "--stack", stack, "--secret", key], value);
}

/** Replaces the stack's `pgstack:databases`. */
export function setDatabases(p: CliProject, stack: string, databases: unknown): void {
  setStackConfig(p, stack, { databases });
}

/** The stack outputs, as `pulumi stack output --json` prints them (secrets masked). */
export function stackOutputs(p: CliProject, stack: string): Record<string, Record<string, unknown>> {
  return JSON.parse(p.ok(["stack", "output", "--stack", stack, "--json"]).stdout) as Record<string, Record<string, unknown>>;
}

/** The stack's state as `pulumi stack export` prints it. */
export function exportState(p: CliProject, stack: string, showSecrets = false): { deployment: { resources: { urn: string; type: string; delete?: boolean; inputs?: Record<string, unknown>; outputs?: Record<string, unknown>; sourcePosition?: string }[] } } {
  return JSON.parse(p.ok(["stack", "export", "--stack", stack, ...(showSecrets ? ["--show-secrets"] : [])]).stdout);
}

/** The documents of a stream of JSON values (what `pulumi up --json` prints: a preview, then engine events). */
function jsonDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === "\\") i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === "{") {
      if (depth++ === 0) start = i;
    } else if (ch === "}" && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)));
  }
  return docs;
}

/** What a preview said would change and what the `up` that followed changed, as sorted URNs. */
export interface HonestUp {
  planned: string[];
  changed: string[];
  /** Deletions of resources an earlier failed run had replaced (not in the preview's steps). */
  cleanedUp: string[];
  /** The up's resource counts, e.g. `{ update: 2, same: 35 }`. */
  counts: Record<string, number>;
  up: CliResult;
}

/**
 * `pulumi preview --save-plan`, then `pulumi up --plan` with that plan: the engine itself refuses
 * an up that strays from the plan. Returns both sets of changed resources, for tests to compare.
 */
export function previewThenUp(p: CliProject, stack: string): HonestUp {
  // Resources a failed earlier run replaced but could not delete yet: any `up` finishes those
  // deletions, and `preview --json` does not list them. They are reported apart.
  const pendingDeletes = new Set(
    (exportState(p, stack).deployment.resources as { urn: string; delete?: boolean }[]).filter((r) => r.delete).map((r) => r.urn),
  );
  const plan = path.join(p.dir, ".pgstack", `plan-${stack}.json`);
  const preview = JSON.parse(p.ok(["preview", "--stack", stack, "--json", "--save-plan", plan]).stdout) as { steps: { op: string; urn: string }[] };
  const planned = [...new Set(preview.steps.filter((s) => s.op !== "same").map((s) => s.urn))].sort();
  const up = p.ok(["up", "--stack", stack, "--yes", "--json", "--plan", plan]);
  const events = jsonDocuments(up.stdout) as { resOutputsEvent?: { metadata: { op: string; urn: string } }; summaryEvent?: { resourceChanges: Record<string, number> } }[];
  const touched = [...new Set(events.flatMap((e) => (e.resOutputsEvent && e.resOutputsEvent.metadata.op !== "same" ? [e.resOutputsEvent.metadata.urn] : [])))];
  const changed = touched.filter((u) => planned.includes(u) || !pendingDeletes.has(u)).sort();
  const cleanedUp = touched.filter((u) => !planned.includes(u) && pendingDeletes.has(u)).sort();
  const counts = events.find((e) => e.summaryEvent)?.summaryEvent?.resourceChanges ?? {};
  return { planned, changed, cleanedUp, counts, up };
}
