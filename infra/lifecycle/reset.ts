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
import { silentLogger } from "./connection.js";
import { PgstackError, ResetLockTimeoutError, ResetRefusedError } from "./errors.js";
import { ensureHistory, readMeta, RUNNING_KEY_PREFIX, writeMeta } from "./history.js";
import { qualified, quoteIdent, quoteLiteral } from "./identifiers.js";
import { countRows, introspect, type TableInfo } from "./introspect.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";
import { endOtherSessions, MAINTENANCE_DATABASES, withConnectionsRefused } from "./sessions.js";

/** The meta key that holds the reset generation. */
export const GENERATION_KEY = "reset_generation";

/** Default wait, in the drop phase, for other sessions' locks on the managed tables and schemas. */
export const DEFAULT_DROP_LOCK_TIMEOUT_MS = 10_000;

/** Privileges one role gets in one managed schema. */
export interface SchemaGrant {
  role: string;
  /** On the schema itself: `USAGE`, `CREATE`. */
  schema: readonly ("USAGE" | "CREATE")[];
  /** Default privileges on tables the owner creates in the schema (MAINTAIN: PostgreSQL 17+). */
  tables: readonly ("SELECT" | "INSERT" | "UPDATE" | "DELETE" | "TRUNCATE" | "REFERENCES" | "TRIGGER" | "MAINTAIN")[];
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
    const maintenance = options.maintenanceDatabase ? [options.maintenanceDatabase] : MAINTENANCE_DATABASES;
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
          await runSchemaDdl(client, db, `DROP SCHEMA IF EXISTS ${quoteIdent(s.name)} CASCADE`);
          if (options.createdByMigrations?.includes(s.name)) {
            log.info(`${db}: schema ${s.name} is left to the migration that creates it; its owner and grants follow that migration`);
            continue;
          }
          await runSchemaDdl(client, db, schemaDdl(s).join(";\n"));
          const comment = rows[0]?.c;
          if (comment) await runSchemaDdl(client, db, `COMMENT ON SCHEMA ${quoteIdent(s.name)} IS ${quoteLiteral(comment)}`);
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

/** What to do when the admin may not own or drop a schema: PostgreSQL 14's `public` (README, "PostgreSQL versions"). */
export const SCHEMA_NOT_OWNED_HINT =
  "on PostgreSQL 14 the public schema of a new database belongs to the bootstrap superuser (from 15 on, to the database's owner, pg_database_owner), " +
  "and pgstack's admin may neither drop it nor give it to the owner: as a superuser, run once `ALTER SCHEMA public OWNER TO pg_database_owner` in template1 and template0 " +
  "(and in each existing database), or manage another schema than public";

/**
 * `err` as a {@link PgstackError} naming the schema and what to do when it is the server's
 * refusal to let the admin take over or drop a schema it may not act as (SQLSTATE 42501, "must be
 * owner of schema"); undefined for any other error.
 */
export function schemaNotOwnedError(err: unknown, database: string): PgstackError | undefined {
  const pgErr = err as { code?: string; message?: string };
  const schema = /must be owner of schema (.+)$/.exec(pgErr.message ?? "")?.[1];
  if (pgErr.code !== "42501" || schema === undefined) return undefined;
  return new PgstackError("SCHEMA_NOT_OWNED", `database "${database}": the admin may not take over schema ${schema}: ${pgErr.message}`, { hint: SCHEMA_NOT_OWNED_HINT, cause: err });
}

/** Runs `sql` (managed-schema DDL), turning a "must be owner of schema" refusal into {@link schemaNotOwnedError}. */
export async function runSchemaDdl(client: pg.Client, database: string, sql: string): Promise<void> {
  await client.query(sql).catch((err: unknown) => {
    throw schemaNotOwnedError(err, database) ?? err;
  });
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
