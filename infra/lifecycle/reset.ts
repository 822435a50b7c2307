/**
 * Reset (the "nuke"): drop the managed schemas, rebuild them with their owner and grants,
 * clear the migration history and record the new generation, all in one transaction. The
 * generation recorded in the database makes a retry after a crash a no-op.
 */
import type pg from "pg";
import type { Logger } from "./connection.js";
import { silentLogger } from "./connection.js";
import { PgstackError, ResetRefusedError } from "./errors.js";
import { ensureHistory, readMeta, writeMeta } from "./history.js";
import { quoteIdent } from "./identifiers.js";
import { countRows, introspect } from "./introspect.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";

/** The meta key that holds the reset generation. */
export const GENERATION_KEY = "reset_generation";

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
  /** True when the stack config accepted data loss for exactly this generation. */
  acceptDataLoss: boolean;
  lockTimeoutMs?: number;
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
 * before dropping anything, if a table holds rows and data loss was not accepted.
 */
export async function resetDatabase(client: pg.Client, options: ResetOptions): Promise<ResetOutcome> {
  const log = options.logger ?? silentLogger;
  const db = options.database;
  return withMigrationLock(client, db, options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS, async () => {
    await ensureHistory(client);
    const previous = await readGeneration(client);
    const base = { generation: options.generation, previousGeneration: previous, dropped: [], terminatedBackends: 0 };
    if (previous === undefined) {
      await writeMeta(client, GENERATION_KEY, String(options.generation));
      log.info(`${db}: adopted at reset generation ${options.generation}; nothing dropped`);
      return { ...base, action: "adopted" };
    }
    if (previous === options.generation) {
      log.info(`${db}: already at reset generation ${options.generation}; nothing to do`);
      return { ...base, action: "unchanged" };
    }

    const schemaNames = options.schemas.map((s) => s.name);
    const { tables } = await introspect(client, { schemas: schemaNames });
    await countRows(client, tables);
    const withRows = tables.filter((t) => (t.exactRows ?? 0) > 0);
    if (withRows.length > 0 && !options.acceptDataLoss) {
      throw new ResetRefusedError(
        `database "${db}": reset to generation ${options.generation} refused before dropping anything; ` +
          `these tables hold rows:\n` +
          withRows.map((t) => `  - ${t.schema}.${t.name}: ${t.exactRows} row(s)`).join("\n"),
        `take a backup, then set reset.acceptDataLoss: ${options.generation} for this database in the stack config to accept losing them`,
      );
    }

    log.info(`${db}: resetting from generation ${previous} to ${options.generation}`);
    const terminatedBackends = await endOtherSessions(client, db, log);

    // One transaction: Postgres DDL is transactional, so a failure leaves everything as it was.
    await client.query("BEGIN");
    try {
      for (const s of options.schemas) {
        log.info(`${db}: dropping schema ${s.name} (CASCADE)`);
        await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(s.name)} CASCADE`);
        await client.query(schemaDdl(s).join(";\n"));
        log.info(`${db}: recreated schema ${s.name} owned by ${s.owner}, ${s.grants.length} grant(s) restored`);
      }
      await client.query("DELETE FROM pgstack.migrations");
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
      await client.query("COMMIT");
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    }
    log.info(`${db}: reset to generation ${options.generation} done; ${tables.length} table(s) dropped`);
    return {
      ...base,
      action: "reset",
      dropped: tables.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.exactRows ?? 0 })),
      terminatedBackends,
    };
  });
}

/**
 * Ends the other sessions on this database that the admin may end: its own roles' sessions, and
 * everyone's but superusers' when it holds `pg_signal_backend` (as managed Postgres admins do).
 * Sessions it may not end are named in a warning instead of failing the reset: the drop then
 * waits for their locks.
 */
async function endOtherSessions(client: pg.Client, db: string, log: Logger): Promise<number> {
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
    log.warn(`${db}: cannot end the sessions of ${left} (the admin is not a member of their role and lacks pg_signal_backend); the drop waits for their locks`);
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
