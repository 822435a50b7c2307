/** Connections to Postgres. Passwords never appear in messages. */
import pg from "pg";
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
  /** `disable` (loopback dev servers), `require` (TLS, any certificate) or `verify-full`. */
  sslmode?: "disable" | "require" | "verify-full";
  /** Shows in pg_stat_activity, so a held lock can be traced to pgstack. */
  applicationName?: string;
  /** Connection timeout, ms. */
  connectTimeoutMs?: number;
}

/** A short, password-free description: `postgres@127.0.0.1:5432/fltr`. */
export function describeTarget(c: ConnectionOptions): string {
  return `${c.user}@${c.host}:${c.port}/${c.database}`;
}

/** Opens a client. Errors name the target (never the password) and say what to check. */
export async function connect(c: ConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    user: c.user,
    password: c.password,
    database: c.database,
    ssl: c.sslmode === undefined || c.sslmode === "disable" ? false : { rejectUnauthorized: c.sslmode === "verify-full" },
    application_name: c.applicationName ?? "pgstack",
    connectionTimeoutMillis: c.connectTimeoutMs ?? 15_000,
  });
  // An idle client whose server goes away emits 'error'; without a listener Node crashes.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new ConnectionError(describeTarget(c), scrub(err, c.password));
  }
  return client;
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
