/**
 * The one naming scheme and the one leftover rule of pgstack's throwaway objects (scratch
 * databases and the throwaway login roles that run migrations as the owner): every name is
 * `pgstack_scratch_<creator pid>_<creator backend_start>_<purpose>_<random>`, and an object is a
 * leftover exactly when the session that created it is gone. One whose creator still runs is
 * never touched, however old it is.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { Logger } from "./connection.js";
import { errorMessage } from "./errors.js";
import { MAX_IDENTIFIER_BYTES, quoteIdent } from "./identifiers.js";

/** Every scratch database's and throwaway role's name starts with this. */
export const SCRATCH_PREFIX = "pgstack_scratch_";

/** The session that creates (and must later drop) a scratch object. */
export interface Creator {
  pid: number;
  /** Its backend_start, in microseconds since the epoch, base 36. */
  started: string;
}

/** The creator: the session `client` is connected as. */
export async function readCreator(client: pg.Client): Promise<Creator> {
  const { rows } = await client.query<{ pid: number; started: string }>(
    "SELECT pid, (extract(epoch FROM backend_start) * 1e6)::int8::text AS started FROM pg_stat_activity WHERE pid = pg_backend_pid()",
  );
  const r = rows[0];
  if (!r) throw new Error("internal: this session is missing from pg_stat_activity");
  return { pid: r.pid, started: BigInt(r.started).toString(36) };
}

/** `pgstack_scratch_<pid>_<started>_<purpose>_<random>`, at most 63 bytes. */
export function scratchName(creator: Creator, purpose: string): string {
  const name = `${SCRATCH_PREFIX}${creator.pid}_${creator.started}_${purpose}_${randomBytes(4).toString("hex")}`;
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) throw new Error(`internal: scratch name ${name} is longer than ${MAX_IDENTIFIER_BYTES} bytes`);
  return name;
}

/** The creator a scratch name records, or undefined for other names. */
export function creatorOf(name: string): Creator | undefined {
  const m = /^pgstack_scratch_(\d+)_([0-9a-z]+)_/.exec(name);
  return m ? { pid: Number(m[1]), started: m[2] as string } : undefined;
}

/**
 * `DROP DATABASE IF EXISTS … WITH (FORCE)` as an admin that is not a superuser can rely on it.
 * FORCE ends the sessions on the database, but refuses (42501) while an autovacuum worker is in it:
 * its process has no role the admin may signal. The plain `DROP DATABASE` ends autovacuum workers
 * itself, so it runs then. FORCE also waits at most 5 s for the sessions it ended to exit; one slow
 * to go on a loaded server ("in use", 55006) is waited for twice more before the error is thrown.
 */
export async function dropDatabaseForce(client: pg.Client, name: string): Promise<void> {
  const drop = (force: boolean) => client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${force ? " WITH (FORCE)" : ""}`);
  for (let attempt = 1; ; attempt++) {
    try {
      await drop(true).catch((err: unknown) => {
        if ((err as { code?: string }).code !== "42501") throw err;
        return drop(false);
      });
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== "55006" || attempt === 3) throw err;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

/**
 * Drops what crashed runs left: scratch databases, then throwaway roles (objects a role owns in
 * the database `client` is connected to go to the role it was granted, the owner, first), whose
 * creator session is gone. A creator whose start time this admin may not see (another user's
 * session) counts as alive. Failures are warnings. Returns the names dropped.
 */
export async function dropLeftoverScratch(client: pg.Client, log: Logger): Promise<string[]> {
  const { rows } = await client.query<{ kind: "database" | "role"; name: string; owner: string | null }>(
    `SELECT 'database' AS kind, datname AS name, NULL AS owner FROM pg_database WHERE starts_with(datname, $1)
     UNION ALL
     SELECT 'role', r.rolname, (SELECT g.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid WHERE a.member = r.oid LIMIT 1)
       FROM pg_roles r WHERE starts_with(r.rolname, $1)
     ORDER BY 1, 2`,
    [SCRATCH_PREFIX],
  );
  if (rows.length === 0) return [];
  const sessions = await client.query<{ pid: number; started: string | null }>(
    "SELECT pid, (extract(epoch FROM backend_start) * 1e6)::int8::text AS started FROM pg_stat_activity",
  );
  const alive = (c: Creator) => sessions.rows.some((s) => s.pid === c.pid && (s.started === null || BigInt(s.started).toString(36) === c.started));
  const dead = rows.filter((r) => {
    const creator = creatorOf(r.name);
    return creator !== undefined && !alive(creator);
  });
  // Membership in a dead run's roles first: FORCE may have to end their sessions on its databases.
  for (const r of dead) if (r.kind === "role") await client.query(`GRANT ${quoteIdent(r.name)} TO CURRENT_USER`).catch(() => undefined);
  const dropped: string[] = [];
  for (const r of dead) {
    try {
      if (r.kind === "database") await dropDatabaseForce(client, r.name);
      else await dropThrowawayRole(client, r.name, r.owner ?? undefined);
      dropped.push(r.name);
      log.info(`scratch: dropped the ${r.kind} ${r.name}, left over from a run that ended without cleaning up`);
    } catch (err) {
      log.warn(`scratch: could not drop the leftover ${r.kind} ${r.name}: ${errorMessage(err)}`);
    }
  }
  return dropped;
}

/**
 * Drops a throwaway role: its sessions are ended, what it owns in this database goes to `owner`
 * (a migration's `RESET ROLE` creates objects as it), its grants here are removed, then the role.
 * The admin first becomes a member of it, which REASSIGN/DROP OWNED require.
 */
export async function dropThrowawayRole(client: pg.Client, role: string, owner: string | undefined): Promise<void> {
  const r = quoteIdent(role);
  if (((await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rowCount ?? 0) === 0) return;
  // Already a member (a signal's cleanup granted it): Postgres refuses a second grant in PG16+.
  await client.query(`GRANT ${r} TO CURRENT_USER`).catch(() => undefined);
  await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role]);
  if (owner) await client.query(`REASSIGN OWNED BY ${r} TO ${quoteIdent(owner)}`);
  await client.query(`DROP OWNED BY ${r}`);
  await client.query(`DROP ROLE ${r}`);
}
