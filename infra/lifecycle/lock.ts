/**
 * pgstack's advisory lock. Every write (apply, reset) runs inside {@link withMigrationLock},
 * so two `pulumi up` runs against one database never interleave.
 */
import type pg from "pg";
import { LockTimeoutError } from "./errors.js";

/** The two int4 halves of the lock key: 'pgst' and 1. Advisory locks are per database. */
export const LOCK_KEY: readonly [number, number] = [0x70677374, 1];

/** Default wait for the lock before giving up with a message that names the holder. */
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/**
 * Takes the session-level advisory lock, waiting at most `timeoutMs`, runs `fn`, and always
 * releases the lock. A timeout raises {@link LockTimeoutError} naming the holder.
 */
export async function withMigrationLock<T>(
  client: pg.Client,
  database: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  // Why lock_timeout: it bounds the wait inside the server, so no polling loop is needed.
  await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  try {
    await client.query("SELECT pg_advisory_lock($1, $2)", [LOCK_KEY[0], LOCK_KEY[1]]);
  } catch (err) {
    // Cleanup and the holder lookup are best effort: on a broken connection they fail too,
    // and their error must not replace the one that tells what happened.
    await resetQuietly(client, "RESET lock_timeout");
    if ((err as { code?: string }).code === "55P03") {
      throw new LockTimeoutError(database, timeoutMs, await describeHolder(client).catch(() => undefined));
    }
    throw err;
  }
  try {
    // Not quiet: with the lock held, a session left with our lock_timeout would change how
    // the migrations behave, so a failure here stops the run (and releases the lock below).
    await client.query("RESET lock_timeout");
    return await fn();
  } finally {
    await client.query("SELECT pg_advisory_unlock($1, $2)", [LOCK_KEY[0], LOCK_KEY[1]]).catch(() => undefined);
  }
}

/** Cleanup that must never mask the error being handled: its own failure is swallowed. */
async function resetQuietly(client: pg.Client, sql: string): Promise<void> {
  await client.query(sql).catch(() => undefined);
}

/** "pid 123 (application "pgstack", user postgres, connected since …, state idle)". */
async function describeHolder(client: pg.Client): Promise<string | undefined> {
  const { rows } = await client.query<{
    pid: number;
    application_name: string;
    usename: string;
    backend_start: Date;
    state: string | null;
    client_addr: string | null;
  }>(
    `SELECT a.pid, a.application_name, a.usename, a.backend_start, a.state, host(a.client_addr) AS client_addr
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2`,
    [LOCK_KEY[0], LOCK_KEY[1]],
  );
  const h = rows[0];
  if (!h) return undefined;
  const app = h.application_name ? `application "${h.application_name}", ` : "";
  const from = h.client_addr ? ` from ${h.client_addr}` : "";
  return `pid ${h.pid} (${app}user ${h.usename}${from}, connected since ${h.backend_start.toISOString()}, state ${h.state ?? "unknown"})`;
}
