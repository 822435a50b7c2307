/**
 * The inventory the stack outputs show, per table (owner, rows, columns, keys, grants), and the
 * drift status of states written before the declared schema. One rule each, for the
 * SchemaVerification provider and the review alike.
 */
import { displayIdent, displayQualified } from "./identifiers.js";
import type { Inventory } from "./introspect.js";

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

/** One table of the keyed inventory: {@link InventoryTable} without its name (the key). */
export type InventoryEntry = Omit<InventoryTable, "table">;

/** The inventory keyed by `schema.table`, in table order (the stack outputs' form). */
export function inventoryByTable(tables: readonly InventoryTable[]): Record<string, InventoryEntry> {
  return Object.fromEntries(tables.map(({ table, ...rest }) => [table, rest]));
}

/**
 * The inventory as SchemaVerification's state keeps it: keyed by `schema.table`, each entry one
 * JSON text. The engine carries every nested value of a state as a protobuf value of its own, to
 * each preview's program and provider; one text per table costs a tenth of that. `pulumi refresh`
 * still shows a change as an object diff (`~ public.users: (json) { ~ columns: … }`): the CLI
 * decodes JSON texts before it diffs them.
 */
export type StoredInventory = Record<string, string>;

/** The inventory in the form {@link StoredInventory} describes. */
export function inventoryForState(tables: readonly InventoryTable[]): StoredInventory {
  return Object.fromEntries(tables.map(({ table, ...rest }) => [table, JSON.stringify(rest)]));
}

/**
 * The inventory from a SchemaVerification's state, in each form a state may hold: keyed JSON
 * texts ({@link StoredInventory}), keyed objects (states written before those), or a list (older).
 */
export function inventoryFromState(inv: StoredInventory | Record<string, InventoryEntry> | InventoryTable[] | undefined): InventoryTable[] {
  if (!inv) return [];
  if (Array.isArray(inv)) return inv;
  return Object.entries(inv).map(([table, t]) => ({ table, ...(typeof t === "string" ? (JSON.parse(t) as InventoryEntry) : t) }));
}

/** The compact, sorted inventory the stack outputs show. */
export function inventoryOf(inv: Inventory): InventoryTable[] {
  return inv.tables.map((t) => ({
    table: displayQualified(t.schema, t.name),
    owner: t.owner,
    rows: t.exactRows ?? t.estimatedRows,
    rowsExact: t.exactRows !== undefined,
    columns: t.columns.map((c) => `${c.name} ${c.type}${c.nullable ? "" : " not null"}${c.default !== null ? ` default ${c.default}` : ""}`),
    primaryKey: t.primaryKey,
    foreignKeys: t.foreignKeys.map(
      (f) => `${f.columns.map(displayIdent).join(", ")} -> ${displayQualified(f.references.schema, f.references.table)}(${f.references.columns.map(displayIdent).join(", ")}) on delete ${f.onDelete}`,
    ),
    grants: t.grants,
  }));
}

/**
 * The drift status of a state from before drift was measured against the migrations: whether
 * the structure is still what the last `up` verified. The next `up` measures it properly (with
 * the one differ, against the declared schema).
 */
export function legacyDriftStatus(fingerprint: string, verifiedFingerprint: string): string {
  return fingerprint === verifiedFingerprint
    ? "in sync"
    : "drifted: the structure changed since the last up (this state predates the comparison with the migrations: run `pulumi up` to measure it)";
}
