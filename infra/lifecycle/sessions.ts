/**
 * The other sessions on a database, as a reset meets them: which ones the admin may end (decided
 * with the server's own rule), ending them, refusing new connections while the reset runs, and
 * re-opening a database that an interrupted reset left refusing them.
 */
import type pg from "pg";
import { connect, connectionOptionsOf, type ConnectionOptions, type Logger } from "./connection.js";
import { errorMessage, PgstackError } from "./errors.js";
import { quoteIdent } from "./identifiers.js";
import { LOCK_KEY } from "./lock.js";

/** Where a second session goes to refuse or re-allow connections to the database being reset. */
export const MAINTENANCE_DATABASES: readonly string[] = ["postgres", "template1"];

/** Another session on the database, and whether the admin may end it. */
export interface OtherSession {
  pid: number;
  user: string;
  /** Why the admin may not end it: a superuser's session, or a role whose privileges it lacks. */
  refusal?: "superuser" | "privileges";
}

/**
 * The other sessions on `database`, each with whether the admin may end it. The rule is the
 * server's own (`pg_signal_backend()`): a superuser may end any; anyone else only non-superuser
 * sessions of roles whose privileges it has (`has_privs_of_role`, which `pg_has_role(…, 'USAGE')`
 * reports; on PostgreSQL 16+ a membership with ADMIN but without INHERIT is not enough) or every
 * non-superuser session when it has the privileges of `pg_signal_backend`.
 */
export async function otherSessions(client: pg.ClientBase, database: string): Promise<OtherSession[]> {
  const { rows } = await client.query<{ pid: number; usename: string | null; refusal: OtherSession["refusal"] | null }>(
    `WITH me AS (SELECT rolsuper AS superuser, pg_has_role('pg_signal_backend', 'USAGE') AS signal FROM pg_roles WHERE rolname = current_user)
     SELECT a.pid, a.usename,
            CASE WHEN me.superuser THEN NULL
                 WHEN r.oid IS NULL OR r.rolsuper THEN 'superuser'
                 WHEN me.signal OR pg_has_role(a.usesysid, 'USAGE') THEN NULL
                 ELSE 'privileges' END AS refusal
       FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid, me
      -- backend_type is hidden from non-superusers for other roles' sessions; usesysid is not.
      WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.usesysid IS NOT NULL
      ORDER BY a.pid`,
    [database],
  );
  return rows.map((r) => ({ pid: r.pid, user: r.usename ?? "unknown", ...(r.refusal ? { refusal: r.refusal } : {}) }));
}

/**
 * The sessions the admin may not end, named with the reason, in one sentence; undefined when it
 * may end them all. The reset warns with it, and its preview says it ahead.
 */
export function describeUnendable(sessions: readonly OtherSession[], admin: string): string | undefined {
  const list = (reason: OtherSession["refusal"]) =>
    sessions
      .filter((s) => s.refusal === reason)
      .map((s) => `${s.user} (pid ${s.pid})`)
      .join(", ");
  const parts: string[] = [];
  const privileges = list("privileges");
  if (privileges) {
    parts.push(
      `cannot end the sessions of ${privileges}: the admin "${admin}" has neither the privileges of their role ` +
        `(a member WITH INHERIT TRUE; PostgreSQL 16+ gives a role's creator ADMIN only) nor those of pg_signal_backend`,
    );
  }
  const superusers = list("superuser");
  if (superusers) parts.push(`cannot end the sessions of ${superusers}: only a superuser may end a superuser's session`);
  return parts.length ? parts.join("; ") : undefined;
}

/**
 * Ends the other sessions on the database that the admin may end ({@link otherSessions}) and
 * warns naming the others: the reset then waits (bounded by `lockMs`) for any lock they hold.
 * Returns how many it ended.
 */
export async function endOtherSessions(client: pg.Client, db: string, log: Logger, lockMs: number): Promise<number> {
  const sessions = await otherSessions(client, db);
  const endable = sessions.filter((s) => !s.refusal).map((s) => s.pid);
  const { rows } = endable.length
    ? await client.query<{ n: string }>("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int8 AS n FROM unnest($1::int[]) AS pid", [endable])
    : { rows: [{ n: "0" }] };
  const terminated = Number(rows[0]?.n ?? 0);
  if (terminated > 0) log.info(`${db}: terminated ${terminated} other connection(s)`);
  const admin = (await client.query<{ u: string }>("SELECT current_user AS u")).rows[0]?.u ?? "?";
  const left = describeUnendable(sessions, admin);
  if (left) log.warn(`${db}: ${left}; the reset waits up to ${lockMs} ms for any lock they hold`);
  return terminated;
}

/**
 * Refuses new connections to the database (`ALLOW_CONNECTIONS false`) while `fn` runs, so a
 * reconnecting pool cannot queue behind the reset's locks or write after the count, and always
 * restores the setting found. That needs the owner's privileges and a second connection (to a
 * maintenance database): without them the reset fails here, before anything is dropped or any
 * session ended. A failure to restore is logged and reported: appended to `fn`'s error, or
 * thrown when `fn` succeeded. A run killed meanwhile leaves it closed: the next run re-opens it
 * ({@link reopenAfterInterruptedReset}).
 */
export async function withConnectionsRefused<T>(client: pg.Client, db: string, maintenance: readonly string[], log: Logger, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ name: string; owner: string; allowed: boolean }>(
    "SELECT datname AS name, pg_get_userbyid(datdba) AS owner, datallowconn AS allowed FROM pg_database WHERE datname = current_database()",
  );
  const found = rows[0];
  if (!found) throw new Error("internal: the current database is missing from pg_database");
  // Already refused by someone else (pgstack connected before that): leave it as found.
  if (!found.allowed) return fn();
  const target = quoteIdent(found.name);
  const other = await connectElsewhere(sessionOptions(client), db, maintenance);
  try {
    try {
      await other.query(`ALTER DATABASE ${target} WITH ALLOW_CONNECTIONS false`);
    } catch (err) {
      if ((err as { code?: string }).code !== "42501") throw err;
      throw new PgstackError(
        "RESET_NOT_PERMITTED",
        `database "${db}": the reset must refuse new connections while it runs (ALTER DATABASE … ALLOW_CONNECTIONS), ` +
          `which only the database's owner "${found.owner}" and its members may do: ${errorMessage(err)}; nothing was dropped`,
        { hint: `make the admin a member of "${found.owner}" (GRANT ${quoteIdent(found.owner)} TO <admin>), or make the stack's owner role own the database`, cause: err },
      );
    }
    log.info(`${db}: new connections refused until the reset ends`);
    const restore = async (): Promise<string | undefined> => {
      try {
        await other.query(`ALTER DATABASE ${target} WITH ALLOW_CONNECTIONS true`);
        return undefined;
      } catch (err) {
        const problem =
          `new connections to "${db}" are still refused: allowing them again failed (${errorMessage(err)}); ` +
          `the next pgstack run re-opens it, or connect to another database as its owner and run ALTER DATABASE ${target} WITH ALLOW_CONNECTIONS true`;
        log.warn(`${db}: ${problem}`);
        return problem;
      }
    };
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      const problem = await restore();
      // Why append: the original error says what happened to the data; it must not be masked.
      if (problem && err instanceof Error) err.message += `\n  ! also: ${problem}`;
      throw err;
    }
    const problem = await restore();
    if (problem) throw new PgstackError("CONNECTIONS_STILL_REFUSED", `database "${db}": the reset completed, but ${problem}`);
    return result;
  } finally {
    await other.end().catch(() => undefined);
  }
}

/**
 * True for the error of a connection refused because the database does not allow connections
 * (`ALLOW_CONNECTIONS false`), which is how an interrupted reset leaves it.
 */
export function isClosedDatabaseError(err: unknown): boolean {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.code;
  const message = `${e.cause?.message ?? ""} ${e.message ?? ""}`;
  return code === "55000" && /not currently accepting connections/i.test(message);
}

/**
 * Repair after a reset was killed between refusing new connections and allowing them again:
 * from a maintenance database, checks that `target.database` refuses connections and that no
 * session holds pgstack's lock on it (a reset that still runs holds it throughout), then allows
 * connections again and says so in one line. Returns false when there was nothing to re-open;
 * throws when a reset still runs, or when the admin may not re-open it (naming the statement).
 */
export async function reopenAfterInterruptedReset(target: ConnectionOptions, log: Logger, maintenance: readonly string[] = MAINTENANCE_DATABASES): Promise<boolean> {
  const db = target.database;
  const other = await connectElsewhere(target, db, maintenance);
  try {
    const { rows } = await other.query<{ allowed: boolean; template: boolean; holders: string | null }>(
      `SELECT d.datallowconn AS allowed, d.datistemplate AS template,
              (SELECT string_agg('pid ' || l.pid, ', ') FROM pg_locks l
                WHERE l.locktype = 'advisory' AND l.granted AND l.database = d.oid
                  AND l.classid = $2 AND l.objid = $3 AND l.objsubid = 2) AS holders
         FROM pg_database d WHERE d.datname = $1`,
      [db, LOCK_KEY[0], LOCK_KEY[1]],
    );
    const found = rows[0];
    if (!found || found.allowed || found.template) return false;
    if (found.holders) {
      throw new PgstackError("RESET_RUNNING", `database "${db}" refuses new connections because a reset is running (${found.holders} holds pgstack's lock on it)`, {
        hint: "wait for that run to finish (it allows connections again when it ends), then run again",
      });
    }
    const sql = `ALTER DATABASE ${quoteIdent(db)} WITH ALLOW_CONNECTIONS true`;
    try {
      await other.query(sql);
    } catch (err) {
      throw new PgstackError("CONNECTIONS_STILL_REFUSED", `database "${db}" refuses new connections (an interrupted reset left it so) and the admin may not allow them again: ${errorMessage(err)}`, {
        hint: `as the database's owner or a superuser, from another database run: ${sql}`,
        cause: err,
      });
    }
    log.warn(`${db}: re-opened to new connections: an interrupted reset had left it refusing them (no reset holds its lock)`);
    return true;
  } finally {
    await other.end().catch(() => undefined);
  }
}

/** How `client` was opened, to open a second session like it. */
function sessionOptions(client: pg.Client): ConnectionOptions {
  const known = connectionOptionsOf(client);
  if (known) return known;
  // A client pgstack's connect() did not open: its settings, read back (TLS without verification).
  const password = typeof client.password === "string" ? client.password : undefined;
  return { host: client.host, port: client.port, user: client.user ?? "", password, database: client.database ?? "", sslmode: client.ssl ? "require" : "disable" };
}

/** A second session as the same user, with the same settings, to the first maintenance database that lets it in. */
async function connectElsewhere(c: ConnectionOptions, db: string, databases: readonly string[]): Promise<pg.Client> {
  let last: unknown;
  for (const database of databases) {
    try {
      // Through the shared connect(): its retries, timeouts, TLS settings and error messages.
      return await connect({ ...c, database, applicationName: "pgstack (maintenance)" });
    } catch (err) {
      last = err;
      // Missing (3D000) or refusing connections (55000): try the next one.
      if (!["3D000", "55000"].includes((err as { cause?: { code?: string } }).cause?.code ?? "")) break;
    }
  }
  throw new PgstackError(
    "RESET_NOT_PERMITTED",
    `database "${db}": pgstack refuses and allows new connections to it from a second session in another database (${databases.join(" or ")}), ` +
      `which could not be opened: ${errorMessage(last)}; nothing was dropped`,
    { hint: "let the admin connect to the server's postgres database (or pass maintenanceDatabase), then run `pulumi up` again", cause: last },
  );
}
