/** SchemaVerification's provider: expectations checked, inventory and fingerprint reported, drift on refresh. */
import { DEFAULT_EXACT_COUNT_THRESHOLD, introspect, verify, VerificationError, type ConnectionOptions, type Expectations, type Inventory, type ManagedSchema } from "../lifecycle/index.js";
import { acceptInputs, inputsOf, logger, providerChanged, readOrGone, same, withConnection } from "./common.js";


/** Inputs of a SchemaVerification. */
export interface VerificationInputs {
  connection: ConnectionOptions;
  schemas: string[];
  expectations: Expectations;
  /** The migration head, so verification runs after (and again whenever) migrations change. */
  migrationHead: string | null;
  /**
   * The managed schemas with their declared grants. A change re-verifies during `up`, so the
   * inventory records the grants pgstack itself made instead of reporting them as drift.
   */
  grants?: ManagedSchema[];
}

/** One table in the stack outputs. */
export interface InventoryTable {
  table: string;
  owner: string;
  /** Rows: an exact count for tables under the inventory's threshold, else Postgres' estimate. */
  rows: number;
  /** False when `rows` is an estimate (shown as `~620`). */
  rowsExact: boolean;
  columns: string[];
  primaryKey: string[];
  foreignKeys: string[];
  /** Privileges held by roles other than the owner, `role: PRIV, PRIV` (`PUBLIC` for everyone). */
  grants: string[];
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
    rows: t.exactRows ?? t.estimatedRows,
    rowsExact: t.exactRows !== undefined,
    columns: t.columns.map((c) => `${c.name} ${c.type}${c.nullable ? "" : " not null"}${c.default !== null ? ` default ${c.default}` : ""}`),
    primaryKey: t.primaryKey,
    foreignKeys: t.foreignKeys.map((f) => `${f.columns.join(", ")} -> ${f.references.schema}.${f.references.table}(${f.references.columns.join(", ")}) on delete ${f.onDelete}`),
    grants: t.grants,
  }));
}

async function inspect(inputs: VerificationInputs): Promise<Inventory> {
  return withConnection(inputs.connection, (client) => introspect(client, { schemas: inputs.schemas, exactCountBelow: DEFAULT_EXACT_COUNT_THRESHOLD }));
}

async function verifyAll(inputs: VerificationInputs): Promise<VerificationOutputs> {
  const inv = await inspect(inputs);
  const unmet = verify(inv, inputs.expectations);
  if (unmet.length > 0) throw new VerificationError(inputs.connection.database, unmet);
  const n = inputs.expectations.tables.length + inputs.expectations.foreignKeys.length;
  logger.info(`${inputs.connection.database}: verified ${n} expectation(s) over ${inv.tables.length} table(s)`);
  return { ...inputs, inventory: inventoryOf(inv), fingerprint: inv.fingerprint, verifiedFingerprint: inv.fingerprint, drift: "in sync" };
}

/** A table's structure (grants aside) as a string; key order is fixed (the state stores objects key-sorted). */
function structureOf(t: InventoryTable): string {
  return JSON.stringify([t.owner, t.columns, t.primaryKey, t.foreignKeys]);
}

/** `+ x` / `- x` for what was added to or removed from a list. */
function listChanges(before: readonly string[], after: readonly string[]): string[] {
  const b = new Set(before);
  const a = new Set(after);
  return [...after.filter((x) => !b.has(x)).map((x) => `+ ${x}`), ...before.filter((x) => !a.has(x)).map((x) => `- ${x}`)];
}

/** Describes structural drift between what was verified and what is live (grants aside). */
export function describeDrift(before: InventoryTable[], after: InventoryTable[]): string[] {
  const b = new Map(before.map((t) => [t.table, t]));
  const a = new Map(after.map((t) => [t.table, t]));
  const out: string[] = [];
  for (const [name, t] of a) {
    const old = b.get(name);
    if (!old) out.push(`table ${name} appeared`);
    else if (structureOf(old) !== structureOf(t)) out.push(`table ${name} changed`);
  }
  for (const name of b.keys()) if (!a.has(name)) out.push(`table ${name} disappeared`);
  return out.length ? out : ["indexes or constraints changed"];
}

/**
 * Grants that differ from the config, per table: compared with what is declared (not with what
 * was last seen), so a hand-made `GRANT … TO PUBLIC` shows, and a grant pgstack revoked does not.
 */
export function describeGrantDrift(inventory: InventoryTable[], declared: readonly ManagedSchema[]): string[] {
  const out: string[] = [];
  for (const t of inventory) {
    const schema = declared.find((s) => t.table.startsWith(`${s.name}.`));
    if (!schema) continue;
    const expected = schema.grants.filter((g) => g.tables.length > 0).map((g) => `${g.role}: ${[...g.tables].sort().join(", ")}`);
    const changes = listChanges(expected.sort(), t.grants ?? []);
    if (changes.length > 0) out.push(`grants on ${t.table} differ from the config (${changes.join(", ")})`);
  }
  return out;
}

/** The drift status output: `in sync`, or `drifted: …` listing each difference. */
function driftStatus(parts: string[]): string {
  return parts.length ? `drifted: ${parts.join("; ")}` : "in sync";
}

export const verification = {
  check: acceptInputs,

  async diff(_id: string, olds: VerificationOutputs, news: VerificationInputs) {
    // In a preview the head is unknown (a marker value, so unequal) exactly when the
    // MigrationSet will change: then `up` re-verifies, and the preview says so.
    const changes =
      olds.migrationHead !== news.migrationHead ||
      !same(olds.grants, news.grants) ||
      olds.fingerprint !== olds.verifiedFingerprint ||
      (olds.drift !== undefined && olds.drift !== "in sync") ||
      !same(olds.expectations, news.expectations) ||
      !same(olds.schemas, news.schemas) ||
      !same(olds.connection, news.connection) ||
      providerChanged(olds, news);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: VerificationInputs) {
    return { id: `${inputs.connection.database}/verification`, outs: await verifyAll(inputs) };
  },

  async update(_id: string, _olds: VerificationOutputs, news: VerificationInputs) {
    return { outs: await verifyAll(news) };
  },

  /**
   * Refresh: introspect again, so drift shows as a diff of the inventory and fingerprint, and
   * the grants are compared with the config.
   */
  async read(id: string, props: VerificationOutputs) {
    const inv = await readOrGone(props.connection, (client) => introspect(client, { schemas: props.schemas, exactCountBelow: DEFAULT_EXACT_COUNT_THRESHOLD }));
    if (!inv) return {};
    const inventory = inventoryOf(inv);
    const structure = inv.fingerprint === props.verifiedFingerprint ? [] : describeDrift(props.inventory, inventory);
    // States written before the declared grants were an input have none to compare with.
    const drift = driftStatus([...structure, ...(props.grants ? describeGrantDrift(inventory, props.grants) : [])]);
    return {
      id,
      props: { ...props, inventory, fingerprint: inv.fingerprint, drift },
      inputs: inputsOf(props, VERIFICATION_INPUT_KEYS),
    };
  },

  async delete(): Promise<void> {},
};
const VERIFICATION_INPUT_KEYS = ["connection", "schemas", "expectations", "migrationHead", "grants"] as const;

