/**
 * The one scratch database: a throwaway database on the same server, created, used and always
 * dropped (on success, on failure, on SIGINT/SIGTERM, and, if the process was killed, by the next
 * run once its creator's session is gone). The declared schema, adoption's step-by-step
 * comparison, the review's schema-after-the-PR and the rehearsal copy all build in one.
 *
 * Migrations run in it as the owner, confined (see scratch-session.ts), and whatever they create
 * server-wide (roles, memberships, databases) is removed afterwards; what it could not undo is
 * refused before anything runs (see scratch-server.ts). A preview changes nothing on the server.
 */
import type pg from "pg";
import { connect, silentLogger, type ConnectionOptions, type Logger } from "./connection.js";
import { errorMessage, PgstackError } from "./errors.js";
import { quoteIdent, quoteLiteral } from "./identifiers.js";
import { planServerChanges, readServerObjects, replayable, undoServerChanges, type ServerChanges, type ServerObjects } from "./scratch-server.js";
import { dropDatabaseForce, dropLeftoverScratch, dropThrowawayRole, readCreator, scratchName, type Creator } from "./scratch-names.js";
import { createThrowawayRole, loginAs } from "./scratch-session.js";
import type { Migration } from "./source.js";
import { loadSqlParser } from "./sql.js";

export { SCRATCH_PREFIX, creatorOf, dropLeftoverScratch } from "./scratch-names.js";
export { ScratchRefusedError } from "./scratch-server.js";
export { OwnerSessionError, withOwnerSession } from "./scratch-session.js";

/** What a scratch database is for (part of its name, and named in logs). */
export type ScratchPurpose = "declared" | "baseline" | "review" | "rehearsal";

/** Options of {@link withScratchDatabase}. */
export interface ScratchOptions {
  /** What it is for, for names and messages. */
  purpose: ScratchPurpose;
  /** The database owner: the scratch database belongs to it and migrations run with its privileges only. */
  owner: string;
  /** Progress. */
  logger?: Logger;
  /**
   * Copy this database (`CREATE DATABASE … TEMPLATE`, schema and data) instead of starting empty.
   * The copy is only tried when nobody else is connected to it (nobody's session is ended for it);
   * otherwise, or when Postgres refuses it, or with `byTemplate: false`, the scratch database is
   * empty, with the source's encoding and locale, and {@link ScratchDatabase.made} says why.
   */
  copy?: { from: string; byTemplate: boolean };
  /**
   * The migrations the run will apply. Checked before anything is created: what they would change
   * server-wide and could not be undone is refused at file:line; the roles, memberships and
   * databases they create are removed after the run.
   */
  migrations?: readonly Migration[];
  /** Called first, and waited for, when SIGINT or SIGTERM arrives (e.g. to cancel a query that reads the source). */
  onInterrupt?: () => unknown;
}

/** A scratch database in use. */
export interface ScratchDatabase {
  name: string;
  /** The admin's session on it: set-up (schemas, a restore) and introspection. */
  admin: pg.Client;
  /** A session as the owner, confined (opened on first use): apply migrations through it, never through `admin`. */
  ownerSession(): Promise<pg.Client>;
  /** How it was made: empty, a template copy, or empty because the template copy was not possible (`refused`). */
  made: { method: "empty"; refused?: string } | { method: "template" };
  /** True once a signal asked the run to stop. */
  interrupted(): boolean;
  /**
   * {@link ScratchOptions.migrations} as this run must apply them: a `CREATE ROLE` of a role that
   * already exists on the server is blanked (the role is server-wide: the real run made it).
   * Empty when no migrations were given.
   */
  migrations: readonly Migration[];
}

/** A scratch database could not be created or cleaned up. */
export class ScratchDatabaseError extends PgstackError {
  constructor(message: string, options: { hint: string; cause?: unknown }) {
    super("SCRATCH_DATABASE_FAILED", message, options);
  }
}

/**
 * Creates a scratch database owned by `opts.owner` on `admin`'s server, runs `fn` on it, and
 * drops it whatever happens, with the throwaway role and every server-wide object its migrations
 * created. Leftovers of crashed runs are dropped first. `admin` is any database on that server the
 * admin may connect to (not the one copied); the admin needs CREATEDB, CREATEROLE and membership
 * in the owner (what a stack's admin has).
 */
export async function withScratchDatabase<T>(admin: ConnectionOptions, opts: ScratchOptions, fn: (scratch: ScratchDatabase) => Promise<T>): Promise<T> {
  const log = opts.logger ?? silentLogger;
  const maintenance: ConnectionOptions = { ...admin, database: admin.database === opts.copy?.from ? "postgres" : admin.database, applicationName: `pgstack (${opts.purpose})` };
  const control = await connect(maintenance);
  let creator: Creator;
  try {
    // The control session is the creator: while it runs, nothing it made is a leftover.
    creator = await readCreator(control);
  } catch (err) {
    await control.end().catch(() => undefined);
    throw err;
  }
  const state: Cleanup = { maintenance, control, log, opts, creator };
  const stop = onInterrupt((signal) => {
    log.warn(`${signal}: stopping the ${opts.purpose} run and dropping its scratch database`);
    state.signalled = true;
    return Promise.resolve()
      .then(() => opts.onInterrupt?.())
      .catch(() => undefined)
      .then(() => cleanupOnce(state, "signal"));
  });
  let failed = false;
  try {
    await dropLeftoverScratch(control, log);
    if (opts.migrations) {
      await loadSqlParser();
      state.before = await readServerObjects(control);
      state.changes = planServerChanges(opts.migrations, state.before);
    }
    // The throwaway role first, and the admin a member of it: through it the admin may create a
    // database owned by the owner and set it up even before the stack made the admin a member of
    // the owner (an adoption's first preview). Dropping the role undoes both.
    const throwaway = maintenance.user === opts.owner ? undefined : await createThrowawayRole(control, maintenance.user, opts.owner, state.creator);
    if (throwaway) {
      state.role = throwaway.role;
      await control.query(`GRANT ${quoteIdent(throwaway.role)} TO CURRENT_USER`);
    }
    const name = scratchName(state.creator, opts.purpose);
    const made = await create(control, name, opts, log);
    state.name = name;
    // A template copy already holds the schema and the rows: only the pending migrations run in it.
    log.info(made.method === "template" ? `${opts.purpose}: running in the copy ${name}` : `${opts.purpose}: building in the scratch database ${name}`);
    state.admin = await connect({ ...maintenance, database: name });
    // A throwaway database needs no durability: no commit waits for a WAL flush.
    await state.admin.query("SET synchronous_commit = off");
    const scratchAdmin = state.admin;
    let opening: Promise<pg.Client> | undefined;
    const migrations = opts.migrations && state.changes ? replayable(opts.migrations, state.changes, log) : [];
    return await fn({
      name,
      migrations,
      admin: scratchAdmin,
      made,
      interrupted: () => state.signalled === true || state.cleaning !== undefined,
      ownerSession: async () => {
        // Already the owner (the admin owns it): there is nothing above it to confine.
        if (!throwaway) return scratchAdmin;
        opening ??= loginAs(scratchAdmin, { ...maintenance, database: name }, throwaway);
        state.session = await opening;
        return state.session;
      },
    });
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    const left = await cleanupOnce(state, "here");
    stop();
    await control.end().catch(() => undefined);
    if (left.length > 0 && !failed) {
      throw new ScratchDatabaseError(`the ${opts.purpose} run left server-wide objects it could not remove: ${left.join(", ")}`, {
        hint: "remove them by hand (DROP ROLE / DROP DATABASE / REVOKE); they were created or changed by the migrations' SQL",
      });
    }
  }
}

/** Everything the cleanup needs, filled in as the run proceeds. */
interface Cleanup {
  maintenance: ConnectionOptions;
  control: pg.Client;
  log: Logger;
  opts: ScratchOptions;
  creator: Creator;
  name?: string;
  admin?: pg.Client;
  session?: pg.Client;
  role?: string;
  before?: ServerObjects;
  changes?: ServerChanges;
  cleaning?: Promise<string[]>;
  /** Set as soon as SIGINT or SIGTERM arrives. */
  signalled?: boolean;
}

/** Creates the database: a template copy when asked and possible, else empty. */
async function create(control: pg.Client, name: string, opts: ScratchOptions, log: Logger): Promise<ScratchDatabase["made"]> {
  const owner = ` OWNER ${quoteIdent(opts.owner)}`;
  const fail = (err: unknown): never => {
    throw new ScratchDatabaseError(`cannot create the scratch database ${name} (${opts.purpose}): ${errorMessage(err)}; nothing was changed`, {
      hint: `the admin needs CREATEDB and membership in "${opts.owner}" (GRANT ${quoteIdent(opts.owner)} TO <admin>)`,
      cause: err,
    });
  };
  if (!opts.copy) {
    // template0: nothing a server's template1 holds leaks in, and no session blocks the copy.
    await control.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${owner}`).catch(fail);
    return { method: "empty" };
  }
  const source = opts.copy.from;
  const { rows } = await control.query<{ encoding: string; collate: string; ctype: string; others: string }>(
    `SELECT pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
            (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend') AS others
       FROM pg_database d WHERE d.datname = $1`,
    [source],
  );
  const info = rows[0];
  if (!info) fail(new Error(`the database "${source}" does not exist`));
  let refused = opts.copy.byTemplate ? undefined : "a copy built from the migrations was asked for";
  if (!refused && Number(info?.others) > 0) refused = `${info?.others} other session(s) are connected to ${source}; a template copy would need them gone`;
  if (!refused) {
    log.info(`${opts.purpose}: copying ${source} to ${name} (CREATE DATABASE … TEMPLATE)`);
    try {
      await control.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE ${quoteIdent(source)}${owner}`);
      return { method: "template" };
    } catch (err) {
      const code = (err as { code?: string }).code;
      // 55006: someone connected meanwhile; 42501: no right to copy it. Anything else is a real failure.
      if (code !== "55006" && code !== "42501") fail(err);
      refused = `the template copy was refused: ${errorMessage(err)}`;
    }
  }
  const locale = ` ENCODING ${quoteLiteral(info?.encoding ?? "UTF8")} LC_COLLATE ${quoteLiteral(info?.collate ?? "C")} LC_CTYPE ${quoteLiteral(info?.ctype ?? "C")}`;
  await control.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0${locale}${owner}`).catch(fail);
  return { method: "empty", refused };
}

/** Runs the cleanup once, however many paths (finally, a signal) ask for it. Returns what could not be undone. */
function cleanupOnce(s: Cleanup, via: "here" | "signal"): Promise<string[]> {
  s.cleaning ??= cleanup(s, via);
  return s.cleaning;
}

async function cleanup(s: Cleanup, via: "here" | "signal"): Promise<string[]> {
  // On a signal the run's own sessions may be busy (a CREATE DATABASE … TEMPLATE, a migration):
  // a fresh connection cancels the control session's statement and does the dropping.
  let client = s.control;
  if (via === "signal") {
    client = await connect(s.maintenance, { retryDelaysMs: [] });
    await client.query("SELECT pg_cancel_backend($1)", [s.creator.pid]).catch(() => undefined);
    for (let i = 0; i < 50; i++) {
      const { rows } = await client.query<{ state: string | null }>("SELECT state FROM pg_stat_activity WHERE pid = $1", [s.creator.pid]);
      if (rows[0]?.state !== "active") break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } else {
    await s.session?.end().catch(() => undefined);
    await s.admin?.end().catch(() => undefined);
  }
  try {
    if (s.name) {
      await dropScratch(client, s, s.name);
    }
    // The role owned nothing outside the dropped database, so nothing is reassigned.
    if (s.role) await dropThrowawayRole(client, s.role, undefined).catch((err: unknown) => s.log.warn(`could not drop the throwaway role ${s.role} (the next run drops it): ${errorMessage(err)}`));
    if (s.before && s.changes && s.name) return await undoServerChanges(client, s.before, s.changes, s.log);
    return [];
  } finally {
    if (client !== s.control) await client.end().catch(() => undefined);
  }
}

/** Drops the run's scratch database; a failure is a warning (the next run drops it). */
async function dropScratch(client: pg.Client, s: Cleanup, name: string): Promise<void> {
  try {
    await dropDatabaseForce(client, name);
    s.log.info(`${s.opts.purpose}: dropped the scratch database ${name}`);
  } catch (err) {
    s.log.warn(`could not drop the scratch database ${name} (the next run drops it): ${errorMessage(err)}`);
  }
}

/**
 * Runs `handler` on SIGINT or SIGTERM while installed, then lets the signal proceed: it is raised
 * again once no other handler is left (the process then ends as it would have without us).
 * Returns the function that uninstalls it.
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => Promise<unknown>): () => void {
  const onSignal = (signal: NodeJS.Signals) => {
    void handler(signal)
      .catch(() => undefined)
      .finally(() => {
        remove();
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
  };
  const remove = () => {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return remove;
}
