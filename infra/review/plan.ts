/**
 * pgstack's own plan for one database, read from the database and the migration files: the
 * pending migrations, the data-safety analysis of them under the stack's policy (lint, data at
 * risk, and the rehearsal on a copy when the policy asks for it), a pending reset with the
 * guard's verdict and the rows it would drop, drift against the last verified state, and the
 * schema after the PR (built in a throwaway database on the same server, introspected, and always
 * dropped). Plain core code: no Pulumi import.
 */
import * as path from "node:path";
import type pg from "pg";
import type { DatabaseConfig } from "../config.js";
import {
  applyMigrations,
  connect,
  errorMessage,
  introspect,
  quoteIdent,
  silentLogger,
  type ConnectionOptions,
  type Logger,
  type ManagedSchema,
  type Migration,
  type Inventory,
  type TableInfo,
  withScratchDatabase,
} from "../lifecycle/index.js";
import { rehearse } from "../lifecycle/rehearsal.js";
import { schemasToPrecreate } from "../lifecycle/migration-schemas.js";
import { appliedFiles, describeAdoption, readDatabaseState } from "../lifecycle/state.js";
import { readMembership } from "../lifecycle/membership.js";
import { adoptionInput, adoptionPlanner } from "../importers/adoption.js";
import { analyzeSafety, type SafetyPolicy } from "../lifecycle/safety/index.js";
import { acceptsDataLoss, resetVerdict } from "../lifecycle/reset-policy.js";
import { legacyDriftStatus, type InventoryTable } from "../lifecycle/inventory.js";
import { judgeDriftPolicy, measureDriftAtHead, type DeclaredInput } from "../lifecycle/drift.js";
import { CHANGE_LABELS, diffSchemas, emptySnapshot, type SchemaSnapshot } from "../lifecycle/schema/index.js";
import { buildDiagram } from "./mermaid.js";
import type { DatabaseReview, PendingMigration, ResetPlan } from "./model.js";
import { reviewRehearsalOf } from "./safety-types.js";

/** What the last `pulumi up` recorded for this database's SchemaVerification (from the stack state). */
export interface VerifiedState {
  inventory: InventoryTable[];
  verifiedFingerprint: string;
  grants?: ManagedSchema[];
  /** The declared-schema input (states since drift is measured against the migrations). */
  declared?: DeclaredInput;
}

/** Inputs of {@link planDatabase}. */
export interface PlanInput {
  stack: string;
  /** Index in `pgstack:databases`, for config paths. */
  index: number;
  db: DatabaseConfig;
  /** The admin connection to the server (any database; the plan picks its own). */
  admin: ConnectionOptions;
  /** Every migration file of the database, paths relative to the project. */
  migrations: Migration[];
  /** The verification's outputs in the stack state; undefined for a new stack or database. */
  verified?: VerifiedState;
  /** The stack's data-safety policy for this database (`safetyPolicyOf(config, db)`). */
  policy: SafetyPolicy;
  /** Above this many tables the diagram shows only touched tables and their neighbours. */
  maxDiagramTables?: number;
  /** The project folder the migration folders are relative to (default: this checkout's). */
  projectRoot?: string;
  logger?: Logger;
}

/** The plan, without the access changes (those come from `pulumi preview`). */
export type DatabasePlan = Omit<DatabaseReview, "access">;

/** Reads the plan for one database. Read-only on the database itself. */
export async function planDatabase(input: PlanInput): Promise<DatabasePlan> {
  const { db, admin } = input;
  const log = input.logger ?? silentLogger;
  const exists = await withClient({ ...admin, database: "postgres" }, async (c) =>
    ((await c.query("SELECT 1 FROM pg_database WHERE datname = $1", [db.name])).rowCount ?? 0) > 0,
  );
  const plan: DatabasePlan = { database: db.name, exists, applied: 0, pending: [], historyProblems: [] };
  let live: TableInfo[] = [];
  let liveSnapshot: SchemaSnapshot = emptySnapshot();
  let pending: Migration[] = input.migrations;
  /** Set when the pending migrations run on empty schemas (a new database, or after the reset). */
  let empty: string | undefined = "the database does not exist yet: `pulumi up` creates it";
  if (exists) {
    empty = await withClient({ ...admin, database: db.name }, async (client) => readLive(client)).catch(async (err: unknown) => {
      if (sqlStateOf(err) !== "42501") throw err;
      // Before the first `up` of an adoption the admin is not yet a member of the owner role: say what it cannot read and why, and report the rest.
      const joins = await withClient({ ...admin, database: "postgres" }, async (c) => (await readMembership(c, db.owner))?.joinsDuringUp).catch(() => undefined);
      const why = joins === true ? `the admin "${admin.user}" is not yet a member of the owner role "${db.owner}" (the first \`pulumi up\` makes it one)` : `the admin "${admin.user}" lacks a privilege on it`;
      const text = `database "${db.name}": cannot read it yet: ${errorMessage(err).split("\n")[0]}: ${why}; its history, drift and pending migrations are left out of this report`;
      log.warn(text);
      plan.adoption = { text, status: "deferred" };
      live = [];
      pending = [];
      return undefined;
    });
  }
  /** Reads the live database: its state, tables, reset, drift and the analysis. Returns `empty`. */
  async function readLive(client: pg.Client): Promise<string | undefined> {
    // The state as `up` sees it before its reset (the guard decides below whether the reset runs).
    const adoption = adoptionPlanner(adoptionInput({ connection: { ...admin, database: db.name }, role: db.owner, schemas: db.schemas, baseline: db.baseline, configPath: `pgstack:databases[${input.index}]` }, input.migrations, log));
    const state = await readDatabaseState(client, input.migrations, { database: db.name, adoption });
    plan.applied = state.applied.length;
    plan.historyProblems = state.mismatches;
    if (state.adoption) {
      const status = "refusal" in state.adoption ? "refused" : "deferred" in state.adoption ? "deferred" : "adopts";
      plan.adoption = { text: describeAdoption(state.adoption), status };
    }
    const inventory = await introspect(client, { schemas: db.schemas, exactCounts: true });
    live = inventory.tables;
    liveSnapshot = inventory.snapshot;
    plan.reset = resetPlan(input, state.recordedGeneration, live);
    const rebuilds = plan.reset?.guard === "allowed";
    pending = rebuilds ? input.migrations : plan.historyProblems.length ? [] : state.pending;
    plan.drift = input.verified ? await driftOf(client, input, input.verified) : undefined;
    // On the live database, unless the reset empties it first (then, as on a new database, all tables start empty).
    if (rebuilds) return "the reset empties the database first, so every migration runs on empty schemas";
    if (pending.length > 0) plan.safety = await analyse(input, client, pending, "runs after the analysis");
    return undefined;
  }
  plan.pending = pending.map(toPending);
  if (pending.length === 0) {
    plan.safetySkipped = plan.historyProblems.length
      ? "not run: `pulumi up` refuses to migrate until the history problems above are fixed"
      : plan.adoption?.status === "refused"
        ? "not run: `pulumi up` refuses to adopt the database (see above)"
        : plan.adoption?.status === "deferred"
          ? "not run: adoption cannot be planned yet (see above)"
          : "nothing pending";
    plan.rehearsal = { skipped: plan.safetySkipped };
  } else if (empty !== undefined) {
    plan.safety = await analyse(input, null, pending, `not run: ${empty} (the schema after the PR below is that run)`);
  }
  if (plan.safety) {
    const { rehearsal, ...report } = plan.safety;
    plan.safety = report;
    // On the live database, after the analysis' connection is closed: any session on the
    // database rules out the full TEMPLATE copy.
    plan.rehearsal = input.policy.rehearsal && empty === undefined ? await rehearseCopy(input, pending) : reviewRehearsalOf(rehearsal);
  }
  log.info(`${db.name}: building the schema after the PR in a throwaway database`);
  try {
    const after = await shadowBuild(admin, db, input.migrations);
    plan.diagram = buildDiagram(live, after.tables, { maxTables: input.maxDiagramTables, types: after.snapshot.types });
    // Every kind, in the one differ's words: what the schema after the PR has that the live one has not.
    // Structure only: the throwaway build has no stack grants or schema owners, so those would be noise.
    plan.schemaChanges = diffSchemas(liveSnapshot, after.snapshot, { labels: CHANGE_LABELS, history: false, structureOnly: true, tableParts: "list" });
  } catch (err) {
    plan.schemaError = errorMessage(err);
  }
  return plan;
}

/** The analysis under the stack's policy; `rehearsal` is the skip text when the policy wants one. */
function analyse(input: PlanInput, client: pg.Client | null, pending: Migration[], rehearsal: string) {
  const log = input.logger ?? silentLogger;
  log.info(`${input.db.name}: data-safety analysis of ${pending.length} pending migration(s) (${input.policy.profile} policy)`);
  return analyzeSafety(client, input.db.name, pending, input.policy, { logger: (m) => log.info(m), rehearsalUnavailable: rehearsal });
}

/** The rehearsal on a copy of the live database, as the owner, as the MigrationSafety provider runs it. */
async function rehearseCopy(input: PlanInput, pending: Migration[]): Promise<DatabasePlan["rehearsal"]> {
  const log = input.logger ?? silentLogger;
  log.info(`${input.db.name}: rehearsal of ${pending.length} pending migration(s) on a copy of the database`);
  try {
    return await rehearse({ ...input.admin, database: "postgres" }, input.db.name, pending, {
      role: input.db.owner,
      applied: appliedFiles(input.migrations, pending),
      session: input.db.session,
      logger: (m) => log.info(m),
    });
  } catch (err) {
    return { skipped: `could not run: ${errorMessage(err).split("\n")[0]}` };
  }
}

/** Postgres' SQLSTATE of a driver error, or of pgstack's wrapping of one. */
const sqlStateOf = (err: unknown): string | undefined => (err as { sqlState?: string }).sqlState ?? (err as { code?: string }).code;

function toPending(m: Migration): PendingMigration {
  return { name: m.name, file: m.file, sql: m.sql, inTransaction: m.inTransaction };
}

async function withClient<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect({ applicationName: "pgstack-review", ...c });
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The reset the stack asks for, judged as `pulumi up` would judge it: the guard, then the rows. */
function resetPlan(input: PlanInput, recorded: number | undefined, live: readonly TableInfo[]): ResetPlan | undefined {
  const { db } = input;
  // Never recorded: up adopts the database at the configured generation and drops nothing.
  if (recorded === undefined || recorded === db.reset.generation) return undefined;
  const configPath = `pgstack:databases[${input.index}].reset`;
  const acceptDataLoss = acceptsDataLoss(db.reset);
  const tables = live.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.exactRows ?? 0 }));
  const base = { fromGeneration: recorded, toGeneration: db.reset.generation, configPath, allowed: db.reset.allowed, acceptDataLoss, tables };
  const verdict = resetVerdict({ stack: input.stack, database: db.name, configPath, recorded, generation: db.reset.generation, allowed: db.reset.allowed, mode: db.reset.mode, acceptDataLoss, tables });
  return { ...base, ...verdict };
}

/** The project folder (two levels above `infra/review/`). */
const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/**
 * Drift as `pulumi refresh` reports it (structure against the verified state, grants against the
 * config), less what the PR's config accepts: the stack's drift policy, the one `up` applies.
 */
async function driftOf(client: pg.Client, input: PlanInput, verified: VerifiedState): Promise<string[]> {
  const { db, admin } = input;
  if (verified.declared) {
    // As `pulumi refresh` measures it (live against what the migrations declare), at the version
    // the database has reached: the PR's pending migrations are shown apart, not as drift.
    const subject = { connection: { ...admin, database: db.name }, schemas: db.schemas, grants: verified.grants, declared: verified.declared };
    const report = await measureDriftAtHead(client, input.projectRoot ?? PROJECT_ROOT, subject, input.logger);
    return judgeDriftPolicy(db.name, report, { ...verified.declared, accept: db.drift.accept }).unaccepted;
  }
  // States from before the declared schema: whether the structure is what the last `pulumi up` verified.
  const status = legacyDriftStatus((await introspect(client, { schemas: db.schemas })).fingerprint, verified.verifiedFingerprint);
  return status === "in sync" ? [] : [status.replace(/^drifted: /, "")];
}

/**
 * Every migration applied to a scratch database on the same server (as the owner, confined, as
 * in production), introspected, then dropped, whatever happened.
 */
export async function shadowBuild(admin: ConnectionOptions, db: DatabaseConfig, migrations: readonly Migration[]): Promise<Inventory> {
  return withScratchDatabase({ ...admin, database: "postgres" }, { purpose: "review", owner: db.owner, migrations }, async (scratch) => {
    for (const s of schemasToPrecreate(db.schemas.map((name) => ({ name })), migrations).map((x) => x.name)) await scratch.admin.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)} AUTHORIZATION ${quoteIdent(db.owner)}`);
    const result = await applyMigrations(await scratch.ownerSession(), scratch.migrations, { database: `${db.name} (scratch copy ${scratch.name})`, role: db.owner, session: db.session });
    if (result.error) throw result.error;
    return introspect(scratch.admin, { schemas: db.schemas });
  });
}
