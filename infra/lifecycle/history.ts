/**
 * pgstack's own schema in each database: the migration history and a small meta table
 * (the reset generation). Users' tables never live here, and introspection skips it.
 */
import type pg from "pg";
import type { Migration } from "./source.js";

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
}

/** Creates pgstack's schema and tables if missing. Call under the migration lock. */
export async function ensureHistory(client: pg.Client): Promise<void> {
  await client.query(`
    CREATE SCHEMA IF NOT EXISTS pgstack;
    CREATE TABLE IF NOT EXISTS pgstack.migrations (
      id             integer PRIMARY KEY,
      name           text NOT NULL,
      checksum       text NOT NULL,
      applied_at     timestamptz NOT NULL DEFAULT now(),
      duration_ms    double precision NOT NULL,
      in_transaction boolean NOT NULL
    );
    CREATE TABLE IF NOT EXISTS pgstack.meta (
      key        text PRIMARY KEY,
      value      text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );`);
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
  }>("SELECT id, name, checksum, applied_at, duration_ms, in_transaction FROM pgstack.migrations ORDER BY id");
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    checksum: r.checksum,
    appliedAt: r.applied_at,
    durationMs: r.duration_ms,
    inTransaction: r.in_transaction,
  }));
}

/**
 * Checks that the history is an in-order prefix of the migration list with equal checksums.
 * Returns every mismatch (empty when consistent), each naming the migration and its position.
 */
export function checkHistory(applied: readonly AppliedMigration[], migrations: readonly Migration[]): string[] {
  const problems: string[] = [];
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
