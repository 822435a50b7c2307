/**
 * pgstack's own schema in each database: the migration history, the log of repeatable
 * migrations and a small meta table (the reset generation). Users' tables never live here, and
 * introspection skips it.
 *
 * Repeatables have their own table, `pgstack.repeatables`, one row per run (name, checksum, the
 * SQL that ran, when, how long): a repeatable has no version for `pgstack.migrations`' key, runs
 * many times, and its latest row is what it is compared with. The SQL is kept so a preview can
 * show how the definition changes. A new table rather than a change to `pgstack.migrations`:
 * an existing stack's history is left exactly as it is, and the table is created, empty, by the
 * next `up` (which then runs every repeatable once).
 */
import type pg from "pg";
import { MigrationInterruptedError, formatLocation } from "./errors.js";
import { quoteLiteral } from "./identifiers.js";
import { isRepeatable, type Migration } from "./source.js";
import { splitStatements } from "./sql.js";
import { lineColumnAt } from "./text.js";

/** The schema pgstack owns in every managed database. */
export const PGSTACK_SCHEMA = "pgstack";

/** One row of `pgstack.migrations`. */
export interface AppliedMigration {
  id: number;
  name: string;
  checksum: string;
  appliedAt: Date;
  durationMs: number;
  inTransaction: boolean;
  /** True when pgstack recorded it without running it, adopting a database that had its tables already. */
  baselined?: boolean;
}

/** One run of a repeatable migration: its latest row in `pgstack.repeatables`. */
export interface AppliedRepeatable {
  /** The file name without extension, e.g. `R__views`. */
  name: string;
  checksum: string;
  /** The SQL that ran (to show how the definition changes). */
  sql: string;
  appliedAt: Date;
}

/** pgstack.repeatables: one row per run of a repeatable migration (see the file's comment). */
const REPEATABLES_DDL = `
    CREATE TABLE IF NOT EXISTS pgstack.repeatables (
      name        text NOT NULL,
      checksum    text NOT NULL,
      sql         text NOT NULL,
      applied_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
      duration_ms double precision NOT NULL,
      PRIMARY KEY (name, applied_at)
    )`;

/**
 * Creates pgstack's schema and tables if missing, and upgrades a history table written by an
 * older pgstack in place (see {@link upgradeHistory}). Call under the migration lock.
 */
export async function ensureHistory(client: pg.Client): Promise<void> {
  // Present already: no CREATE at all, so a session without CREATE rights (migrations confined
  // to the owner, see scratch-session.ts) passes; Postgres checks the right before IF NOT EXISTS.
  const { rows } = await client.query<{ ok: boolean; repeatables: boolean }>(
    "SELECT to_regclass('pgstack.migrations') IS NOT NULL AND to_regclass('pgstack.meta') IS NOT NULL AS ok, to_regclass('pgstack.repeatables') IS NOT NULL AS repeatables",
  );
  // A history an older pgstack wrote: only the repeatables' table is added.
  if (rows[0]?.ok && !rows[0].repeatables) await client.query(REPEATABLES_DDL);
  if (!rows[0]?.ok) await client.query(`
    CREATE SCHEMA IF NOT EXISTS pgstack;
    CREATE TABLE IF NOT EXISTS pgstack.migrations (
      id             bigint PRIMARY KEY,
      name           text NOT NULL,
      checksum       text NOT NULL,
      applied_at     timestamptz NOT NULL DEFAULT now(),
      duration_ms    double precision NOT NULL,
      in_transaction boolean NOT NULL,
      baselined      boolean NOT NULL DEFAULT false
    );
    CREATE TABLE IF NOT EXISTS pgstack.meta (
      key        text PRIMARY KEY,
      value      text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );${REPEATABLES_DDL};`);
  await upgradeHistory(client);
}

/**
 * Brings a history table from an older pgstack to today's shape: `id` from `integer` to `bigint`
 * (timestamp versions such as 20240101120000 overflow `integer`) and the `baselined` column.
 * Reads the catalog first and alters only what is missing, so it is idempotent and a current
 * table takes no lock. Returns what it changed. Call under the migration lock.
 */
export async function upgradeHistory(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ id_type: string | null; has_baselined: boolean }>(
    `SELECT (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
              WHERE attrelid = 'pgstack.migrations'::regclass AND attname = 'id' AND NOT attisdropped) AS id_type,
            EXISTS (SELECT 1 FROM pg_attribute
                     WHERE attrelid = 'pgstack.migrations'::regclass AND attname = 'baselined' AND NOT attisdropped) AS has_baselined`,
  );
  const found = rows[0];
  const changes: string[] = [];
  if (found?.id_type !== "bigint") changes.push("ALTER TABLE pgstack.migrations ALTER COLUMN id TYPE bigint");
  if (!found?.has_baselined) changes.push("ALTER TABLE pgstack.migrations ADD COLUMN IF NOT EXISTS baselined boolean NOT NULL DEFAULT false");
  // One implicit transaction: both changes, or neither.
  if (changes.length > 0) await client.query(changes.join(";\n"));
  return changes;
}

/** True when pgstack's history table exists (read-only check, for refresh). */
export async function historyExists(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(`SELECT to_regclass('pgstack.migrations') IS NOT NULL AS ok`);
  return rows[0]?.ok ?? false;
}

/** The recorded history, oldest first. Empty when pgstack has never run here. */
export async function readHistory(client: pg.Client): Promise<AppliedMigration[]> {
  if (!(await historyExists(client))) return [];
  const { rows } = await client.query<{
    id: number;
    name: string;
    checksum: string;
    applied_at: Date;
    duration_ms: number;
    in_transaction: boolean;
    baselined: boolean | null;
  }>(
    // `baselined` is absent from a table an older pgstack wrote and nobody has upgraded yet
    // (reads take no lock, so they do not upgrade): to_jsonb reads it when it is there.
    "SELECT id::text AS id, name, checksum, applied_at, duration_ms, in_transaction, (to_jsonb(m) ->> 'baselined')::boolean AS baselined FROM pgstack.migrations m ORDER BY m.id",
  );
  return rows.map((r) => ({
    // bigint arrives as text; versions are validated at load to fit a JS number exactly.
    id: Number(r.id),
    name: r.name,
    checksum: r.checksum,
    appliedAt: r.applied_at,
    durationMs: r.duration_ms,
    inTransaction: r.in_transaction,
    baselined: r.baselined ?? false,
  }));
}

/**
 * The latest run of each repeatable migration, by name; empty when none ever ran (or the table
 * does not exist yet: read-only, nothing is created).
 */
export async function readRepeatables(client: pg.Client): Promise<AppliedRepeatable[]> {
  const { rows: exists } = await client.query<{ ok: boolean }>(`SELECT to_regclass('pgstack.repeatables') IS NOT NULL AS ok`);
  if (!exists[0]?.ok) return [];
  const { rows } = await client.query<{ name: string; checksum: string; sql: string; applied_at: Date }>(
    "SELECT DISTINCT ON (name) name, checksum, sql, applied_at FROM pgstack.repeatables ORDER BY name, applied_at DESC",
  );
  return rows.map((r) => ({ name: r.name, checksum: r.checksum, sql: r.sql, appliedAt: r.applied_at }));
}

/**
 * Checks that the history is an in-order prefix of the migration list with equal checksums.
 * Returns every mismatch (empty when consistent), each naming the migration and its position.
 */
export function checkHistory(applied: readonly AppliedMigration[], all: readonly Migration[]): string[] {
  const problems: string[] = [];
  // Repeatables are recorded in their own table and may change: they are no part of the prefix.
  const migrations = all.filter((m) => !isRepeatable(m));
  const byId = new Map(migrations.map((m, i) => [m.id, { m, i }]));
  applied.forEach((a, position) => {
    const expected = migrations[position];
    const found = byId.get(a.id);
    if (expected && expected.id < a.id) {
      problems.push(
        `${expected.file} (version ${expected.id}) is not applied, but the later ${a.name} (version ${a.id}) is: ` +
          `a new migration must have a version above the latest applied one`,
      );
    }
    if (!found) {
      problems.push(
        `${a.name} (version ${a.id}, #${position + 1} in the history) is recorded as applied, but no migration file has version ${a.id}`,
      );
      return;
    }
    if (found.m.name !== a.name) {
      problems.push(`version ${a.id} was applied as ${a.name}, but its file is now ${found.m.file}`);
    }
    if (found.m.checksum !== a.checksum) {
      problems.push(
        `${found.m.file} was edited after it was applied (recorded sha256 ${a.checksum.slice(0, 12)}…, file now ${found.m.checksum.slice(0, 12)}…)`,
      );
    }
  });
  return [...new Set(problems)];
}

/**
 * Records `migrations` as applied without running them (`baselined`), with their files'
 * checksums, in one transaction: the adoption of a database whose schema already equals the
 * declared one at the last of them. Call under the migration lock, on an empty history.
 */
export async function recordBaselined(client: pg.Client, migrations: readonly Migration[]): Promise<void> {
  if (migrations.length === 0) return;
  const values = migrations.map(
    (m) => `(${m.id}, ${quoteLiteral(m.name)}, ${quoteLiteral(m.checksum)}, clock_timestamp(), 0, ${m.inTransaction}, true)`,
  );
  await client.query(
    `INSERT INTO pgstack.migrations (id, name, checksum, applied_at, duration_ms, in_transaction, baselined) VALUES\n${values.join(",\n")}`,
  );
}

/** Reads a meta value (e.g. `reset_generation`). */
export async function readMeta(client: pg.Client, key: string): Promise<string | undefined> {
  if (!(await historyExists(client))) return undefined;
  const { rows } = await client.query<{ value: string }>("SELECT value FROM pgstack.meta WHERE key = $1", [key]);
  return rows[0]?.value;
}

/** Writes a meta value. */
export async function writeMeta(client: pg.Client, key: string, value: string): Promise<void> {
  await client.query(
    `INSERT INTO pgstack.meta (key, value) VALUES ($1, $2)
     ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`,
    [key, value],
  );
}

/** Meta keys `running:<version>` mark a no-transaction migration that started and has not finished. */
export const RUNNING_KEY_PREFIX = "running:";

/**
 * The marker a `pgstack:no-transaction` migration commits before its first statement and
 * deletes together with its history row. Fields other than `id` may be missing when a person
 * wrote the marker by hand.
 */
export interface RunningMarker {
  /** The migration's version (from the key). */
  id: number;
  name?: string;
  file?: string;
  /** The checksum of the file that ran, to tell whether statement numbers still match the file. */
  checksum?: string;
  /** How many statements the migration has. */
  statements?: number;
  /** How many statements finished; the next one may have run in part. */
  completed?: number;
  startedAt?: string;
  /** Set when a statement failed with a server error (that statement itself was rolled back). */
  failed?: { statement: number; error: string };
}

/** The meta key of a migration's marker. */
export function runningMarkerKey(id: number): string {
  return `${RUNNING_KEY_PREFIX}${id}`;
}

/** The exact SQL that deletes a migration's marker (printed for people, run by pgstack). */
export function clearMarkerSql(id: number): string {
  return `DELETE FROM pgstack.meta WHERE key = ${quoteLiteral(runningMarkerKey(id))};`;
}

/** SQL that writes (or overwrites) a marker: literal values, so it can share a message with other statements. */
export function writeMarkerSql(marker: RunningMarker): string {
  const { id, ...value } = marker;
  return (
    `INSERT INTO pgstack.meta (key, value) VALUES (${quoteLiteral(runningMarkerKey(id))}, ${quoteLiteral(JSON.stringify(value))}) ` +
    `ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()`
  );
}

/** Every marker in the database, oldest version first. */
export async function readRunningMarkers(client: pg.Client): Promise<RunningMarker[]> {
  if (!(await historyExists(client))) return [];
  const { rows } = await client.query<{ key: string; value: string }>(
    "SELECT key, value FROM pgstack.meta WHERE starts_with(key, $1)",
    [RUNNING_KEY_PREFIX],
  );
  const markers = rows.flatMap((r) => {
    const id = Number(r.key.slice(RUNNING_KEY_PREFIX.length));
    if (!Number.isInteger(id)) return [];
    return [{ ...parseMarkerValue(r.value), id }];
  });
  return markers.sort((a, b) => a.id - b.id);
}

/** A hand-written or damaged value must still block, so parse leniently and keep what fits. */
function parseMarkerValue(value: string): Omit<RunningMarker, "id"> {
  let v: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(value);
    v = parsed !== null && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
  const str = (x: unknown) => (typeof x === "string" ? x : undefined);
  const int = (x: unknown) => (typeof x === "number" && Number.isInteger(x) && x >= 0 ? x : undefined);
  const f = v["failed"] as Record<string, unknown> | undefined;
  const failedAt = int(f?.["statement"]);
  return {
    name: str(v["name"]),
    file: str(v["file"]),
    checksum: str(v["checksum"]),
    statements: int(v["statements"]),
    completed: int(v["completed"]),
    startedAt: str(v["startedAt"]),
    failed: failedAt === undefined ? undefined : { statement: failedAt, error: str(f?.["error"]) ?? "unknown error" },
  };
}

/**
 * The first marker of a migration that is not in the history: its statements may have run in
 * part, so nothing may run before a person has looked. Markers of applied migrations are stale
 * and ignored. Call after {@link checkHistory}; the SQL parser must be loaded.
 */
export function findInterrupted(
  database: string,
  markers: readonly RunningMarker[],
  applied: readonly AppliedMigration[],
  migrations: readonly Migration[],
): MigrationInterruptedError | undefined {
  const appliedIds = new Set(applied.map((a) => a.id));
  const marker = markers.find((mk) => !appliedIds.has(mk.id));
  if (!marker) return undefined;
  const migration = migrations.find((m) => m.id === marker.id);
  return new MigrationInterruptedError(database, {
    migration: marker.name ?? migration?.name ?? "name unknown",
    file: marker.file ?? migration?.file ?? `version ${marker.id}`,
    progress: describeProgress(marker, migration),
    clearSql: clearMarkerSql(marker.id),
  });
}

/** Which statements finished, which may have run in part, which did not run, with file:line:column. */
function describeProgress(marker: RunningMarker, migration: Migration | undefined): string {
  const lines: string[] = [];
  // A migration given without its SQL (a provider that reads only the files it needs) is placed by count alone.
  const sameFile = migration !== undefined && migration.sql !== "" && (marker.checksum === undefined || marker.checksum === migration.checksum);
  const where = sameFile
    ? splitStatements(migration.sql, migration.file).map((s) => formatLocation({ file: migration.file, ...lineColumnAt(migration.sql, s.offset) }))
    : [];
  const at = (n: number) => (where[n - 1] ? ` (${where[n - 1]})` : "");
  const range = (a: number, b: number) => (a === b ? `statement ${a}${at(a)}` : `statements ${a}–${b}${at(a) && ` (${where[a - 1]} to ${where[b - 1]})`}`);
  const total = marker.statements ?? (where.length || undefined);
  const done = marker.completed;
  if (done === undefined || total === undefined) {
    lines.push(`it is unknown how far it got: any of its ${total === undefined ? "" : `${total} `}statements may have run`);
  } else {
    if (done > 0) lines.push(`${range(1, done)} of ${total} completed`);
    if (done >= total) lines.push("every statement completed, but its history row was not written");
    else if (marker.failed?.statement === done + 1) {
      lines.push(`statement ${done + 1}${at(done + 1)} failed: ${marker.failed.error}`);
    } else lines.push(`statement ${done + 1}${at(done + 1)} may have run, completely or in part`);
    if (done + 2 <= total) lines.push(`${range(done + 2, total)} did not run`);
  }
  if (migration && !sameFile) {
    lines.push(`${migration.file} has changed since (its checksum differs): the statement numbers refer to the version that ran`);
  }
  if (!migration) lines.push(`no migration file has version ${marker.id} any more`);
  if (marker.startedAt) lines.push(`it started at ${marker.startedAt}`);
  return lines.map((l) => `  - ${l}`).join("\n");
}
