/**
 * The one state model of a database's migrations: what is applied (pgstack's history, baselined
 * versions, another tool's history mapped onto the files), what is pending, what was interrupted.
 * {@link readDatabaseState} computes it, read-only; the MigrationSet, the safety check, the
 * verification, the review, the rehearsal and `npm run diff` all read it instead of their own copy.
 */
import type pg from "pg";
import { checkHistory, readHistory } from "./history.js";
import { readGeneration } from "./reset.js";
import type { Migration } from "./source.js";

/** The pending migrations and how they were found. */
export interface DatabaseState {
  pending: Migration[];
  /** History problems (an edited applied migration…): the MigrationSet refuses those itself. */
  mismatches: string[];
  /** True when a reset will run first (a new generation), so everything re-applies on empty schemas. */
  afterReset: boolean;
}

/**
 * The migrations after the recorded history. When `generation` differs from the one recorded in
 * the database, the reset runs first and every migration is pending on an empty database.
 */
export async function readDatabaseState(client: pg.ClientBase, migrations: readonly Migration[], generation?: number): Promise<DatabaseState> {
  const recorded = await readGeneration(client as pg.Client);
  if (generation !== undefined && recorded !== undefined && recorded !== generation) {
    return { pending: [...migrations], mismatches: [], afterReset: true };
  }
  const applied = await readHistory(client as pg.Client);
  const mismatches = checkHistory(applied, migrations);
  const done = new Set(applied.map((a) => a.id));
  return { pending: migrations.filter((m) => !done.has(m.id)), mismatches, afterReset: false };
}
