/**
 * pgstack's own plan for one database, read from the database and the migration files: the
 * pending migrations, a pending reset with the guard's verdict and the rows it would drop, drift
 * against the last verified state, and the schema after the PR (built in a throwaway database on
 * the same server, introspected, and always dropped). Plain core code: no Pulumi import.
 */
import { randomBytes } from "node:crypto";
import type pg from "pg";
import type { DatabaseConfig } from "../config.js";
import {
  applyMigrations,
  checkHistory,
  connect,
  errorMessage,
  introspect,
  quoteIdent,
  readGeneration,
  readHistory,
  silentLogger,
  type ConnectionOptions,
  type Logger,
  type ManagedSchema,
  type Migration,
  type TableInfo,
} from "../lifecycle/index.js";
import { resetGuard } from "../providers/reset.js";
import { describeDrift, describeGrantDrift, inventoryOf, type InventoryTable } from "../providers/verification.js";
import { buildDiagram } from "./mermaid.js";
import type { DatabaseReview, PendingMigration, ResetPlan, SafetyReport } from "./model.js";

/** The data-safety analysis' entry point (`infra/lifecycle/safety`), when it is installed. */
export type AnalyzeSafety = (client: pg.Client, database: string, pending: readonly Migration[], policy: unknown) => Promise<SafetyReport>;

/** What the last `pulumi up` recorded for this database's SchemaVerification (from the stack state). */
export interface VerifiedState {
  inventory: InventoryTable[];
  verifiedFingerprint: string;
  grants?: ManagedSchema[];
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
  analyzeSafety?: AnalyzeSafety;
  /** Passed to `analyzeSafety` as it is. */
  policy?: unknown;
  /** Above this many tables the diagram shows only touched tables and their neighbours. */
  maxDiagramTables?: number;
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
  if (exists) {
    await withClient({ ...admin, database: db.name }, async (client) => {
      const applied = await readHistory(client);
      plan.applied = applied.length;
      plan.historyProblems = checkHistory(applied, input.migrations);
      live = (await introspect(client, { schemas: db.schemas, exactCounts: true })).tables;
      const recorded = await readGeneration(client);
      plan.reset = resetPlan(input, recorded, live);
      const rebuilds = plan.reset?.guard === "allowed";
      const pending = rebuilds ? input.migrations : plan.historyProblems.length ? [] : input.migrations.slice(applied.length);
      plan.pending = pending.map(toPending);
      plan.drift = input.verified ? await driftOf(client, db, input.verified) : undefined;
      if (input.analyzeSafety && pending.length > 0) {
        log.info(`${db.name}: data-safety analysis of ${pending.length} pending migration(s)`);
        plan.safety = await input.analyzeSafety(client, db.name, pending, input.policy);
        plan.rehearsal = plan.safety.rehearsal;
      }
    });
  } else {
    plan.pending = input.migrations.map(toPending);
  }
  log.info(`${db.name}: building the schema after the PR in a throwaway database`);
  try {
    const after = await shadowBuild(admin, db, input.migrations);
    plan.diagram = buildDiagram(live, after, { maxTables: input.maxDiagramTables });
  } catch (err) {
    plan.schemaError = errorMessage(err);
  }
  return plan;
}

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
  const acceptDataLoss = db.reset.acceptDataLoss === db.reset.generation;
  const tables = live.map((t) => ({ table: `${t.schema}.${t.name}`, rows: t.exactRows ?? 0 }));
  const base = { fromGeneration: recorded, toGeneration: db.reset.generation, configPath, allowed: db.reset.allowed, acceptDataLoss, tables };
  const refused = resetGuard(
    { generation: recorded },
    { connection: { ...input.admin, database: db.name }, stack: input.stack, configPath, generation: db.reset.generation, allowed: db.reset.allowed, acceptDataLoss, schemas: [], backup: "" },
  );
  if (refused) return { ...base, guard: "refused", reason: refused };
  const withRows = tables.filter((t) => t.rows > 0);
  if (withRows.length > 0 && !acceptDataLoss) {
    return {
      ...base,
      guard: "refused",
      reason:
        `up refuses before dropping anything: ${withRows.map((t) => `${t.table} holds ${t.rows} row(s)`).join(", ")}; ` +
        `take a backup, then set ${configPath}.acceptDataLoss: ${db.reset.generation} to accept losing them`,
    };
  }
  const why = withRows.length > 0 ? `${configPath}.acceptDataLoss is ${db.reset.generation}: the data loss is accepted` : "no managed table holds rows";
  return { ...base, guard: "allowed", reason: `${configPath}.allowed is true and ${why}; a pg_dump backup is taken first` };
}

/** Drift as `pulumi refresh` reports it: structure against the verified state, grants against the config. */
async function driftOf(client: pg.Client, db: DatabaseConfig, verified: VerifiedState): Promise<string[]> {
  const inv = await introspect(client, { schemas: db.schemas });
  const now = inventoryOf(inv);
  const structure = inv.fingerprint === verified.verifiedFingerprint ? [] : describeDrift(verified.inventory, now);
  return [...structure, ...(verified.grants ? describeGrantDrift(now, verified.grants) : [])];
}

/**
 * Every migration applied to a new, empty database on the same server (as the admin, which
 * creates and so owns it), introspected, then dropped, whatever happened.
 */
export async function shadowBuild(admin: ConnectionOptions, db: DatabaseConfig, migrations: readonly Migration[]): Promise<TableInfo[]> {
  const name = `pgstack_review_${randomBytes(5).toString("hex")}`;
  const maintenance = { ...admin, database: "postgres" };
  await withClient(maintenance, (c) => c.query(`CREATE DATABASE ${quoteIdent(name)}`));
  try {
    return await withClient({ ...admin, database: name }, async (client) => {
      for (const s of db.schemas) await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(s)}`);
      const result = await applyMigrations(client, migrations, { database: `${db.name} (throwaway copy ${name})`, session: db.session });
      if (result.error) throw result.error;
      return (await introspect(client, { schemas: db.schemas })).tables;
    });
  } finally {
    await withClient(maintenance, (c) => c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`));
  }
}
