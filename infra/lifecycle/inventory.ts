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

/** The inventory keyed by `schema.table`, in table order. */
export function inventoryByTable(tables: readonly InventoryTable[]): Record<string, InventoryEntry> {
  return Object.fromEntries(tables.map(({ table, ...rest }) => [table, rest]));
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
