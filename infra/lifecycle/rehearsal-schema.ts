/**
 * What a migration changed in the structure, as lines people read in a preview:
 * `+ table public.x`, `- table public.old`, `~ public.y: + column z text`.
 */
import { displayQualified } from "./identifiers.js";
import type { ColumnInfo, Inventory, TableInfo } from "./introspect.js";

/** One line per structural difference between `before` and `after`, tables in name order. */
export function describeSchemaChange(before: Inventory, after: Inventory): string[] {
  if (before.fingerprint === after.fingerprint && sameOwners(before, after)) return [];
  const key = (t: TableInfo) => JSON.stringify([t.schema, t.name]);
  const b = new Map(before.tables.map((t) => [key(t), t]));
  const a = new Map(after.tables.map((t) => [key(t), t]));
  const out: string[] = [];
  for (const t of after.tables) {
    const old = b.get(key(t));
    const name = displayQualified(t.schema, t.name);
    if (!old) out.push(`+ table ${name} (${t.columns.map(columnText).join(", ")})`);
    else out.push(...tableChanges(old, t).map((c) => `~ ${name}: ${c}`));
  }
  for (const t of before.tables) if (!a.has(key(t))) out.push(`- table ${displayQualified(t.schema, t.name)}`);
  return out;
}

function sameOwners(before: Inventory, after: Inventory): boolean {
  return JSON.stringify(before.tables.map((t) => t.owner)) === JSON.stringify(after.tables.map((t) => t.owner));
}

function columnText(c: ColumnInfo): string {
  return `${displayQualified(c.name)} ${c.type}${c.nullable ? "" : " not null"}${c.default !== null ? ` default ${c.default}` : ""}`;
}

/** The changes inside one table, without the table's name. */
function tableChanges(b: TableInfo, a: TableInfo): string[] {
  const out: string[] = [];
  const cb = new Map(b.columns.map((c) => [c.name, c]));
  const ca = new Map(a.columns.map((c) => [c.name, c]));
  for (const c of a.columns) {
    const old = cb.get(c.name);
    const col = displayQualified(c.name);
    if (!old) {
      out.push(`+ column ${columnText(c)}`);
      continue;
    }
    if (old.type !== c.type) out.push(`column ${col} type ${old.type} -> ${c.type}`);
    if (old.nullable !== c.nullable) out.push(`column ${col} ${c.nullable ? "drop not null" : "set not null"}`);
    if (old.default !== c.default) out.push(c.default === null ? `column ${col} drop default` : `column ${col} default ${c.default}`);
  }
  for (const c of b.columns) if (!ca.has(c.name)) out.push(`- column ${displayQualified(c.name)}`);
  if (b.owner !== a.owner) out.push(`owner ${b.owner} -> ${a.owner}`);
  if (b.primaryKey.join() !== a.primaryKey.join()) {
    out.push(a.primaryKey.length ? `primary key (${a.primaryKey.map((c) => displayQualified(c)).join(", ")})` : "- primary key");
  }
  const fk = (f: TableInfo["foreignKeys"][number]) =>
    `foreign key ${displayQualified(f.name)} (${f.columns.map((c) => displayQualified(c)).join(", ")}) -> ` +
    `${displayQualified(f.references.schema, f.references.table)}(${f.references.columns.map((c) => displayQualified(c)).join(", ")}) on delete ${f.onDelete}`;
  out.push(...listChanges(b.foreignKeys.map(fk), a.foreignKeys.map(fk)));
  out.push(...listChanges(b.constraints.map((c) => `constraint ${c}`), a.constraints.map((c) => `constraint ${c}`)));
  out.push(...listChanges(b.indexes.filter((i) => !i.primary).map((i) => `index ${i.definition}`), a.indexes.filter((i) => !i.primary).map((i) => `index ${i.definition}`)));
  return out;
}

/** `+ x` for what `after` adds, `- x` for what it lost. */
function listChanges(before: readonly string[], after: readonly string[]): string[] {
  const b = new Set(before);
  const a = new Set(after);
  return [...after.filter((x) => !b.has(x)).map((x) => `+ ${x}`), ...before.filter((x) => !a.has(x)).map((x) => `- ${x}`)];
}
