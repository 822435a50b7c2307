/**
 * Structural comparison for adoption: two inventories (a live database and a shadow built from
 * the migrations) compared object by object, by name. Tables, columns (type, nullability,
 * default), the primary key, foreign keys, unique/check/exclusion constraints and indexes count;
 * owners, grants, row counts and column order do not (a hand-made or `create_all` schema differs
 * in those without being a different schema). Pure, so it is unit-tested without a database.
 */
import type { ColumnInfo, ForeignKeyInfo, TableInfo } from "./introspect.js";

/** One difference, as a line a person reads: `~ public.users: + column nickname text`. */
export type StructureDifference = string;

/**
 * The differences between `live` and `declared`, sorted by object. `+` is in the database and
 * not in the declared schema, `-` the reverse, `~` both with different definitions. `label`
 * names the declared side in messages (e.g. `0003_add_teams`).
 */
export function compareStructures(live: readonly TableInfo[], declared: readonly TableInfo[], label: string): StructureDifference[] {
  const out: StructureDifference[] = [];
  const liveByName = byKey(live, (t) => `${t.schema}.${t.name}`);
  const declaredByName = byKey(declared, (t) => `${t.schema}.${t.name}`);
  for (const name of sortedUnion(liveByName, declaredByName)) {
    const l = liveByName.get(name);
    const d = declaredByName.get(name);
    if (l && !d) out.push(`+ table ${name} (in the database; no migration up to ${label} creates it)`);
    else if (d && !l) out.push(`- table ${name} (created by the migrations up to ${label}; the database lacks it)`);
    else if (l && d) out.push(...compareTable(l, d, label).map((x) => `~ ${name}: ${x}`));
  }
  return out;
}

function compareTable(l: TableInfo, d: TableInfo, label: string): string[] {
  const out: string[] = [];
  const lc = byKey(l.columns, (c) => c.name);
  const dc = byKey(d.columns, (c) => c.name);
  for (const col of sortedUnion(lc, dc)) {
    const a = lc.get(col);
    const b = dc.get(col);
    if (a && !b) out.push(`+ column ${describeColumn(a)} (not in the migrations up to ${label})`);
    else if (b && !a) out.push(`- column ${describeColumn(b)} (missing in the database)`);
    else if (a && b) {
      if (a.type !== b.type) out.push(`column ${col}: type ${a.type} in the database, ${b.type} in the migrations`);
      if (a.nullable !== b.nullable) out.push(`column ${col}: ${nullability(a)} in the database, ${nullability(b)} in the migrations`);
      if (a.default !== b.default) out.push(`column ${col}: default ${a.default ?? "none"} in the database, ${b.default ?? "none"} in the migrations`);
    }
  }
  const pk = (t: TableInfo) => (t.primaryKey.length ? `(${t.primaryKey.join(", ")})` : "none");
  if (pk(l) !== pk(d)) out.push(`primary key ${pk(l)} in the database, ${pk(d)} in the migrations`);
  out.push(...compareNamed("foreign key", byKey(l.foreignKeys, (f) => f.name, describeForeignKey), byKey(d.foreignKeys, (f) => f.name, describeForeignKey)));
  const constraint = (c: string) => [c.slice(0, c.indexOf(": ")), c.slice(c.indexOf(": ") + 2)] as const;
  out.push(...compareNamed("constraint", new Map(l.constraints.map(constraint)), new Map(d.constraints.map(constraint))));
  out.push(...compareNamed("index", byKey(l.indexes, (i) => i.name, (i) => i.definition), byKey(d.indexes, (i) => i.name, (i) => i.definition)));
  return out;
}

/** `+ kind name: def`, `- kind name: def` or `kind name: A in the database, B in the migrations`. */
function compareNamed(kind: string, live: Map<string, string>, declared: Map<string, string>): string[] {
  const out: string[] = [];
  for (const n of sortedUnion(live, declared)) {
    const a = live.get(n);
    const b = declared.get(n);
    if (a !== undefined && b === undefined) out.push(`+ ${kind} ${n}: ${a} (not in the migrations)`);
    else if (b !== undefined && a === undefined) out.push(`- ${kind} ${n}: ${b} (missing in the database)`);
    else if (a !== b) out.push(`${kind} ${n}: ${a} in the database, ${b} in the migrations`);
  }
  return out;
}

/** `nickname text NOT NULL DEFAULT ''::text`. */
export function describeColumn(c: ColumnInfo): string {
  return `${c.name} ${c.type}${c.nullable ? "" : " NOT NULL"}${c.default === null ? "" : c.default === "identity" ? " GENERATED AS IDENTITY" : ` DEFAULT ${c.default}`}`;
}

function nullability(c: ColumnInfo): string {
  return c.nullable ? "nullable" : "NOT NULL";
}

function describeForeignKey(f: ForeignKeyInfo): string {
  return `(${f.columns.join(", ")}) -> ${f.references.schema}.${f.references.table}(${f.references.columns.join(", ")}) on delete ${f.onDelete}`;
}

function byKey<T, V = T>(items: readonly T[], key: (t: T) => string, value?: (t: T) => V): Map<string, V> {
  return new Map(items.map((t) => [key(t), value ? value(t) : (t as unknown as V)]));
}

function sortedUnion(a: Map<string, unknown>, b: Map<string, unknown>): string[] {
  return [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}
