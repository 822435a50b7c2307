/** Connections to Postgres. Passwords never appear in messages. */
import pg from "pg";
import { tlsOptions, type SslMode } from "./tls.js";
import { ConnectionError } from "./errors.js";

/** How pgstack reaches one database. */
export interface ConnectionOptions {
  host: string;
  port: number;
  /** The role pgstack connects as (the stack's admin user). */
  user: string;
  /** Never logged, never part of an error message. */
  password?: string;
  database: string;
  /** TLS, as libpq's `sslmode` means it (see {@link SSL_MODES} and {@link tlsOptions}). Default `disable`. */
  sslmode?: SslMode;
  /**
   * The CA certificate(s) the server's certificate must chain to, as PEM text (a managed
   * service's CA bundle). With it, `require` verifies the chain as `verify-ca` does (libpq's rule).
   */
  sslrootcert?: string;
  /** Shows in pg_stat_activity, so a held lock can be traced to pgstack. */
  applicationName?: string;
  /** Connection timeout, ms. */
  connectTimeoutMs?: number;
  /**
   * The session's `statement_timeout`, ms: no query of pgstack's own may hang forever.
   * Migrations set theirs per migration (`session.statementTimeout`), which takes precedence.
   */
  statementTimeoutMs?: number;
}

/** The options each client was opened with (for a second session with the same settings). */
const openedWith = new WeakMap<pg.Client, ConnectionOptions>();

/** The options {@link connect} opened `client` with, or undefined for a client made elsewhere. */
export function connectionOptionsOf(client: pg.ClientBase): ConnectionOptions | undefined {
  return openedWith.get(client as pg.Client);
}

/** A short, password-free description: `postgres@127.0.0.1:5432/fltr`. */
export function describeTarget(c: ConnectionOptions): string {
  return `${c.user}@${c.host}:${c.port}/${c.database}`;
}

/** Connection failures worth another try: the server is (re)starting or briefly unreachable. */
const TRANSIENT = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "57P03" /* cannot_connect_now */, "53300" /* too_many_connections */]);

/** Connect attempts in all (one try and two retries), and the pause before each retry. */
const RETRY_DELAYS_MS = [250, 1000];

/**
 * Opens a client. Only connecting is retried (a bounded number of times, for failures that can
 * pass: a refused or reset connection, a server starting up); queries never are. Errors name
 * the target (never the password) and say what to check.
 */
export async function connect(c: ConnectionOptions, options: { retryDelaysMs?: readonly number[]; onRetry?: (message: string) => void } = {}): Promise<pg.Client> {
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  // prefer: TLS first; a server without TLS gets a plain connection (as libpq does).
  let ssl = tlsOptions(c);
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({
      host: c.host,
      port: c.port,
      user: c.user,
      password: c.password,
      database: c.database,
      ssl,
      application_name: c.applicationName ?? "pgstack",
      connectionTimeoutMillis: c.connectTimeoutMs ?? 15_000,
      ...(c.statementTimeoutMs !== undefined ? { statement_timeout: c.statementTimeoutMs } : {}),
      // A server that vanishes mid-run (network cut, failover) is noticed instead of waited on.
      keepAlive: true,
    });
    // An idle client whose server goes away emits 'error'; without a listener Node crashes.
    client.on("error", () => undefined);
    try {
      await client.connect();
      openedWith.set(client, c);
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      if (c.sslmode === "prefer" && ssl !== false && /does not support SSL/i.test(err instanceof Error ? err.message : "")) {
        ssl = false;
        attempt--;
        continue;
      }
      const code = (err as { code?: string }).code ?? "";
      const delay = delays[attempt];
      if (TRANSIENT.has(code) && delay !== undefined) {
        options.onRetry?.(`cannot connect to ${describeTarget(c)} (${code}); retrying in ${delay} ms (attempt ${attempt + 2} of ${delays.length + 1})`);
        await new Promise((r) => setTimeout(r, delay));
        continue;
      }
      throw new ConnectionError(describeTarget(c), scrub(err, c.password), connectionHint(err, c));
    }
  }
}

/** What to check for a failed connection, by its cause. */
export function connectionHint(err: unknown, c: ConnectionOptions): string {
  const code = (err as { code?: string }).code ?? "";
  const message = err instanceof Error ? err.message : String(err);
  const where = `${c.host}:${c.port}`;
  if (code === "ECONNREFUSED") return `nothing accepts connections on ${where}: is the server running, and are pgstack:server.host and .port right?`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return `the host "${c.host}" cannot be resolved: check pgstack:server.host`;
  if (/timeout/i.test(message) || code === "ETIMEDOUT") return `no answer from ${where}: check pgstack:server.host and .port, and any firewall between here and the server`;
  if (code === "28P01") return `the server refused the password of "${c.user}": check the secret named by pgstack:server.adminPasswordSecret (\`pulumi config set --secret …\`)`;
  if (code === "28000") return `the server does not let "${c.user}" in from here (pg_hba.conf), or it requires TLS: check pgstack:server.adminUser and .sslmode`;
  if (code === "55000" && /not currently accepting connections/i.test(message)) {
    return `the database "${c.database}" refuses connections (a reset closes it while it runs; pgstack re-opens one an interrupted reset left closed): or, from another database, run \`ALTER DATABASE "${c.database}" WITH ALLOW_CONNECTIONS true\``;
  }
  if (code === "3D000") return `the database "${c.database}" does not exist on ${where}: create it, or check its name in the stack config`;
  if (/does not support SSL/i.test(message)) return `${where} does not offer TLS: set pgstack:server.sslmode to disable for it, or enable ssl on the server`;
  if (/altnames|does not match/i.test(message)) {
    return `the server's TLS certificate does not name the host "${c.host}" that pgstack connects to (sslmode ${c.sslmode}): set pgstack:server.host to a name the certificate holds, or use sslmode verify-ca (the CA is still checked)`;
  }
  if (/self[- ]signed|certificate|issuer/i.test(message)) {
    return c.sslrootcert
      ? `the server's TLS certificate for "${c.host}" does not chain to the CA in pgstack:server.sslrootcert (or sslrootcertSecret): give the CA certificate that signed it (the managed service's CA bundle)`
      : `the server's TLS certificate for "${c.host}" is signed by a CA pgstack was not given (sslmode ${c.sslmode} verifies it): set pgstack:server.sslrootcert to the CA's PEM file, or sslrootcertSecret to a secret holding it`;
  }
  return "check the server's host, port, sslmode and admin user in the stack config, and that the server is running";
}

/** A server's version, as `server_version` and `server_version_num` give it. */
export interface ServerVersion {
  /** `18.1`. */
  version: string;
  /** `server_version_num`, e.g. 180001. */
  num: number;
  /** 18 (for 9.x: 9.6). */
  major: number;
}

/** The major version of a `server_version_num` (10 and later: one number; before: `9.6`). */
export function majorOf(num: number): number {
  return num >= 100_000 ? Math.floor(num / 10_000) : Math.floor(num / 10_000) + (Math.floor(num / 100) % 100) / 10;
}

/** The server's version. */
export async function readServerVersion(client: pg.ClientBase): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: string }>("SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num");
  const num = Number(rows[0]?.num ?? 0);
  // `18.1 (Debian 18.1-1)`: the number alone.
  return { version: (rows[0]?.version ?? "").split(" ")[0] ?? "", num, major: majorOf(num) };
}

/** The server's major version (18; 9.6 before 10). */
export async function serverMajorOf(client: pg.ClientBase): Promise<number> {
  return (await readServerVersion(client)).major;
}

/** Runs `fn` with a fresh client and always closes it. */
export async function withClient<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(c);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Removes a password from an error's message, in case a driver ever echoes it. */
function scrub(err: unknown, password: string | undefined): unknown {
  if (!password || !(err instanceof Error) || !err.message.includes(password)) return err;
  const clean = new Error(err.message.split(password).join("********"));
  return clean;
}

/** Progress reporting: the Pulumi adapters route this to `pulumi.log`, the CLI to stderr. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

/** Discards everything. */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };
