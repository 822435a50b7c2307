/** SchemaVerification's provider: expectations checked, inventory and fingerprint reported, drift on refresh. */
import type pg from "pg";
import { DEFAULT_EXACT_COUNT_THRESHOLD, introspect, judgeDriftPolicy, verify, VerificationError, type ConnectionOptions, type DeclaredInput, type Expectations, type Inventory, type ManagedSchema } from "../lifecycle/index.js";
import { defineProvider, inputsOf, logger, providerChanged, readOrGone, same, withConnection, type Failure } from "./common.js";
import { judgeDrift } from "../lifecycle/schema/index.js";
import { inventoryForState, inventoryOf, legacyDriftStatus, type InventoryEntry, type InventoryTable, type StoredInventory } from "../lifecycle/inventory.js";
import { driftBeforeUp, driftStatus, measureDrift } from "./drift.js";


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
  /**
   * The migration files and the drift policy. Drift is the live schema against the declared one
   * (the files applied to a shadow database), so no `up` blesses it. Absent in older states.
   */
  declared?: DeclaredInput;
}

/** Outputs: inputs plus the inventory and fingerprints. */
export interface VerificationOutputs extends VerificationInputs {
  /**
   * Keyed by `schema.table`, so a refresh diff names exactly the table that changed; one JSON text
   * per table ({@link StoredInventory}; objects, or a list, in older states).
   */
  inventory: StoredInventory | Record<string, InventoryEntry> | InventoryTable[];
  /** Fingerprint of the live structure (refreshed by `read`). */
  fingerprint: string;
  /** Fingerprint when pgstack last applied and verified. Differs from `fingerprint` after drift. */
  verifiedFingerprint: string;
  /** `in sync`, or `drifted: ` and the drift report's lines. */
  drift: string;
  /** Every difference from the declared schema, one line per object (empty when in sync). */
  driftReport?: string[];
}

/**
 * The inventory's introspection, and the drift measure fed by the same read of the live schema
 * (with the history, which the drift check compares too). The declared side (the files, built
 * or found in the cache) starts at once, so it overlaps the read instead of following it.
 */
function inspect<T extends Inventory | undefined>(
  inputs: VerificationInputs,
  read: (fn: (client: pg.Client) => Promise<Inventory>) => Promise<T>,
  options: { requireDigest?: boolean } = {},
): { inventory: Promise<T>; drift: Promise<string[] | undefined> | undefined } {
  const inventory = read((client) => introspect(client, { schemas: inputs.schemas, exactCountBelow: DEFAULT_EXACT_COUNT_THRESHOLD, history: inputs.declared !== undefined, helpers: inputs.connection }));
  if (!inputs.declared) return { inventory, drift: undefined };
  const drift = measureDrift({ ...inputs, declared: inputs.declared }, { ...options, live: inventory.then((inv) => inv?.snapshot) });
  // Awaited by the caller after the inventory; not unhandled when the inventory fails first.
  drift.catch(() => undefined);
  return { inventory, drift };
}

async function verifyAll(inputs: VerificationInputs, olds?: VerificationInputs): Promise<VerificationOutputs> {
  const { inventory, drift: measuring } = inspect(inputs, (fn) => withConnection(inputs.connection, fn), { requireDigest: true });
  // On a failure the drift side is let finish first: no scratch build goes on after this call.
  const settled = async (err: unknown): Promise<never> => {
    await measuring?.catch(() => undefined);
    throw err;
  };
  const inv = await inventory.catch(settled);
  const unmet = verify(inv, inputs.expectations);
  if (unmet.length > 0) return settled(new VerificationError(inputs.connection.database, unmet));
  const n = inputs.expectations.tables.length + inputs.expectations.foreignKeys.length;
  logger.info(`${inputs.connection.database}: verified ${n} expectation(s) over ${inv.tables.length} table(s)`);
  // Drift against the files, not against what this run saw: an `up` never clears it.
  const measured = (await measuring) ?? [];
  const report = withoutPendingRevokes(measured, olds?.grants, inputs.grants);
  if (inputs.declared && report.length > 0) {
    const { refusal, unaccepted } = judgeDriftPolicy(inputs.connection.database, report, inputs.declared);
    if (refusal) throw refusal;
    // Accepted lines are known and wanted: no warning on every `up`.
    if (unaccepted.length > 0) logger.warn(`${inputs.connection.database}: drifted from its migrations:\n${unaccepted.map((l) => `    ${l}`).join("\n")}`);
  }
  const drift = inputs.declared ? driftStatus(report, inputs.declared.accept) : "in sync";
  return { ...inputs, inventory: inventoryForState(inventoryOf(inv)), fingerprint: inv.fingerprint, verifiedFingerprint: inv.fingerprint, drift, driftReport: report };
}

/**
 * Drops the grant lines of roles whose whole grant this `up` removes from the config: Pulumi
 * deletes the removed Grant resources (revoking them) only after every update, so after this
 * verification. What only narrows a grant is an update, and has run by now.
 */
export function withoutPendingRevokes(report: string[], before: readonly ManagedSchema[] | undefined, after: readonly ManagedSchema[] | undefined): string[] {
  const roles = (ms: readonly ManagedSchema[] | undefined) => new Set((ms ?? []).flatMap((m) => m.grants.filter((g) => g.tables.length > 0).map((g) => g.role)));
  const kept = roles(after);
  const leaving = [...roles(before)].filter((r) => !kept.has(r));
  if (leaving.length === 0) return report;
  return report.filter((line) => !leaving.some((r) => new RegExp(`^~ .+: [+~] grant ${r.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: `).test(line)));
}

/** Whether the last measurement found drift that the new inputs do not accept. */
function unacceptedDrift(olds: VerificationOutputs, news: VerificationInputs): boolean {
  if (!olds.driftReport) return olds.drift !== undefined && olds.drift !== "in sync"; // states from before the declared schema
  return judgeDrift(olds.driftReport, news.declared?.accept ?? []).unaccepted.length > 0;
}

/** SchemaVerification's provider. */
export const verification = defineProvider<VerificationInputs, VerificationInputs, VerificationOutputs>("SchemaVerification", {
  /**
   * Where the policy refuses drift, the live database is compared with the declared schema at
   * the version it has reached, before anything runs: the refusal shows in `pulumi preview`.
   */
  async check(olds, news) {
    const failures: Failure[] = [];
    // Only where drift refuses: elsewhere `up` warns after the migrations, and previews stay cheap.
    if (news.declared?.policy === "refuse" && typeof news.connection?.database === "string") {
      // The database holds what the last `up` made: the grants it declared then, not the new
      // ones (whose roles may not exist before this `up` creates them).
      const grants = olds?.grants ?? news.grants;
      const refusal = await driftBeforeUp({ ...news, ...(grants ? { grants } : {}), declared: news.declared });
      // No property name: the engine would print the property's whole value before the reason.
      if (refusal) failures.push({ property: "", reason: refusal });
    }
    return { inputs: news, failures };
  },

  async diff(_id, olds, news) {
    // In a preview the head is unknown (a marker value, so unequal) exactly when the
    // MigrationSet will change: then `up` re-verifies, and the preview says so.
    const changes =
      olds.migrationHead !== news.migrationHead ||
      !same(olds.grants, news.grants) ||
      olds.fingerprint !== olds.verifiedFingerprint ||
      !same(olds.declared, news.declared) ||
      // Unaccepted drift is a difference from what is declared: `refresh` shows the resource as
      // changed, and each `up` measures it again (without ever blessing it).
      unacceptedDrift(olds, news) ||
      !same(olds.expectations, news.expectations) ||
      !same(olds.schemas, news.schemas) ||
      !same(olds.connection, news.connection) ||
      providerChanged(olds, news);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs) {
    return { id: `${inputs.connection.database}/verification`, outs: await verifyAll(inputs) };
  },

  async update(_id, _olds, news) {
    return { outs: await verifyAll(news, _olds) };
  },

  /**
   * Refresh: introspect again, so drift shows as a diff of the keyed inventory, and measure drift
   * against the declared schema (states from before it compare the fingerprint with the last up).
   */
  async read(id, props) {
    const { inventory: reading, drift: measuring } = inspect(props, (fn) => readOrGone(props.connection, fn));
    const inv = await reading.catch(async (err: unknown) => {
      await measuring?.catch(() => undefined);
      throw err;
    });
    if (!inv) {
      await measuring?.catch(() => undefined);
      return {};
    }
    const inventory = inventoryOf(inv);
    const driftReport = measuring ? ((await measuring) ?? []) : undefined;
    const drift = driftReport ? driftStatus(driftReport, props.declared?.accept ?? []) : legacyDriftStatus(inv.fingerprint, props.verifiedFingerprint);
    return {
      id,
      props: { ...props, inventory: inventoryForState(inventory), fingerprint: inv.fingerprint, drift, ...(driftReport ? { driftReport } : {}) },
      inputs: inputsOf(props, VERIFICATION_INPUT_KEYS),
    };
  },

  async delete() {},
});
const VERIFICATION_INPUT_KEYS = ["connection", "schemas", "expectations", "migrationHead", "grants", "declared"] as const;

