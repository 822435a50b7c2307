/**
 * The one state model of a database's migrations: what is applied (pgstack's history, with the
 * versions an adoption recorded; or, before pgstack's first `up`, the versions adoption will
 * record: another tool's history mapped onto the files, a stated or a detected baseline, each
 * verified against the live schema), what is pending, what was interrupted, and whether a reset
 * runs first. {@link readDatabaseState} computes it, read-only; the MigrationSet, the safety
 * check, the review, the rehearsal and `npm run diff` read it instead of their own copy.
 *
 * Adoption is planned by `planBaseline` (baseline.ts, which builds the migrations in a shadow)
 * and another tool's history is read by the importers (`infra/importers/foreign-history.ts`,
 * which know each tool's table and provenance records). Both are handed in as one
 * {@link AdoptionPlanner} (`infra/importers/adoption.ts` builds it), so the state depends on
 * neither: no importer in the core, and no import cycle through the apply.
 */
import type pg from "pg";
import { errorMessage, NotReadableYetError, PgstackError, type MigrationInterruptedError } from "./errors.js";
import { checkHistory, findInterrupted, readHistory, readRepeatables, readRunningMarkers, type AppliedMigration, type AppliedRepeatable } from "./history.js";
import { readGeneration } from "./reset.js";
import { isRepeatable, type Migration } from "./source.js";

/** Adoption's plan for a database with tables and no pgstack history (`planBaseline`'s result). */
export interface AdoptionPlan {
  /** How many migrations are recorded without running (the first `count`). */
  count: number;
  /** Where N came from: `baseline: N`, the live schema, or another tool's history. */
  source: "stated" | "detected" | { tool: string };
  /** The line to print, naming N. */
  message: string;
}

/**
 * Plans adoption, read-only: undefined when there is nothing to adopt; throws a
 * {@link PgstackError} when adoption refuses.
 */
export type AdoptionPlanner = (client: pg.Client, migrations: readonly Migration[], database: string) => Promise<AdoptionPlan | undefined>;

/** What adoption will do on a database with tables and no pgstack history (before its first `up`). */
export type AdoptionState =
  | {
      /** The migrations adoption records as applied without running them (the first N). */
      migrations: Migration[];
      /** Where N came from: another tool's history, `baseline: N`, or the live schema. */
      source: AdoptionPlan["source"];
      /** The line to print, naming N and what runs after it. */
      message: string;
    }
  | {
      /** Why adoption refuses (the schema equals no version, a history that does not match…). */
      refusal: string;
    }
  | {
      /**
       * Why adoption cannot be planned yet: the admin cannot read another tool's history before
       * `up` makes it a member of the table's owner. Not a refusal: `up` plans it again after that.
       */
      deferred: string;
    };

/** A database's migration state. */
export interface DatabaseState {
  /** pgstack's history, oldest first (versions an adoption recorded are `baselined`). Empty after a reset. */
  applied: AppliedMigration[];
  /** Set before the first `up` of an adopted database: what adoption will record, or why it refuses. */
  adoption?: AdoptionState;
  /**
   * The migrations the next `up` runs, in order: after the history, and after what adoption
   * records; then the repeatables whose checksum differs from their latest recorded run (or that
   * never ran), by name.
   */
  pending: Migration[];
  /** The latest recorded run of each repeatable migration, by name. Empty after a reset. */
  repeatables: AppliedRepeatable[];
  /** A `pgstack:no-transaction` migration that started and never finished: `up` refuses until it is cleared. */
  interrupted?: MigrationInterruptedError;
  /** History problems (an edited applied migration…): the MigrationSet refuses those itself. */
  mismatches: string[];
  /** True when a reset will run first (a new generation), so everything re-applies on empty schemas. */
  afterReset: boolean;
  /** The reset generation recorded in the database; undefined when pgstack never ran here. */
  recordedGeneration?: number;
}

/** Options of {@link readDatabaseState}. */
export interface StateOptions {
  /** The configured reset generation: a different recorded one means a reset runs first. */
  generation?: number;
  /** The database's name, for messages (default: the connection's database). */
  database?: string;
  /**
   * Plans adoption when pgstack's history is empty and the managed schemas hold tables. Absent:
   * no adoption (every migration after the history is pending). Planning builds a shadow.
   */
  adoption?: AdoptionPlanner;
}

/**
 * The migration state of the database `client` is connected to. Read-only: with `adoption`,
 * the adoption is planned (a shadow database is built and dropped) but nothing is recorded. A
 * refused adoption is returned in `adoption.refusal`, not thrown; nothing is pending then,
 * since `up` runs nothing. Nor is anything pending while adoption cannot be planned yet
 * (`adoption.deferred`): what runs is only known once it can. Call {@link loadSqlParser} first (an interrupted migration's
 * statements are located with it).
 */
export async function readDatabaseState(client: pg.Client, migrations: readonly Migration[], options: StateOptions = {}): Promise<DatabaseState> {
  const recordedGeneration = await readGeneration(client);
  const generation = options.generation;
  if (generation !== undefined && recordedGeneration !== undefined && recordedGeneration !== generation) {
    return { applied: [], pending: [...migrations], repeatables: [], mismatches: [], afterReset: true, recordedGeneration };
  }
  const versioned = migrations.filter((m) => !isRepeatable(m));
  const applied = await readHistory(client);
  const mismatches = checkHistory(applied, versioned);
  const database = options.database ?? client.database ?? "";
  const interrupted = findInterrupted(database, await readRunningMarkers(client), applied, versioned);
  const repeatables = await readRepeatables(client);
  const base = { applied, repeatables, mismatches, afterReset: false, ...(interrupted ? { interrupted } : {}), ...(recordedGeneration !== undefined ? { recordedGeneration } : {}) };
  const done = new Set(applied.map((a) => a.id));
  const after = versioned.filter((m) => !done.has(m.id));
  // A repeatable runs again when its file differs from its latest run, after every versioned one.
  const ran = new Set(repeatables.map((r) => `${r.name}@${r.checksum}`));
  const rerun = migrations.filter((m) => isRepeatable(m) && !ran.has(`${m.name}@${m.checksum}`));
  if (applied.length > 0 || !options.adoption) return { ...base, pending: [...after, ...rerun] };
  // Adoption records versioned migrations only; the repeatables then run, as on any first `up`.
  const adoption = await planAdoption(client, versioned, database, options.adoption);
  if (!adoption) return { ...base, pending: [...after, ...rerun] };
  if (!("migrations" in adoption)) return { ...base, adoption, pending: [] };
  const adopted = new Set(adoption.migrations.map((m) => m.id));
  return { ...base, adoption, pending: [...after.filter((m) => !adopted.has(m.id)), ...rerun] };
}

/** Adoption's plan as state: undefined when there is nothing to adopt; a refusal as data. */
async function planAdoption(client: pg.Client, migrations: readonly Migration[], database: string, planner: AdoptionPlanner): Promise<AdoptionState | undefined> {
  try {
    const plan = await planner(client, migrations, database);
    return plan && { migrations: migrations.slice(0, plan.count), source: plan.source, message: plan.message };
  } catch (err) {
    // Another tool's history the admin cannot read until `up` makes it a member of the owner.
    if (err instanceof NotReadableYetError) return { deferred: `database "${database}": ${err.line}` };
    if (err instanceof PgstackError) return { refusal: err.message };
    // 42501: the admin cannot read another tool's history yet (it becomes a member of the owner during `up`).
    if ((err as { code?: string }).code === "42501") {
      return { deferred: `database "${database}": adoption cannot be planned yet: ${errorMessage(err)} (the admin becomes a member of the owner role during \`pulumi up\`, which plans it then); the migrations are judged once it can be planned` };
    }
    throw err;
  }
}

/**
 * The files the database has applied, or adoption records, in order: every file but the pending
 * ones (the history is a prefix of the files). The rehearsal builds its copy's schema from them.
 */
export function appliedFiles(migrations: readonly Migration[], pending: readonly Migration[]): Migration[] {
  const todo = new Set(pending.map((m) => m.id));
  return migrations.filter((m) => !todo.has(m.id));
}

/** One line for reports: `17 migration(s) will be adopted (recorded as applied without running): 0001..0017, as golang-migrate's history says (verified)`. */
export function describeAdoption(adoption: AdoptionState): string {
  if ("refusal" in adoption) return `adoption refused: ${adoption.refusal.split("\n")[0]}`;
  if ("deferred" in adoption) return adoption.deferred;
  const ms = adoption.migrations;
  const span = ms.length === 1 ? ms[0]?.name : `${ms[0]?.name}..${ms.at(-1)?.name}`;
  const from = typeof adoption.source === "object" ? `, as ${adoption.source.tool}'s history says (verified)` : adoption.source === "stated" ? " (the stated baseline, verified)" : " (the live schema equals that version)";
  return `${ms.length} migration(s) will be adopted (recorded as applied without running): ${span}${from}`;
}
