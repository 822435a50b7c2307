/**
 * The ER diagram of the schema after a PR: a Mermaid `erDiagram` with every table's key columns,
 * enum columns (with their labels) and foreign keys, added and changed tables marked. A large schema is cut to the tables the PR
 * touches and their direct neighbours.
 */
import type { TableInfo } from "../lifecycle/introspect.js";
import { knownTable } from "../lifecycle/schema/known.js";
import type { TypeStructure } from "../lifecycle/schema/model.js";
import type { DiagramRelation, DiagramTable, SchemaDiagram } from "./model.js";

/** Options of {@link buildDiagram}. */
export interface DiagramOptions {
  /** Above this many tables only touched tables and their neighbours are drawn. Default 30. */
  maxTables?: number;
  /** The schema's types (the snapshot's `types`): columns of an enum type are drawn with their labels. */
  types?: Readonly<Record<string, TypeStructure>>;
}

const key = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;

/** A table's structure as one comparable string (row counts, owner and grants aside). */
function structure(t: TableInfo): string {
  return JSON.stringify([
    t.columns.map((c) => [c.name, c.type, c.nullable, c.default]),
    t.primaryKey,
    t.foreignKeys.map((f) => [f.columns, f.references, f.onDelete]),
    t.constraints,
    t.indexes.map((i) => i.definition),
  ]);
}

/**
 * Builds the diagram of `after`, marking tables that are new or different compared with
 * `before` (the live schema; empty for a database that does not exist yet).
 */
export function buildDiagram(before: readonly TableInfo[], after: readonly TableInfo[], options: DiagramOptions = {}): SchemaDiagram {
  const maxTables = options.maxTables ?? 30;
  const types = options.types ?? {};
  // An enum column's type as format_type spells it (`public.mood`) is the type's key; arrays of enums stay plain.
  const labelsOf = (type: string): string[] | undefined => (Object.hasOwn(types, type) && types[type]?.kind === "enum" ? types[type].labels : undefined);
  const old = new Map(before.map((t) => [key(t), t]));
  const afterKeys = new Set(after.map(key));
  const all: DiagramTable[] = after.map((t) => {
    const prev = old.get(key(t));
    const fkCols = new Set(t.foreignKeys.flatMap((f) => f.columns));
    const pk = new Set(t.primaryKey);
    return {
      id: key(t),
      status: !prev ? "added" : structure(prev) !== structure(t) ? "changed" : "unchanged",
      columns: t.columns
        .filter((c) => pk.has(c.name) || fkCols.has(c.name) || labelsOf(c.type) !== undefined)
        .map((c) => {
          const labels = labelsOf(c.type);
          return {
            name: c.name,
            type: c.type,
            key: [...(pk.has(c.name) ? (["PK"] as const) : []), ...(fkCols.has(c.name) ? (["FK"] as const) : [])],
            ...(labels ? { labels } : {}),
          };
        }),
    };
  });
  const notNull = new Map(after.map((t) => [key(t), new Set(t.columns.filter((c) => !c.nullable).map((c) => c.name))]));
  const allRelations: DiagramRelation[] = after.flatMap((t) =>
    t.foreignKeys.map((f) => ({
      from: key(t),
      to: `${f.references.schema}.${f.references.table}`,
      columns: f.columns,
      required: f.columns.every((c) => notNull.get(key(t))?.has(c)),
    })),
  );
  // What no migration creates and pgstack knows (another tool's history table) is not removed by the PR.
  const removed = before.filter((t) => !afterKeys.has(key(t)) && knownTable(t.schema, t.name) === undefined).map(key);

  let tables = all;
  let partial: SchemaDiagram["partial"];
  if (all.length > maxTables) {
    const touched = new Set(all.filter((t) => t.status !== "unchanged").map((t) => t.id));
    const shown = new Set(touched);
    for (const r of allRelations) {
      if (touched.has(r.from)) shown.add(r.to);
      if (touched.has(r.to)) shown.add(r.from);
    }
    tables = all.filter((t) => shown.has(t.id));
    partial = { shown: tables.length, total: all.length };
  }
  const ids = new Set(tables.map((t) => t.id));
  const relations = allRelations.filter((r) => ids.has(r.from) && ids.has(r.to));
  return { tables, relations, removed, partial, mermaid: tables.length > 0 ? toMermaid(tables, relations) : "" };
}

/** Mermaid names: letters, digits and `_` only, unique; the real name goes in the entity's label. */
function entityNames(tables: readonly DiagramTable[]): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const t of tables) {
    const [schema = "", table = ""] = splitId(t.id);
    let base = word(schema === "public" ? table : `${schema}__${table}`);
    if (!/^[A-Za-z_]/.test(base)) base = `t_${base}`;
    let name = base;
    for (let i = 2; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    names.set(t.id, name);
  }
  return names;
}

/** `schema.table` → [schema, table] (the schema never holds a dot in pgstack's config). */
function splitId(id: string): [string, string] {
  const dot = id.indexOf(".");
  return [id.slice(0, dot), id.slice(dot + 1)];
}

/** Anything outside Mermaid's identifier characters becomes `_`. */
function word(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, "_") || "_";
}

/** A label inside `"…"`: Mermaid has no escape for `"`, so it becomes `'`. */
function label(s: string): string {
  return s.replace(/"/g, "'").replace(/[\r\n]+/g, " ");
}

/** The display name of a table: plain for `public`, schema-qualified otherwise. */
export function displayName(id: string): string {
  const [schema, table] = splitId(id);
  return schema === "public" ? table : id;
}

/** Mermaid's attribute type: a word, where `(`, `)`, `[`, `]` and `-` are allowed too. */
function attrType(type: string): string {
  return type.replace(/[^A-Za-z0-9_()[\]-]/g, "_");
}

/** The `erDiagram` source. Added and changed tables carry a marker in their label and a class. */
export function toMermaid(tables: readonly DiagramTable[], relations: readonly DiagramRelation[]): string {
  const names = entityNames(tables);
  const lines = ["erDiagram"];
  for (const t of tables) {
    const mark = t.status === "added" ? " (added)" : t.status === "changed" ? " (changed)" : "";
    const name = names.get(t.id) ?? word(t.id);
    const head = `  ${name}["${label(displayName(t.id) + mark)}"]`;
    if (t.columns.length === 0) {
      lines.push(`${head} {`, "  }");
      continue;
    }
    lines.push(`${head} {`);
    for (const c of t.columns) {
      // An enum column: its type's own name, and its labels as the attribute's comment.
      const type = c.labels ? attrType(displayName(c.type)) : attrType(c.type);
      const comment = c.labels ? ` "${label(`enum: ${c.labels.join(", ")}`)}"` : "";
      lines.push(`    ${type} ${word(c.name)}${c.key.length ? ` ${c.key.join(", ")}` : ""}${comment}`);
    }
    lines.push("  }");
  }
  for (const r of relations) {
    const from = names.get(r.from);
    const to = names.get(r.to);
    if (!from || !to) continue;
    lines.push(`  ${to} ${r.required ? "||" : "|o"}--o{ ${from} : "${label(r.columns.join(", "))}"`);
  }
  const added = tables.filter((t) => t.status === "added").map((t) => names.get(t.id));
  const changed = tables.filter((t) => t.status === "changed").map((t) => names.get(t.id));
  if (added.length) lines.push("  classDef added fill:#dafbe1,stroke:#1a7f37", `  class ${added.join(",")} added`);
  if (changed.length) lines.push("  classDef changed fill:#fff8c5,stroke:#9a6700", `  class ${changed.join(",")} changed`);
  return lines.join("\n");
}
