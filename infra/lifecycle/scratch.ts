/**
 * The one scratch database: a throwaway database on the same server, created, used and always
 * dropped. The declared schema, adoption's step-by-step comparison, the review's
 * schema-after-the-PR and the rehearsal copy all build in one of these, under one naming scheme
 * and one leftover rule.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import { connect, silentLogger, type ConnectionOptions, type Logger } from "./connection.js";
import { errorMessage, PgstackError } from "./errors.js";
import { quoteIdent } from "./identifiers.js";

/** Every scratch database's name starts with this; leftovers of crashed runs are found by it. */
export const SCRATCH_PREFIX = "pgstack_shadow_";

/** A scratch database older than this with no session in it is a crashed run's leftover. */
const LEFTOVER_AGE_MS = 5 * 60_000;

/** What a scratch database is for (named in logs and in its name). */
export type ScratchPurpose = "declared" | "baseline" | "review" | "rehearsal";

/** Options of {@link withScratchDatabase}. */
export interface ScratchOptions {
  /** What it is for, for messages. */
  purpose: ScratchPurpose;
  /** The database owner: the scratch database belongs to it and migrations run with its privileges only. */
  owner: string;
  /** Progress. */
  logger?: Logger;
}

/** A scratch database could not be created or used. */
export class ScratchDatabaseError extends PgstackError {
  constructor(message: string, options: { hint: string; cause?: unknown }) {
    super("SCRATCH_DATABASE_FAILED", message, options);
  }
}

/**
 * Creates a shadow database owned by `role`, runs `fn` connected to it, and drops it whatever
 * happens. Leftovers of crashed runs (old, and with nobody connected) are dropped first.
 */
export async function withScratchDatabase<T>(admin: ConnectionOptions, opts: ScratchOptions, fn: (client: pg.Client, name: string) => Promise<T>): Promise<T> {
  const role = opts.owner;
  const log = opts.logger ?? silentLogger;
  const name = `${SCRATCH_PREFIX}${Date.now().toString(36)}_${process.pid.toString(36)}_${randomBytes(3).toString("hex")}`;
  const control = await connect({ ...admin, applicationName: "pgstack (shadow)" });
  try {
    await dropLeftoverShadows(control, log);
    try {
      // template0: nothing a server's template1 holds leaks in, and no session blocks the copy.
      await control.query(`CREATE DATABASE ${quoteIdent(name)} OWNER ${quoteIdent(role)} TEMPLATE template0`);
    } catch (err) {
      throw new ScratchDatabaseError(`cannot create the shadow database ${name} for the declared schema: ${errorMessage(err)}`, {
        hint: `the admin "${admin.user}" needs CREATEDB and membership in "${role}" (GRANT ${quoteIdent(role)} TO ${quoteIdent(admin.user)})`,
        cause: err,
      });
    }
    log.info(`declared schema: building in the shadow database ${name}`);
    try {
      const shadow = await connect({ ...admin, database: name, applicationName: "pgstack (shadow)" });
      try {
        // A throwaway database needs no durability: no commit waits for a WAL flush.
        await shadow.query("SET synchronous_commit = off");
        return await fn(shadow, name);
      } finally {
        await shadow.end().catch(() => undefined);
      }
    } finally {
      await control.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`).catch((err: unknown) => {
        log.warn(`could not drop the shadow database ${name} (the next run drops it): ${errorMessage(err)}`);
      });
    }
  } finally {
    await control.end().catch(() => undefined);
  }
}

/** Drops shadow databases that crashed runs left: older than a few minutes and with no session. */
export async function dropLeftoverShadows(client: pg.Client, log: Logger = silentLogger, maxAgeMs = LEFTOVER_AGE_MS): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>(
    `SELECT d.datname FROM pg_database d
      WHERE starts_with(d.datname, $1) AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datid = d.oid)`,
    [SCRATCH_PREFIX],
  );
  const dropped: string[] = [];
  for (const { datname } of rows) {
    const born = parseInt(datname.slice(SCRATCH_PREFIX.length).split("_")[0] ?? "", 36);
    // A shadow being built right now has a session (or is seconds old): leave it to its run.
    if (Number.isFinite(born) && Date.now() - born < maxAgeMs) continue;
    try {
      // No FORCE: if a session has connected since, the drop fails and the database stays.
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(datname)}`);
      dropped.push(datname);
      log.info(`declared schema: dropped ${datname}, left over from an earlier run`);
    } catch (err) {
      log.warn(`could not drop the leftover shadow database ${datname}: ${errorMessage(err)}`);
    }
  }
  return dropped;
}

