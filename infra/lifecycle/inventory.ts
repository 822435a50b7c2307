/**
 * The inventory the stack outputs show, per table (owner, rows, columns, keys, grants), and the
 * drift of states written before the declared schema, described against it. One rule each, for
 * the SchemaVerification provider and the review alike.
 */
import { displayIdent, displayQualified } from "./identifiers.js";
import type { Inventory } from "./introspect.js";
import type { ManagedSchema } from "./reset.js";

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
