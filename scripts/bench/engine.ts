/**
 * The real Pulumi CLI for the engine measures, as a new user runs it: a copy of the project (the
 * files git knows, node_modules linked) in a temporary folder, a local file backend inside it,
 * the toolchain's CLI and plugins, and stacks pointing at the bench's PostgreSQL.
 */
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { ensureToolchain, projectRoot, pulumiEnv } from "../pulumi-env.js";
import type pg from "pg";
import { progress, rotate, settle, since } from "./stats.js";

/** One finished CLI run. */
export interface PulumiRun {
  status: number;
  output: string;
  seconds: number;
  /** Highest peak RSS (VmHWM) seen among the run's dynamic-provider processes, MB; 0 if none seen. */
  providerPeakRssMb: number;
}

/** A throwaway copy of the project driven through the CLI. */
export interface BenchProject {
  dir: string;
  /** Runs `pulumi ARGS` (with `input` on stdin); throws with the output unless it succeeds. */
  pulumi(args: string[], options?: { input?: string; sampleRss?: boolean }): Promise<PulumiRun>;
  /** Declares a stack whose databases live on `server` (admin password as a secret). */
  initStack(stack: string, server: ConnectionOptions, databases: unknown[]): Promise<void>;
  /** The bytes of the stack's state file in the local backend. */
  stateBytes(stack: string): number;
  /** The stack's state file in the local backend. */
  statePath(stack: string): string;
}

/** A stack database with `n` applied-or-pending generated migrations in `migrations/<name>`. */
export function benchDatabase(name: string): Record<string, unknown> {
  return {
    name,
    owner: `${name}_owner`,
    roles: [{ name: `${name}_owner` }],
    schemas: ["public"],
    reset: { generation: 1, allowed: true },
  };
}

/**
 * Copies the project (what `git clone` gives) into `<tmp>/<name>`, with node_modules linked.
 * The migrations folder is left out (each measure writes its own) unless `withMigrations`.
 */
export function benchProject(tmp: string, name: string, withMigrations = false): BenchProject {
  const dir = path.join(tmp, name);
  const files = execFileSync("git", ["ls-files", "-co", "--exclude-standard"], { cwd: projectRoot, encoding: "utf8" })
    .split("\n")
    // `node_modules` itself may be a symlink (a worktree sharing another checkout's packages): linked below.
    .filter((f) => f && f !== "node_modules" && !f.startsWith("node_modules/") && (withMigrations || !f.startsWith("migrations/")) && fs.existsSync(path.join(projectRoot, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(projectRoot, f), path.join(dir, f));
  }
  return cliProject(dir);
}

/**
 * A folder holding a Pulumi project (its files written already) driven through the toolchain's
 * CLI and plugins: node_modules linked to pgstack's, a local file backend and a passphrase inside it.
 */
export function cliProject(dir: string): BenchProject {
  fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  const project = (yaml.load(fs.readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) as { name: string }).name;
  const backendDir = path.join(dir, ".pgstack", "state");
  const passphrase = path.join(dir, ".pgstack", "passphrase");
  fs.mkdirSync(backendDir, { recursive: true });
  fs.writeFileSync(passphrase, "bench-passphrase", { mode: 0o600 });
  const env = {
    ...process.env,
    ...pulumiEnv(ensureToolchain(), { backendDir, passphraseFile: passphrase }),
    PULUMI_HOME: process.env["PULUMI_HOME"] ?? path.join(process.env["HOME"] ?? "/root", ".pulumi"),
  };
  const pulumi: BenchProject["pulumi"] = async (args, options = {}) => {
    const started = performance.now();
    const child = spawn("pulumi", [...args, "--non-interactive", "--color", "never"], { cwd: dir, env, stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => (output += b.toString()));
    child.stderr.on("data", (b: Buffer) => (output += b.toString()));
    child.stdin.end(options.input ?? "");
    let peakKb = 0;
    let sampling: NodeJS.Timeout | undefined;
    if (options.sampleRss && child.pid !== undefined) {
      const root = child.pid;
      sampling = setInterval(() => (peakKb = Math.max(peakKb, providerPeakKb(root))), 50);
    }
    const status = await new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
    if (sampling) clearInterval(sampling);
    const run = { status, output, seconds: since(started), providerPeakRssMb: peakKb / 1024 };
    if (status !== 0) throw new Error(`pulumi ${args.join(" ")} failed (exit ${status}) in ${dir}:\n${output.slice(-4000)}`);
    return run;
  };
  return {
    dir,
    pulumi,
    async initStack(stack, server, databases) {
      await pulumi(["stack", "init", stack]);
      const file = path.join(dir, `Pulumi.${stack}.yaml`);
      const doc = (fs.existsSync(file) ? yaml.load(fs.readFileSync(file, "utf8")) : {}) as { config?: Record<string, unknown> };
      doc.config = {
        ...doc.config,
        "pgstack:server": { embedded: false, host: server.host, port: server.port, adminUser: server.user, sslmode: "disable" },
        "pgstack:databases": databases,
      };
      fs.writeFileSync(file, yaml.dump(doc));
      // The password on stdin: never on a command line.
      await pulumi(["config", "set", "--stack", stack, "--secret", "pgstack:adminPassword"], { input: server.password ?? "" });
    },
    stateBytes(stack) {
      return fs.statSync(path.join(backendDir, ".pulumi", "stacks", project, `${stack}.json`)).size;
    },
    statePath(stack) {
      return path.join(backendDir, ".pulumi", "stacks", project, `${stack}.json`);
    },
  };
}

/**
 * Peak RSS (KB) of the dynamic-provider processes under `root`: the process tree is read from
 * /proc, so other pulumi runs on the machine are not counted.
 */
function providerPeakKb(root: number): number {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      // Field 4 (ppid) after the parenthesised command, which may contain spaces.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // the process ended meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = parent.get(p) ?? 0, hops++) if (p === root) return true;
    return false;
  };
  let peak = 0;
  for (const pid of parent.keys()) {
    if (!under(pid)) continue;
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("dynamic-provider")) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
      peak = Math.max(peak, Number(hwm?.[1] ?? 0));
    } catch {
      // ended meanwhile
    }
  }
  return peak;
}

/** The no-op previews of {@link previewRounds}: seconds per stack (warm-up left out) and each stack's provider peak RSS. */
export interface PreviewRounds<K extends string> {
  samples: Record<K, number[]>;
  peakRssMb: Record<K, number>;
}

/**
 * No-op `pulumi preview --expect-no-changes` of each stack, a warm-up round and then `rounds`
 * timed ones, the order rotated every round so neither side always runs on a warmer machine.
 */
export async function previewRounds<K extends string>(
  p: BenchProject,
  admin: pg.Client,
  contenders: readonly { key: K; label: string }[],
  rounds: number,
  what: string,
): Promise<PreviewRounds<K>> {
  const samples = Object.fromEntries(contenders.map((c) => [c.key, [] as number[]])) as Record<K, number[]>;
  const peakRssMb = Object.fromEntries(contenders.map((c) => [c.key, 0])) as Record<K, number>;
  for (let r = 0; r <= rounds; r++) {
    const line: string[] = [];
    for (const c of rotate(contenders, r)) {
      await settle(admin);
      const run = await p.pulumi(["preview", "--stack", c.key, "--expect-no-changes"], { sampleRss: true });
      if (r > 0) samples[c.key].push(run.seconds);
      peakRssMb[c.key] = Math.max(peakRssMb[c.key], run.providerPeakRssMb);
      line.push(`${c.label} ${run.seconds.toFixed(2)} s (provider peak RSS ${run.providerPeakRssMb.toFixed(0)} MB)`);
    }
    progress(`${what} ${r === 0 ? "warm-up" : `round ${r}/${rounds}`}: ${line.join(", ")}`);
  }
  return { samples, peakRssMb };
}
