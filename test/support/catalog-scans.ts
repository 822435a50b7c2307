/**
 * How many times the live schema was read: the scans of `pg_description` (comments) in one
 * database. Only pgstack's schema read touches that catalog (the server's own caches never read
 * it), so one `readSchema` adds a fixed number, and a second read doubles it.
 */
import { closeIdleConnections } from "../../infra/providers/common.js";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { query } from "./db.js";
import { until } from "./until.js";

/**
 * The scans so far. A session's statistics reach the server when it ends, so this first waits
 * for every other session on the database to end (the providers' pooled ones are closed); before
 * PostgreSQL 15 a collector process receives them a moment later, so the count is read until it
 * holds still (three equal reads 250 ms apart).
 */
export async function schemaReadScans(conn: ConnectionOptions): Promise<number> {
  const read = async () => Number((await query<{ n: string }>(conn, "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_sys_tables WHERE relname = 'pg_description'"))[0]!.n);
  await closeIdleConnections();
  await until(async () => (await query<{ n: number }>(conn, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))[0]!.n === 0, 15_000, "the other sessions to end");
  let last = await read();
  let still = 0;
  await until(
    async () => {
      const n = await read();
      still = n === last ? still + 1 : 0;
      last = n;
      return still >= 3;
    },
    15_000,
    "the statistics to settle",
    250,
  );
  return last;
}
