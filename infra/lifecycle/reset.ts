/**
 * Reset (the "nuke"): drop the managed schemas, rebuild them with their owner and grants (but
 * those a migration creates, see migration-schemas.ts), clear the migration history and record the new generation, all in one transaction. The
 * generation recorded in the database makes a retry after a crash a no-op.
 *
 * No row written before the reset may be lost without acceptance: new connections are refused
 * while it runs, other sessions are ended, and the rows are counted under ACCESS EXCLUSIVE locks
 * on every managed table, in the transaction that drops them.
 */
import type pg from "pg";
import type { Logger } from "./connection.js";
import { connect, silentLogger } from "./connection.js";
import { errorMessage, PgstackError, ResetLockTimeoutError, ResetRefusedError } from "./errors.js";
import { ensureHistory, readMeta, RUNNING_KEY_PREFIX, writeMeta } from "./history.js";
import { qualified, quoteIdent, quoteLiteral } from "./identifiers.js";
import { countRows, introspect, type TableInfo } from "./introspect.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";

/** The meta key that holds the reset generation. */
export const GENERATION_KEY = "reset_generation";

/** Default wait, in the drop phase, for other sessions' locks on the managed tables and schemas. */
export const DEFAULT_DROP_LOCK_TIMEOUT_MS = 10_000;

/** Privileges one role gets in one managed schema. */
export interface SchemaGrant {
  role: string;
  /** On the schema itself: `USAGE`, `CREATE`. */
  schema: readonly ("USAGE" | "CREATE")[];
  /** Default privileges on tables the owner creates in the schema. */
  tables: readonly ("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE" | "REFERENCES" | "TRIGGER")[];
  /** Default privileges on sequences the owner creates in the schema. */
  sequences: readonly ("USAGE" | "SELECT" | "UPDATE")[];
}

/** A schema pgstack manages: dropped and rebuilt by a reset. */
export interface ManagedSchema {
  name: string;
  owner: string;
  grants: readonly SchemaGrant[];
}

/** Options for {@link resetDatabase}. */
export interface ResetOptions {
  database: string;
  /** The generation the stack asks for. */
  generation: number;
  schemas: readonly ManagedSchema[];
  /**
   * The managed schemas a migration creates (`CREATE SCHEMA`): dropped like the others but not
   * recreated, or that migration would fail with "already exists" when it runs again. Whoever
   * runs it restores their owner and grants (`schemaDdlAfterMigrations`).
   */
  createdByMigrations?: readonly string[];
  /** True when the stack config accepted data loss for exactly this generation. */
  acceptDataLoss: boolean;
  /**
   * Reset even when the recorded generation is the one asked for, or none is recorded
   * (`reset.mode: every-deploy`: each deploy starts from an empty database). A retry after a
   * crash then resets again, which such a stack has accepted.
   */
  force?: boolean;
  /** How long to wait for pgstack's advisory lock, in ms (default {@link DEFAULT_LOCK_TIMEOUT_MS}). */
  lockTimeoutMs?: number;
  /**
   * How long each lock the reset takes on the managed tables and schemas (and pgstack's own
   * tables) may wait, in ms (default {@link DEFAULT_DROP_LOCK_TIMEOUT_MS}). A session that
   * pgstack may not end and that holds such a lock makes the reset fail after this wait with a
   * {@link ResetLockTimeoutError} naming it, instead of hanging; nothing is dropped then.
   */
  dropLockTimeoutMs?: number;
  /**
   * Another database on the same server, reached with this client's host, port, user, password
   * and TLS settings, from which the reset refuses and re-allows new connections to this one:
   * Postgres forbids `ALTER DATABASE … ALLOW_CONNECTIONS false` on the current database.
   * Default `postgres`, then `template1` if that does not exist or refuses connections.
   */
  maintenanceDatabase?: string;
  logger?: Logger;
}

/** What {@link resetDatabase} did. */
export interface ResetOutcome {
  /** `adopted`: first sight, generation recorded, nothing dropped. `unchanged`: already at it. `reset`: nuked and rebuilt. */
  action: "adopted" | "unchanged" | "reset";
  previousGeneration?: number;
  generation: number;
  /** Tables dropped, with the rows they held. */
  dropped: { table: string; rows: number }[];
  /** Other sessions terminated before the drop. */
  terminatedBackends: number;
}

/** The generation recorded in the database, if any. */
export async function readGeneration(client: pg.Client): Promise<number | undefined> {
  const v = await readMeta(client, GENERATION_KEY);
  return v === undefined ? undefined : Number(v);
}

/**
 * Brings the database to `options.generation`: adopt, do nothing, or nuke and rebuild. Refuses,
 * before dropping anything, if a table holds rows and data loss was not accepted: the binding
 * count is taken under ACCESS EXCLUSIVE locks in the dropping transaction, so a row written
 * before the reset is either counted (and refused, or accepted) or never written. New
 * connections are refused meanwhile and always allowed again afterwards.
 */
export async function resetDatabase(client: pg.Client, options: ResetOptions): Promise<ResetOutcome> {
  const log = options.logger ?? silentLogger;
  const db = options.database;
  const lockMs = Math.max(1, Math.floor(options.dropLockTimeoutMs ?? DEFAULT_DROP_LOCK_TIMEOUT_MS));
  return withMigrationLock(client, db, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    await ensureHistory(client);
    const previous = await readGeneration(client);
    const base = { generation: options.generation, previousGeneration: previous, dropped: [], terminatedBackends: 0 };
    if (previous === undefined && !options.force) {
      await writeMeta(client, GENERATION_KEY, String(options.generation));
      log.info(`${db}: adopted at reset generation ${options.generation}; nothing dropped`);
      return { ...base, action: "adopted" };
    }
    if (previous === options.generation && !options.force) {
      log.info(`${db}: already at reset generation ${options.generation}; nothing to do`);
      return { ...base, action: "unchanged" };
    }

    const schemaNames = options.schemas.map((s) => s.name);
    // A first count, disturbing nobody: an obvious refusal should not end the app's sessions.
    // It decides nothing on its own; the count under the locks below does.
    await lockedTransaction(client, db, schemaNames, lockMs, async () => {
      const { tables } = await introspect(client, { schemas: schemaNames });
      await countRows(client, tables);
      refuseUnlessAccepted(tables, options);
    });

    log.info(options.force ? `${db}: resetting (reset.mode every-deploy: every deploy starts from an empty database)` : `${db}: resetting from generation ${previous} to ${options.generation}`);
    const maintenance = options.maintenanceDatabase ? [options.maintenanceDatabase] : ["postgres", "template1"];
    return withConnectionsRefused(client, db, maintenance, log, async () => {
      const terminatedBackends = await endOtherSessions(client, db, log, lockMs);
      // One transaction: Postgres DDL is transactional, so a failure leaves everything as it was.
      const tables = await lockedTransaction(client, db, schemaNames, lockMs, async () => {
        const locked = await lockManagedTables(client, db, schemaNames);
        await countRows(client, locked);
        refuseUnlessAccepted(locked, options);
        for (const s of options.schemas) {
          log.info(`${db}: dropping schema ${s.name} (CASCADE)`);
          // Its comment (`public`'s "standard public schema") is the schema's, not the migrations': kept, or drift would name it.
          const { rows } = await client.query<{ c: string | null }>(`SELECT obj_description(to_regnamespace(${quoteLiteral(s.name)}), 'pg_namespace') AS c`);
          await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s.name)} CASCADE`);
          if (options.createdByMigrations?.includes(s.name)) {
            log.info(`${db}: schema ${s.name} is left to the migration that creates it; its owner and grants follow that migration`);
            continue;
          }
          await client.query(schemaDdl(s).join(";\n"));
          const comment = rows[0]?.c;
          if (comment) await client.query(`COMMENT ON SCHEMA ${quoteIdent(s.name)} IS ${quoteLiteral(comment)}`);
          log.info(`${db}: recreated schema ${s.name} owned by ${s.owner}, ${s.grants.length} grant(s) restored`);
        }
        // The repeatables' log too: their objects went with the schemas, so they all run again.
        await client.query("DELETE FROM pgstack.migrations; DELETE FROM pgstack.repeatables");
        // Markers of interrupted no-transaction migrations: their effects are dropped with the schemas.
        await client.query(`DELETE FROM pgstack.meta WHERE starts_with(key, ${quoteLiteral(RUNNING_KEY_PREFIX)})`);
        await writeMeta(client, GENERATION_KEY, String(options.generation));
        await writeMeta(client, "last_reset_at", new Date().toISOString());
        const left = await introspect(client, { schemas: schemaNames });
        if (left.tables.length > 0) {
          throw new PgstackError(
            "RESET_INCOMPLETE",
            `database "${db}": tables remain after the reset: ${left.tables.map((t) => `${t.schema}.${t.name}`).join(", ")}`,
            { hint: "nothing was changed; report this as a pgstack bug" },
          );
        }
        return locked;
      });
      log.info(`${db}: reset to generation ${options.generation} done; ${tables.length} table(s) dropped`);
      return {
        ...base,
        action: "reset" as const,
        dropped: tables.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.exactRows ?? 0 })),
        terminatedBackends,
      };
    });
  });
}

/** Throws {@link ResetRefusedError} when a table holds rows and data loss was not accepted. */
function refuseUnlessAccepted(tables: readonly TableInfo[], options: ResetOptions): void {
  const withRows = tables.filter((t) => (t.exactRows ?? 0) > 0);
  if (withRows.length === 0 || options.acceptDataLoss) return;
  throw new ResetRefusedError(
    `database "${options.database}": reset to generation ${options.generation} refused before dropping anything; ` +
      `these tables hold rows:\n` +
      withRows.map((t) => `  - ${t.schema}.${t.name}: ${t.exactRows} row(s)`).join("\n"),
    `take a backup, then set reset.acceptDataLoss: ${options.generation} for this database in the stack config to accept losing them`,
  );
}

/**
 * Runs `fn` in a transaction whose every lock wait is bounded by `lockMs` (`SET LOCAL
 * lock_timeout`), so a session holding a lock cannot make the reset hang. Rolls back on any
 * error; a lock timeout becomes a {@link ResetLockTimeoutError} naming the holders, looked up
 * after the rollback (the aborted transaction can run no query).
 */
async function lockedTransaction<T>(client: pg.Client, db: string, schemas: readonly string[], lockMs: number, fn: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    await client.query(`SET LOCAL lock_timeout = ${lockMs}`);
    const result = await fn();
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    if ((err as { code?: string }).code === "55P03") {
      throw new ResetLockTimeoutError(db, lockMs, await describeLockHolders(client, schemas).catch(() => []));
    }
    throw err;
  }
}

/**
 * Takes ACCESS EXCLUSIVE locks on every table of the managed schemas and returns them. Why a
 * loop: a table created between the listing and the LOCK would be dropped uncounted, so the
 * listing is repeated under the locks until it no longer changes.
 */
async function lockManagedTables(client: pg.Client, db: string, schemas: readonly string[]): Promise<TableInfo[]> {
  const locked = new Set<string>();
  for (let round = 0; round < 5; round++) {
    const { tables } = await introspect(client, { schemas });
    const fresh = tables.filter((t) => !locked.has(qualified(t.schema, t.name)));
    if (fresh.length === 0) return tables;
    const names = fresh.map((t) => qualified(t.schema, t.name));
    await client.query(`LOCK TABLE ${names.join(", ")} IN ACCESS EXCLUSIVE MODE`);
    names.forEach((n) => locked.add(n));
  }
  throw new PgstackError("RESET_UNSTABLE", `database "${db}": tables keep being created in the managed schemas while the reset locks them; nothing was dropped`, {
    hint: "stop whatever creates tables there (a migration tool, another deploy), then run `pulumi up` again",
  });
}

/** "pid 123 (user app, application "worker", idle in transaction, holds AccessShareLock on public.t)", one per session. */
async function describeLockHolders(client: pg.Client, schemas: readonly string[]): Promise<string[]> {
  const { rows } = await client.query<{ pid: number; usename: string | null; application_name: string | null; state: string | null; locks: string }>(
    `SELECT l.pid, a.usename, a.application_name, a.state,
            string_agg(DISTINCT l.mode || ' on ' || n.nspname || '.' || c.relname, ', ') AS locks
       FROM pg_locks l
       JOIN pg_class c ON c.oid = l.relation
       JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.granted AND l.pid <> pg_backend_pid() AND n.nspname = ANY($1::text[])
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      GROUP BY l.pid, a.usename, a.application_name, a.state
      ORDER BY l.pid LIMIT 20`,
    [[...schemas, "pgstack"]],
  );
  return rows.map((r) => {
    const app = r.application_name ? `, application "${r.application_name}"` : "";
    // state is hidden from the admin for other roles' sessions.
    const state = r.state ? `, ${r.state}` : "";
    return `pid ${r.pid} (user ${r.usename ?? "unknown"}${app}${state}, holds ${r.locks})`;
  });
}

/**
 * Refuses new connections to the database (`ALLOW_CONNECTIONS false`) while `fn` runs, so a
 * reconnecting pool cannot queue behind the reset's locks or write after the count, and always
 * restores the setting found. That needs the owner's privileges and a second connection (to a
 * maintenance database): without them the reset fails here, before anything is dropped or any
 * session ended. A failure to restore is logged and reported: appended to `fn`'s error, or
 * thrown when `fn` succeeded.
 */
async function withConnectionsRefused<T>(client: pg.Client, db: string, maintenance: readonly string[], log: Logger, fn: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ name: string; owner: string; allowed: boolean }>(
    "SELECT datname AS name, pg_get_userbyid(datdba) AS owner, datallowconn AS allowed FROM pg_database WHERE datname = current_database()",
  );
  const found = rows[0];
  if (!found) throw new Error("internal: the current database is missing from pg_database");
  // Already refused by someone else (pgstack connected before that): leave it as found.
  if (!found.allowed) return fn();
  const target = quoteIdent(found.name);
  const other = await connectElsewhere(client, db, maintenance);
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
          `connect to another database as its owner and run ALTER DATABASE ${target} WITH ALLOW_CONNECTIONS true`;
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

/** A second session as the same user, with the same settings, to the first maintenance database that lets it in. */
async function connectElsewhere(client: pg.Client, db: string, databases: readonly string[]): Promise<pg.Client> {
  // The caller's settings, back as ConnectionOptions, so the second session goes through the
  // shared connect() (its retries, timeouts and error messages).
  const ssl = client.ssl as boolean | { rejectUnauthorized?: boolean };
  const sslmode = !ssl ? "disable" : typeof ssl === "object" && ssl.rejectUnauthorized ? "verify-full" : "require";
  const password = typeof client.password === "string" ? client.password : undefined;
  let last: unknown;
  for (const database of databases) {
    try {
      return await connect({ host: client.host, port: client.port, user: client.user ?? "", password, database, sslmode });
    } catch (err) {
      last = err;
      // Missing (3D000) or refusing connections (55000): try the next one.
      if (!["3D000", "55000"].includes((err as { cause?: { code?: string } }).cause?.code ?? "")) break;
    }
  }
  throw new PgstackError(
    "RESET_NOT_PERMITTED",
    `database "${db}": the reset refuses new connections from a second session in another database (${databases.join(" or ")}), ` +
      `which could not be opened: ${errorMessage(last)}; nothing was dropped`,
    { hint: "let the admin connect to the server's postgres database (or pass maintenanceDatabase), then run `pulumi up` again", cause: last },
  );
}

/**
 * Ends the other sessions on this database that the admin may end: its own roles' sessions, and
 * everyone's but superusers' when it holds `pg_signal_backend` (as managed Postgres admins do).
 * Sessions it may not end are named in a warning instead of failing the reset: the reset then
 * waits (bounded by the drop lock timeout) for any lock they hold.
 */
async function endOtherSessions(client: pg.Client, db: string, log: Logger, lockMs: number): Promise<number> {
  const { rows } = await client.query<{ terminated: string; left: string | null }>(
    `WITH me AS (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
          others AS (
            SELECT a.pid, a.usename,
                   NOT (me.rolsuper OR (NOT coalesce(r.rolsuper, false)
                        AND (pg_has_role(a.usesysid, 'MEMBER') OR pg_has_role('pg_signal_backend', 'MEMBER')))) AS forbidden
              FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid, me
             -- backend_type is hidden from non-superusers for other roles' sessions; usesysid is not.
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.usesysid IS NOT NULL)
     SELECT count(*) FILTER (WHERE CASE WHEN forbidden THEN false ELSE pg_terminate_backend(pid) END)::int8 AS terminated,
            string_agg(usename || ' (pid ' || pid || ')', ', ') FILTER (WHERE forbidden) AS left
       FROM others`,
  );
  const terminated = Number(rows[0]?.terminated ?? 0);
  if (terminated > 0) log.info(`${db}: terminated ${terminated} other connection(s)`);
  const left = rows[0]?.left;
  if (left) {
    log.warn(`${db}: cannot end the sessions of ${left} (the admin is not a member of their role and lacks pg_signal_backend); the reset waits up to ${lockMs} ms for any lock they hold`);
  }
  return terminated;
}

/**
 * The statements that (re)create a managed schema with its owner, schema grants and default
 * privileges. Pure, so the SQL is unit-tested.
 */
export function schemaDdl(s: ManagedSchema): string[] {
  const schema = quoteIdent(s.name);
  const owner = quoteIdent(s.owner);
  const out = [`CREATE SCHEMA IF NOT EXISTS ${schema} AUTHORIZATION ${owner}`, `ALTER SCHEMA ${schema} OWNER TO ${owner}`];
  for (const g of s.grants) {
    const role = quoteIdent(g.role);
    if (g.schema.length) out.push(`GRANT ${g.schema.join(", ")} ON SCHEMA ${schema} TO ${role}`);
    if (g.tables.length) {
      out.push(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${schema} GRANT ${g.tables.join(", ")} ON TABLES TO ${role}`);
    }
    if (g.sequences.length) {
      out.push(
        `ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA ${schema} GRANT ${g.sequences.join(", ")} ON SEQUENCES TO ${role}`,
      );
    }
  }
  return out;
}
