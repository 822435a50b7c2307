/**
 * The dynamic providers' logic: Pulumi's check/diff/create/read/update/delete turned into calls
 * to the lifecycle core. This module is loaded inside Pulumi's dynamic-provider host (see
 * `index.ts`) and is called directly by the provider tests.
 */
import type pg from "pg";
import * as path from "node:path";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import {
  applyMigrations,
  dropDatabase,
  dropRole,
  ensureDatabase,
  ensureRole,
  ensureSchema,
  pgDump,
  readDatabase,
  readRole,
  readSchema,
  checkHistory,
  connect,
  introspect,
  loadSqlParser,
  readGeneration,
  readHistory,
  resetDatabase,
  verify,
  VerificationError,
  type ConnectionOptions,
  type Expectations,
  type Inventory,
  type Logger,
  type ManagedSchema,
  type Migration,
} from "../lifecycle/index.js";

/** Pulumi's `CheckFailure`, restated so this module needs no Pulumi import. */
export interface Failure {
  property: string;
  reason: string;
}

/** Where progress goes. The host wires it to Pulumi's log; tests capture it. */
let logger: Logger = {
  info: (m) => process.stderr.write(`[pgstack] ${m}\n`),
  warn: (m) => process.stderr.write(`[pgstack] warning: ${m}\n`),
};

/** Replaces the progress logger (tests, or a host with a richer log). */
export function setLogger(l: Logger): void {
  logger = l;
}

async function withConnection<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect({ ...c, applicationName: "pgstack (pulumi)" });
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * For `read` (refresh): runs `fn`, or returns undefined when the database itself is gone, so the
 * engine drops the resource from the state instead of failing the whole refresh.
 */
async function readOrGone<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T | undefined> {
  try {
    return await withConnection(c, fn);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === "3D000") return undefined; // invalid_catalog_name
    throw err;
  }
}

/**
 * Deep equality by value. Why not JSON.stringify: the state stores objects with sorted keys, so
 * the old and new sides of a diff list the same keys in different orders.
 */
export function same(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "undefined";
}

/** `check` for resources whose inputs need no validation beyond the config schema's. */
async function acceptInputs<T>(_olds: unknown, news: T): Promise<{ inputs: T; failures: Failure[] }> {
  return { inputs: news, failures: [] };
}

// ---------------------------------------------------------------------------------------------
// DatabaseReset

/** Inputs of a DatabaseReset. */
export interface ResetInputs {
  connection: ConnectionOptions;
  stack: string;
  /** Config path of this database's reset settings, for messages. */
  configPath: string;
  generation: number;
  allowed: boolean;
  /** True when the config accepted data loss for exactly this generation. */
  acceptDataLoss: boolean;
  schemas: ManagedSchema[];
  /** The backup taken before this generation (an input so the reset waits for it). */
  backup: string;
}

/** Outputs of a DatabaseReset: its inputs plus what the reset did. */
export interface ResetOutputs extends ResetInputs {
  action: "adopted" | "unchanged" | "reset";
  previousGeneration: number | null;
  droppedTables: string[];
  /** The generation recorded inside the database (refreshed by `read`). */
  recordedGeneration: number | null;
}

/** Why a generation change is refused, or undefined if it may proceed. */
export function resetGuard(olds: Partial<ResetInputs> | undefined, news: ResetInputs): string | undefined {
  if (!olds || olds.generation === undefined || olds.generation === news.generation || news.allowed) return undefined;
  return (
    `stack "${news.stack}" does not allow resetting database "${news.connection.database}" ` +
    `(generation ${olds.generation} → ${news.generation}). ` +
    `A reset drops every managed schema. To allow it in this stack, set ${news.configPath}.allowed: true; ` +
    `otherwise restore ${news.configPath}.generation to ${olds.generation}`
  );
}

export const reset = {
  async check(olds: Partial<ResetInputs> | undefined, news: ResetInputs): Promise<{ inputs: ResetInputs; failures: Failure[] }> {
    const reason = resetGuard(olds, news);
    return { inputs: news, failures: reason ? [{ property: "generation", reason }] : [] };
  },

  async diff(_id: string, olds: ResetOutputs, news: ResetInputs) {
    const replaces = olds.generation !== news.generation ? ["generation"] : [];
    const changes =
      replaces.length > 0 ||
      olds.allowed !== news.allowed ||
      olds.acceptDataLoss !== news.acceptDataLoss ||
      !same(olds.schemas, news.schemas) ||
      !same(olds.connection, news.connection);
    // The old reset is deleted (a no-op) before its replacement nukes: never two at once.
    return { changes, replaces, deleteBeforeReplace: true };
  },

  async create(inputs: ResetInputs): Promise<{ id: string; outs: ResetOutputs }> {
    const outcome = await withConnection(inputs.connection, async (client) => {
      const recorded = await readGeneration(client);
      // Defence in depth: `check` refuses this at preview; a stack that may not reset never nukes.
      if (recorded !== undefined && recorded !== inputs.generation && !inputs.allowed) {
        throw new Error(resetGuard({ generation: recorded }, inputs));
      }
      return resetDatabase(client, {
        database: inputs.connection.database,
        generation: inputs.generation,
        schemas: inputs.schemas,
        acceptDataLoss: inputs.acceptDataLoss,
        logger,
      });
    });
    return {
      id: `${inputs.connection.database}@${inputs.generation}`,
      outs: {
        ...inputs,
        action: outcome.action,
        previousGeneration: outcome.previousGeneration ?? null,
        droppedTables: outcome.dropped.map((d) => `${d.table} (${d.rows} rows)`),
        recordedGeneration: inputs.generation,
      },
    };
  },

  async update(_id: string, _olds: ResetOutputs, news: ResetInputs): Promise<{ outs: ResetOutputs }> {
    // Only settings changed (the generation is a replacement): nothing to do in the database.
    return { outs: { ..._olds, ...news } };
  },

  async read(id: string, props: ResetOutputs) {
    const found = await readOrGone(props.connection, async (client) => ({ recorded: await readGeneration(client) }));
    if (!found) return {};
    const { recorded } = found;
    return { id, props: { ...props, recordedGeneration: recorded ?? null }, inputs: inputsOf(props, RESET_INPUT_KEYS) };
  },

  /** Deleting the reset resource does nothing to the database. */
  async delete(): Promise<void> {},
};
const RESET_INPUT_KEYS = ["connection", "stack", "configPath", "generation", "allowed", "acceptDataLoss", "schemas", "backup"] as const;

// ---------------------------------------------------------------------------------------------
// MigrationSet

/** A migration as a resource input: everything preview shows, including its SQL. */
export interface MigrationInput {
  id: number;
  name: string;
  file: string;
  checksum: string;
  inTransaction: boolean;
  sql: string;
}

/** Inputs of a MigrationSet. */
export interface MigrationSetInputs {
  connection: ConnectionOptions;
  /** Run the migrations as this role, so the tables belong to it. */
  role: string;
  migrations: MigrationInput[];
  /** The reset generation: a new one means the history was cleared, so everything re-applies. */
  resetGeneration: number;
}

/** Outputs: inputs plus the history read back from the database. */
export interface MigrationSetOutputs extends MigrationSetInputs {
  /** `name@checksum12` of every recorded migration, oldest first. */
  applied: string[];
  /** The last applied migration's name, or null. */
  head: string | null;
}

function appliedKeys(history: { name: string; checksum: string }[]): string[] {
  return history.map((h) => `${h.name}@${h.checksum.slice(0, 12)}`);
}

export const migrations = {
  async check(olds: Partial<MigrationSetInputs> | undefined, news: MigrationSetInputs): Promise<{ inputs: MigrationSetInputs; failures: Failure[] }> {
    const failures: Failure[] = [];
    // After a reset the history starts again from zero, so edits to old files are allowed.
    if (olds?.migrations && olds.resetGeneration === news.resetGeneration) {
      const applied = olds.migrations.map((m) => ({ ...m, appliedAt: new Date(0), durationMs: 0 }));
      for (const problem of checkHistory(applied, news.migrations.map(toMigration))) {
        failures.push({ property: "migrations", reason: `${problem}. Applied migrations are immutable: restore the file and add a new migration instead` });
      }
    }
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: MigrationSetOutputs, news: MigrationSetInputs) {
    const applied = new Set(olds.applied ?? []);
    const pending = news.migrations.filter((m) => !applied.has(`${m.name}@${m.checksum.slice(0, 12)}`));
    const changes =
      pending.length > 0 ||
      olds.resetGeneration !== news.resetGeneration ||
      olds.role !== news.role ||
      !same(olds.migrations, news.migrations) ||
      !same(olds.connection, news.connection);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: MigrationSetInputs): Promise<{ id: string; outs: MigrationSetOutputs }> {
    const outs = await applyAll(inputs);
    return { id: `${inputs.connection.database}/migrations`, outs };
  },

  async update(_id: string, _olds: MigrationSetOutputs, news: MigrationSetInputs): Promise<{ outs: MigrationSetOutputs }> {
    return { outs: await applyAll(news) };
  },

  /** Refresh: the history read back, so a migration applied or removed by hand shows as drift. */
  async read(id: string, props: MigrationSetOutputs) {
    const history = await readOrGone(props.connection, (client) => readHistory(client));
    if (!history) return {};
    return {
      id,
      props: { ...props, applied: appliedKeys(history), head: history.at(-1)?.name ?? null },
      inputs: inputsOf(props, MIGRATION_INPUT_KEYS),
    };
  },

  /** Deleting the MigrationSet leaves tables and history in place; only the Database's deletion drops them. */
  async delete(): Promise<void> {},
};
const MIGRATION_INPUT_KEYS = ["connection", "role", "migrations", "resetGeneration"] as const;

function toMigration(m: MigrationInput): Migration {
  return { id: m.id, name: m.name, file: m.file, checksum: m.checksum, sql: m.sql, inTransaction: m.inTransaction };
}

async function applyAll(inputs: MigrationSetInputs): Promise<MigrationSetOutputs> {
  await loadSqlParser();
  return withConnection(inputs.connection, async (client) => {
    const result = await applyMigrations(client, inputs.migrations.map(toMigration), {
      database: inputs.connection.database,
      role: inputs.role,
      logger,
    });
    if (result.error) throw result.error;
    const history = await readHistory(client);
    return { ...inputs, applied: appliedKeys(history), head: history.at(-1)?.name ?? null };
  });
}

// ---------------------------------------------------------------------------------------------
// SchemaVerification

/** Inputs of a SchemaVerification. */
export interface VerificationInputs {
  connection: ConnectionOptions;
  schemas: string[];
  expectations: Expectations;
  /** The migration head, so verification runs after (and again whenever) migrations change. */
  migrationHead: string | null;
}

/** One table in the stack outputs. */
export interface InventoryTable {
  table: string;
  owner: string;
  estimatedRows: number;
  columns: string[];
  primaryKey: string[];
  foreignKeys: string[];
}

/** Outputs: inputs plus the inventory and fingerprints. */
export interface VerificationOutputs extends VerificationInputs {
  inventory: InventoryTable[];
  /** Fingerprint of the live structure (refreshed by `read`). */
  fingerprint: string;
  /** Fingerprint when pgstack last applied and verified. Differs from `fingerprint` after drift. */
  verifiedFingerprint: string;
  /** `in sync`, or what drifted since the last `pulumi up`. */
  drift: string;
}

/** The compact, sorted inventory the stack outputs show. */
export function inventoryOf(inv: Inventory): InventoryTable[] {
  return inv.tables.map((t) => ({
    table: `${t.schema}.${t.name}`,
    owner: t.owner,
    estimatedRows: t.estimatedRows,
    columns: t.columns.map((c) => `${c.name} ${c.type}${c.nullable ? "" : " not null"}${c.default !== null ? ` default ${c.default}` : ""}`),
    primaryKey: t.primaryKey,
    foreignKeys: t.foreignKeys.map((f) => `${f.columns.join(", ")} -> ${f.references.schema}.${f.references.table}(${f.references.columns.join(", ")}) on delete ${f.onDelete}`),
  }));
}

async function inspect(inputs: VerificationInputs): Promise<Inventory> {
  return withConnection(inputs.connection, (client) => introspect(client, { schemas: inputs.schemas }));
}

async function verifyAll(inputs: VerificationInputs): Promise<VerificationOutputs> {
  const inv = await inspect(inputs);
  const unmet = verify(inv, inputs.expectations);
  if (unmet.length > 0) throw new VerificationError(inputs.connection.database, unmet);
  const n = inputs.expectations.tables.length + inputs.expectations.foreignKeys.length;
  logger.info(`${inputs.connection.database}: verified ${n} expectation(s) over ${inv.tables.length} table(s)`);
  return { ...inputs, inventory: inventoryOf(inv), fingerprint: inv.fingerprint, verifiedFingerprint: inv.fingerprint, drift: "in sync" };
}

/** A table's structure as a string; key order is fixed (the state stores objects key-sorted). */
function structureOf(t: InventoryTable): string {
  return JSON.stringify([t.owner, t.columns, t.primaryKey, t.foreignKeys]);
}

/** Describes drift between what was verified and what is live. */
export function describeDrift(before: InventoryTable[], after: InventoryTable[]): string {
  const b = new Map(before.map((t) => [t.table, t]));
  const a = new Map(after.map((t) => [t.table, t]));
  const out: string[] = [];
  for (const [name, t] of a) {
    const old = b.get(name);
    if (!old) out.push(`table ${name} appeared`);
    else if (structureOf(old) !== structureOf(t)) out.push(`table ${name} changed`);
  }
  for (const name of b.keys()) if (!a.has(name)) out.push(`table ${name} disappeared`);
  return out.length ? `drifted: ${out.join("; ")}` : "drifted: indexes or constraints changed";
}

export const verification = {
  check: acceptInputs,

  async diff(_id: string, olds: VerificationOutputs, news: VerificationInputs) {
    // In a preview the new head is unknown until the migrations have run. Verifying changes
    // nothing in the database, so preview reports only the real change (the MigrationSet); the
    // verification re-runs during `up`, when the head is known.
    const headUnknown = news.migrationHead === unknownValue;
    const changes =
      (!headUnknown && olds.migrationHead !== news.migrationHead) ||
      olds.fingerprint !== olds.verifiedFingerprint ||
      !same(olds.expectations, news.expectations) ||
      !same(olds.schemas, news.schemas) ||
      !same(olds.connection, news.connection);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: VerificationInputs) {
    return { id: `${inputs.connection.database}/verification`, outs: await verifyAll(inputs) };
  },

  async update(_id: string, _olds: VerificationOutputs, news: VerificationInputs) {
    return { outs: await verifyAll(news) };
  },

  /** Refresh: introspect again, so drift shows as a diff of the inventory and fingerprint. */
  async read(id: string, props: VerificationOutputs) {
    const inv = await readOrGone(props.connection, (client) => introspect(client, { schemas: props.schemas }));
    if (!inv) return {};
    const inventory = inventoryOf(inv);
    const drift = inv.fingerprint === props.verifiedFingerprint ? "in sync" : describeDrift(props.inventory, inventory);
    return {
      id,
      props: { ...props, inventory, fingerprint: inv.fingerprint, drift },
      inputs: inputsOf(props, VERIFICATION_INPUT_KEYS),
    };
  },

  async delete(): Promise<void> {},
};
const VERIFICATION_INPUT_KEYS = ["connection", "schemas", "expectations", "migrationHead"] as const;

// ---------------------------------------------------------------------------------------------
// GeneratedPassword: a login role's password when the config names no secret.

export const password = {
  async check(_olds: unknown, news: { length: number }) {
    const ok = Number.isInteger(news.length) && news.length >= 16 && news.length <= 128;
    return { inputs: news, failures: ok ? [] : [{ property: "length", reason: "length must be an integer from 16 to 128" }] };
  },
  async diff(_id: string, olds: { length: number }, news: { length: number }) {
    return { changes: olds.length !== news.length, replaces: olds.length !== news.length ? ["length"] : [] };
  },
  async create(inputs: { length: number }) {
    const { randomBytes } = await import("node:crypto");
    const value = randomBytes(inputs.length).toString("base64url").slice(0, inputs.length);
    return { id: randomBytes(8).toString("hex"), outs: { length: inputs.length, value } };
  },
  async read(id: string, props: { length: number; value: string }) {
    return { id, props, inputs: { length: props.length } };
  },
  async delete(): Promise<void> {},
};

/** Picks a resource's input properties out of its outputs, for `ReadResult.inputs`. */
function inputsOf<T extends object, K extends readonly (keyof T)[]>(props: T, keys: K): Pick<T, K[number]> {
  const out = {} as Pick<T, K[number]>;
  for (const k of keys) out[k] = props[k];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cluster objects, for stacks with `server.provisioner: pgstack` (no @pulumi/postgresql plugin).

/** Inputs of a pgstack Role. `connection` is the admin connection. */
export interface RoleInputs {
  connection: ConnectionOptions;
  name: string;
  login: boolean;
  password?: string;
}

export const role = {
  check: acceptInputs,
  async diff(_id: string, olds: RoleInputs, news: RoleInputs) {
    const replaces = olds.name !== news.name ? ["name"] : [];
    const changes = replaces.length > 0 || olds.login !== news.login || olds.password !== news.password || !same(olds.connection, news.connection);
    return { changes, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: RoleInputs) {
    await withConnection(inputs.connection, (c) => ensureRole(c, inputs));
    logger.info(`role ${inputs.name} ready${inputs.login ? " (login)" : ""}`);
    return { id: inputs.name, outs: inputs };
  },
  async update(_id: string, _olds: RoleInputs, news: RoleInputs) {
    await withConnection(news.connection, (c) => ensureRole(c, news));
    return { outs: news };
  },
  async read(id: string, props: RoleInputs) {
    const found = await readOrGone(props.connection, (c) => readRole(c, props.name));
    if (!found) return {};
    const live = { ...props, login: found.login };
    return { id, props: live, inputs: live };
  },
  async delete(_id: string, props: RoleInputs) {
    await withConnection(props.connection, (c) => dropRole(c, props.name));
  },
};

/** Inputs of a pgstack Database. `connection` is the admin connection. */
export interface DatabaseInputs {
  connection: ConnectionOptions;
  name: string;
  owner: string;
}

export const database = {
  check: acceptInputs,
  async diff(_id: string, olds: DatabaseInputs, news: DatabaseInputs) {
    const replaces = olds.name !== news.name ? ["name"] : [];
    return { changes: replaces.length > 0 || olds.owner !== news.owner || !same(olds.connection, news.connection), replaces, deleteBeforeReplace: true };
  },
  async create(inputs: DatabaseInputs) {
    await withConnection(inputs.connection, (c) => ensureDatabase(c, inputs.name, inputs.owner));
    logger.info(`database ${inputs.name} ready, owned by ${inputs.owner}`);
    return { id: inputs.name, outs: inputs };
  },
  async update(_id: string, _olds: DatabaseInputs, news: DatabaseInputs) {
    await withConnection(news.connection, (c) => ensureDatabase(c, news.name, news.owner));
    return { outs: news };
  },
  async read(id: string, props: DatabaseInputs) {
    const found = await withConnection(props.connection, (c) => readDatabase(c, props.name));
    if (!found) return {};
    const live = { ...props, owner: found.owner };
    return { id, props: live, inputs: live };
  },
  /** Drops the database and everything in it (sessions are ended first). */
  async delete(_id: string, props: DatabaseInputs) {
    logger.info(`dropping database ${props.name}`);
    await withConnection(props.connection, (c) => dropDatabase(c, props.name));
  },
};

/** Inputs of a pgstack Schema: the schema with its owner, grants and default privileges. */
export interface SchemaInputs {
  connection: ConnectionOptions;
  schema: ManagedSchema;
}

export const schema = {
  check: acceptInputs,
  async diff(_id: string, olds: SchemaInputs, news: SchemaInputs) {
    const replaces = olds.schema.name !== news.schema.name ? ["schema"] : [];
    return { changes: replaces.length > 0 || !same(olds.schema, news.schema) || !same(olds.connection, news.connection), replaces, deleteBeforeReplace: false };
  },
  async create(inputs: SchemaInputs) {
    await withConnection(inputs.connection, (c) => ensureSchema(c, inputs.schema));
    logger.info(`${inputs.connection.database}: schema ${inputs.schema.name} owned by ${inputs.schema.owner}, ${inputs.schema.grants.length} grant(s)`);
    return { id: `${inputs.connection.database}.${inputs.schema.name}`, outs: inputs };
  },
  async update(_id: string, _olds: SchemaInputs, news: SchemaInputs) {
    await withConnection(news.connection, (c) => ensureSchema(c, news.schema));
    return { outs: news };
  },
  async read(id: string, props: SchemaInputs) {
    const found = await readOrGone(props.connection, (c) => readSchema(c, props.schema.name));
    if (!found) return {};
    const live = { ...props, schema: { ...props.schema, owner: found.owner } };
    return { id, props: live, inputs: live };
  },
  /** Removing a schema from the config does not drop it (that would lose data); a reset or the database's deletion does. */
  async delete(): Promise<void> {},
};

/** Inputs of a pgstack Backup: a `pg_dump -Fc` taken when the reset generation changes. */
export interface BackupInputs {
  connection: ConnectionOptions;
  /** The project root (absolute); `dir` and the output `path` are relative to it. */
  root: string;
  dir: string;
  generation: number;
}

export const backup = {
  check: acceptInputs,
  async diff(_id: string, olds: BackupInputs, news: BackupInputs) {
    // A new generation means a new backup before the reset; the old file is kept.
    const replaces = olds.generation !== news.generation ? ["generation"] : [];
    return { changes: replaces.length > 0 || olds.dir !== news.dir, replaces, deleteBeforeReplace: false };
  },
  async create(inputs: BackupInputs) {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const rel = path.join(inputs.dir, `${inputs.connection.database}-g${inputs.generation}-${stamp}.dump`);
    logger.info(`${inputs.connection.database}: pg_dump -Fc to ${rel}`);
    await pgDump(inputs.connection, path.join(inputs.root, rel));
    return { id: rel, outs: { ...inputs, path: rel } };
  },
  async update(_id: string, olds: BackupInputs & { path: string }, news: BackupInputs) {
    return { outs: { ...news, path: olds.path } };
  },
  async read(id: string, props: BackupInputs & { path: string }) {
    return { id, props, inputs: inputsOf(props, ["connection", "root", "dir", "generation"] as const) };
  },
  /** Backups are kept when the resource goes: restore with `pg_restore`. */
  async delete(): Promise<void> {},
};

/** The handlers by resource kind, as the host looks them up. */
export const handlers = { reset, migrations, verification, password, role, database, schema, backup };
export type HandlerKind = keyof typeof handlers;
