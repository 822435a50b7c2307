/**
 * A confined session as the owner: migrations never run as the admin. A throwaway LOGIN role,
 * granted nothing but the owner role, logs in and runs them, so a migration's `RESET ROLE` lands
 * on a role with only the owner's privileges (and none of the admin's CREATEROLE or CREATEDB).
 * The role is dropped afterwards, also on failure. Both the scratch database and the real `up`
 * run migrations through this.
 *
 * Its password is random, lives only in this process's memory, and never reaches the server in
 * plain text: the role is created with a SCRAM-SHA-256 verifier computed here.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import type pg from "pg";
import { connect, silentLogger, type ConnectionOptions, type Logger } from "./connection.js";
import { errorMessage, PgstackError } from "./errors.js";
import { ensureHistory, PGSTACK_SCHEMA } from "./history.js";
import { quoteIdent, quoteLiteral } from "./identifiers.js";
import { DEFAULT_LOCK_TIMEOUT_MS, withMigrationLock } from "./lock.js";
import { dropLeftoverScratch, dropThrowawayRole, readCreator, scratchName, type Creator } from "./scratch-names.js";

/** Options of {@link withOwnerSession}. */
export interface OwnerSessionOptions {
  /** The role migrations run with the privileges of: the database owner. */
  owner: string;
  /** The creator recorded in the role's name (default: `control`'s session). */
  creator?: Creator;
  /** Called with the role's name once it exists (e.g. to drop it on a signal). */
  onRole?: (role: string) => void;
}

/** The throwaway role could not be made (or granted the owner). Nothing was run. */
export class OwnerSessionError extends PgstackError {
  constructor(message: string, options: { hint: string; cause?: unknown }) {
    super("OWNER_SESSION_FAILED", message, options);
  }
}

/** A session logged in as a throwaway role that holds only the owner's privileges. */
export interface OwnerSession {
  client: pg.Client;
  /** The throwaway role's name (drop it with {@link dropThrowawayRole} when done). */
  role: string;
}

/** A throwaway login role, made but not yet logged in as (its password only in this process). */
export interface ThrowawayRole {
  role: string;
  password: string;
}

/** Creates a throwaway login role that is a member of `owner` only. */
export async function createThrowawayRole(control: pg.Client, admin: string, owner: string, creator: Creator): Promise<ThrowawayRole> {
  const role = scratchName(creator, "run");
  const password = randomBytes(24).toString("hex");
  try {
    await control.query(`CREATE ROLE ${quoteIdent(role)} LOGIN INHERIT PASSWORD ${quoteLiteral(scramVerifier(password))} IN ROLE ${quoteIdent(owner)}`);
  } catch (err) {
    // PostgreSQL 16 and later: CREATEROLE alone no longer lets the admin grant the owner.
    const denied = (err as { code?: string }).code === "42501" && /grant/i.test(errorMessage(err));
    throw new OwnerSessionError(`cannot create the throwaway role that runs the migrations as "${owner}": ${errorMessage(err)}; nothing was run`, {
      hint: denied
        ? `the admin "${admin}" must be able to grant "${owner}" (PostgreSQL 16 and later: only with ADMIN OPTION on it, which a role's creator has): as a superuser, run GRANT ${quoteIdent(owner)} TO ${quoteIdent(admin)} WITH ADMIN OPTION`
        : `the admin "${admin}" needs CREATEROLE, and the role "${owner}" must exist`,
      cause: err,
    });
  }
  return { role, password };
}

/**
 * Lets a throwaway role write pgstack's history in the database `control` is connected to
 * (`target` is how to reach that database), and logs in as it.
 */
export async function loginAs(control: pg.Client, target: ConnectionOptions, throwaway: ThrowawayRole): Promise<pg.Client> {
  await allowHistory(control, target.database, throwaway.role);
  return connect({ ...target, user: throwaway.role, password: throwaway.password, applicationName: "pgstack (migrations as the owner)" }, { retryDelaysMs: [] });
}

/**
 * Creates a throwaway login role that is a member of `opts.owner` only ({@link createThrowawayRole})
 * and logs in as it ({@link loginAs}). The caller ends the session and drops the role
 * ({@link withOwnerSession} does both); if the role is made but the login fails, it is dropped here.
 */
export async function openOwnerSession(control: pg.Client, target: ConnectionOptions, opts: OwnerSessionOptions): Promise<OwnerSession> {
  const throwaway = await createThrowawayRole(control, target.user, opts.owner, opts.creator ?? (await readCreator(control)));
  opts.onRole?.(throwaway.role);
  try {
    return { client: await loginAs(control, target, throwaway), role: throwaway.role };
  } catch (err) {
    await dropThrowawayRole(control, throwaway.role, opts.owner).catch(() => undefined);
    throw err;
  }
}

/**
 * Runs `fn` on a confined session as the owner (see {@link openOwnerSession}) in the database
 * `control` is connected to, then ends the session and drops the role, also on failure: what it
 * came to own goes to the owner, its grants go with it. Leftover throwaway roles of crashed runs
 * are dropped first. The real `up` applies migrations through this.
 */
export async function withOwnerSession<T>(control: pg.Client, target: ConnectionOptions, opts: OwnerSessionOptions & { logger?: Logger }, fn: (client: pg.Client, role: string) => Promise<T>): Promise<T> {
  await dropLeftoverScratch(control, opts.logger ?? silentLogger);
  // Already the owner (a stack whose admin owns the database): there is nothing above it to confine.
  if (target.user === opts.owner) return fn(control, opts.owner);
  const session = await openOwnerSession(control, target, opts);
  try {
    return await fn(session.client, session.role);
  } finally {
    await session.client.end().catch(() => undefined);
    await dropThrowawayRole(control, session.role, opts.owner).catch(async (err: unknown) => {
      // A failed step must not leave the role behind: once more on a clean slate; the next
      // run's leftover sweep is the last resort.
      await control.query("ROLLBACK").catch(() => undefined);
      await dropThrowawayRole(control, session.role, opts.owner).catch(() => {
        throw new OwnerSessionError(`could not drop the throwaway role ${session.role}: ${errorMessage(err)}`, {
          hint: `the next run drops it; or run REASSIGN OWNED BY ${quoteIdent(session.role)} TO ${quoteIdent(opts.owner)}; DROP OWNED BY ${quoteIdent(session.role)}; DROP ROLE ${quoteIdent(session.role)}`,
          cause: err,
        });
      });
    });
  }
}

/**
 * pgstack's history tables, created by the admin if missing (under the migration lock), and the
 * rights the throwaway role needs on them: apply writes a migration's history row in the same
 * transaction as the migration. The owner role itself gets nothing here.
 */
async function allowHistory(control: pg.Client, database: string, role: string): Promise<void> {
  await withMigrationLock(control, database, DEFAULT_LOCK_TIMEOUT_MS, () => ensureHistory(control));
  const r = quoteIdent(role);
  await control.query(`GRANT USAGE ON SCHEMA ${PGSTACK_SCHEMA} TO ${r}; GRANT SELECT, INSERT, UPDATE, DELETE ON ${PGSTACK_SCHEMA}.migrations, ${PGSTACK_SCHEMA}.repeatables, ${PGSTACK_SCHEMA}.meta TO ${r}`);
}

/** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, as Postgres stores it). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest();
  const serverKey = createHmac("sha256", salted).update("Server Key").digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}
