/**
 * Adoption's plans, kept for the process. One `pulumi preview` or `up` plans a database's adoption
 * up to three times in the one dynamic-provider process (the MigrationSet's check, the safety
 * check, the apply), and each plan builds the migrations in a scratch database. A plan depends on
 * nothing but its key (see {@link planKey}): the server and the database (its oid and the server's
 * start), the migrations' names and checksums, the adoption settings, another tool's history as
 * read, and the live schema itself, read at each call. So a plan found here is the one the call
 * would compute: a database changed since (a table, a column, a history row) has another key and
 * is planned again, and the apply still reads the live schema, under the lock, before it records.
 */
import type { SchemaSnapshot } from "./schema/index.js";
import { sha256, type Migration } from "./source.js";

/** Everything a plan depends on (see {@link planKey}). */
export interface PlanKeyParts {
  /** Where the scratch database is built (`user@host:port`). */
  server: string;
  /** The live database: host, port, name, oid, and the server's start time. */
  database: string;
  owner: string;
  schemas: readonly string[];
  stated?: number | undefined;
  configPath?: string | undefined;
  migrations: readonly Migration[];
  /** Another tool's history as read now (or why it could not be read). */
  foreign: unknown;
  /** The live schema as read now. */
  live: SchemaSnapshot;
}

/** The memo's key: a sha256 over every part (the live schema and the SQL by their digests). */
export function planKey(parts: PlanKeyParts): string {
  const migrations = parts.migrations.map((m) => [m.id, m.name, m.file, m.checksum, m.inTransaction, m.sql === "" ? "" : sha256(m.sql)]);
  return sha256(JSON.stringify([parts.server, parts.database, parts.owner, parts.schemas, parts.stated ?? null, parts.configPath ?? null, migrations, parts.foreign ?? null, sha256(JSON.stringify(parts.live))]));
}

/** A plan with the lines to print each time it is used (they name tables only the build knew). */
export interface Planned<T> {
  value: T;
  notes: string[];
}

/** Plans kept (a stack of many databases plans each once; older ones are dropped first). */
const LIMIT = 64;
const plans = new Map<string, Promise<Planned<unknown>>>();

/**
 * The plan for `key`: the one made earlier in this process (or being made now, by a concurrent
 * call), else `make()`'s, kept. An error `isAnswer` accepts (a refusal) is kept too; any other (a
 * lost connection, a scratch database that could not be created) is not, so the next call tries
 * again. `hit` is called when a kept plan is used.
 */
export async function memoizedPlan<T>(key: string, make: () => Promise<Planned<T>>, isAnswer: (err: unknown) => boolean, hit: () => void): Promise<Planned<T>> {
  const kept = plans.get(key) as Promise<Planned<T>> | undefined;
  if (kept) {
    hit();
    return kept;
  }
  const made = make();
  plans.set(key, made);
  if (plans.size > LIMIT) plans.delete(plans.keys().next().value as string);
  made.catch((err: unknown) => {
    if (!isAnswer(err)) plans.delete(key);
  });
  return made;
}
