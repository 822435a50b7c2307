/**
 * The differ's sections for every kind besides tables: the word a person uses for each object
 * and the one line that names how two versions differ, e.g.
 *
 *     ~ enum public.mood: + label 'excited'
 *     ~ function public.touch_updated_at(): body changed
 *     ~ sequence public.order_number_seq: increment 1 → 5
 *     ~ default privileges for role app in schema public on tables: + grant reader: SELECT
 *
 * Long text (view definitions, bodies, policy expressions, comments) is never printed whole: the
 * line says which part changed; the preview and the review show the SQL itself.
 */
import { quoteLiteral } from "../identifiers.js";
import type {
  CollationStructure,
  EventTriggerStructure,
  ExtensionStructure,
  FunctionStructure,
  ObjectMap,
  PolicyStructure,
  SchemaStructure,
  SequenceStructure,
  TriggerStructure,
  TypeStructure,
  ViewStructure,
} from "./model.js";

/** How the two sides are named in the report's lines (an empty label adds nothing). */
export interface DiffLabels {
  /** Suffix for what only the second side has. Default `not in migrations`. */
  onlySecond: string;
  /** Suffix for what only the first side has. Default `missing`. */
  onlyFirst: string;
}

/**
 * What the differ needs to know about one kind of object (see model.ts on adding one): the word
 * a person uses for it (which may depend on the object: `enum`, `materialized view`, `procedure`)
 * and, where two versions can differ in parts, the lines that name them.
 */
export interface Section<T> {
  word: (value: T) => string;
  /** The lines for an object both sides have and that differs; a `~ kind name` line when absent or empty. */
  parts?: (name: string, a: T, b: T, labels: DiffLabels, structureOnly: boolean) => string[];
  /** Grants, not structure: left out of adoption's comparison (`structureOnly`). */
  grantsOnly?: boolean;
  /**
   * The table an object belongs to (a trigger's, a policy's, a serial column's sequence): when
   * that table is itself added or removed, the object goes with it and gets no line of its own.
   */
  table?: (key: string, value: T) => string | undefined;
}

/** ` (label)`, or nothing for an empty label. */
export function suffix(label: string): string {
  return label ? ` (${label})` : "";
}

type Change<T> = { only: "first"; first: T } | { only: "second"; second: T } | { only: "both"; first: T; second: T };

/** The union of two records' keys (first's order, then second's new keys), with both values. */
export function keyed<T>(a: Record<string, T>, b: Record<string, T>): [string, Change<T>][] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.map((k): [string, Change<T>] => {
    const x = Object.hasOwn(a, k) ? a[k] : undefined;
    const y = Object.hasOwn(b, k) ? b[k] : undefined;
    if (x === undefined) return [k, { only: "second", second: y as T }];
    if (y === undefined) return [k, { only: "first", first: x }];
    return [k, { only: "both", first: x, second: y }];
  });
}

/** Indexes (a table's, a materialized view's) are schema objects of their own: one line each, not under their relation. */
export function indexLines(a: Record<string, string>, b: Record<string, string>, labels: DiffLabels): string[] {
  const out: string[] = [];
  for (const [index, change] of keyed(a, b)) {
    if (change.only === "second") out.push(`+ index ${index}${suffix(labels.onlySecond)}`);
    else if (change.only === "first") out.push(`- index ${index}${suffix(labels.onlyFirst)}`);
    else if (change.first !== change.second) out.push(`~ index ${index}: ${change.first} → ${change.second}`);
  }
  return out;
}

/** How one property is named and shown: `long` ones say only that they changed. */
type Property<T> = { key: keyof T; name: string; long?: true; flag?: true };

const show = (v: unknown): string => (v === null || v === undefined ? "none" : Array.isArray(v) ? (v.length ? v.join(", ") : "none") : String(v));

/** The `prop a → b` parts of two versions of an object, in the listed order. */
function propertyChanges<T>(a: T, b: T, props: readonly Property<T>[]): string[] {
  const out: string[] = [];
  for (const p of props) {
    const x = a[p.key];
    const y = b[p.key];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (p.long) out.push(x === undefined || x === null ? `${p.name} added` : y === undefined || y === null ? `${p.name} removed` : `${p.name} changed`);
    else if (p.flag) out.push(`${p.name} ${x ? "on" : "off"} → ${y ? "on" : "off"}`);
    else out.push(`${p.name ? `${p.name} ` : ""}${show(x)} → ${show(y)}`);
  }
  return out;
}

/** `+ name def`, `- name def`, `~ name: a → b` lines for a record of named parts (`constraint`, `attribute`, `grant`). */
function namedParts(word: string, a: Record<string, string>, b: Record<string, string>, labels: DiffLabels, sep = " "): string[] {
  const out: string[] = [];
  for (const [name, change] of keyed(a, b)) {
    if (change.only === "second") out.push(`+ ${word} ${name}${sep}${change.second}${suffix(labels.onlySecond)}`);
    else if (change.only === "first") out.push(`- ${word} ${name}${sep}${change.first}${suffix(labels.onlyFirst)}`);
    else if (change.first !== change.second) out.push(`~ ${word} ${name}: ${change.first} → ${change.second}`);
  }
  return out;
}

/** A section whose objects differ in flat properties, all on one `~ word name: …` line. */
function flat<T>(word: (v: T) => string, props: readonly Property<T>[], extra?: (a: T, b: T, labels: DiffLabels) => string[]): Section<T> {
  return {
    word,
    parts: (name, a, b, labels) => {
      const parts = [...propertyChanges(a, b, props), ...(extra ? extra(a, b, labels) : [])];
      return parts.length ? [`~ ${word(b)} ${name}: ${parts.join(", ")}`] : [];
    },
  };
}

const comment = { key: "comment", name: "comment", long: true } as const;

/** The table of a `name on schema.table` key. */
const tableOfKey = (key: string) => key.slice(key.lastIndexOf(" on ") + 4);

/** An enum's labels: added and removed ones by name (quoted as SQL spells them), or a new order. */
function labelChanges(a: TypeStructure, b: TypeStructure, labels: DiffLabels): string[] {
  const x = a.labels ?? [];
  const y = b.labels ?? [];
  const added = y.filter((l) => !x.includes(l)).map((l) => `+ label ${quoteLiteral(l)}${suffix(labels.onlySecond)}`);
  const removed = x.filter((l) => !y.includes(l)).map((l) => `- label ${quoteLiteral(l)}${suffix(labels.onlyFirst)}`);
  const kept = (list: string[], other: string[]) => list.filter((l) => other.includes(l));
  const reordered = added.length + removed.length === 0 && JSON.stringify(kept(x, y)) !== JSON.stringify(kept(y, x)) ? [`labels ${x.join(", ")} → ${y.join(", ")}`] : [];
  return [...added, ...removed, ...reordered];
}

function withTable<T>(table: (key: string, value: T) => string | undefined, s: Section<T>): Section<T> {
  return { ...s, table };
}

const TYPE_WORD: Record<TypeStructure["kind"], string> = { enum: "enum", domain: "domain", composite: "type" };

const sections = <T extends { [K in Exclude<ObjectMap, "tables">]: Section<never> }>(s: T) => s as unknown as Record<Exclude<ObjectMap, "tables">, Section<unknown>>;

/** The sections of every kind but tables (diff.ts adds those). */
export const OBJECT_PARTS = sections({
  schemas: {
    word: () => "schema",
    parts: (name: string, a: SchemaStructure, b: SchemaStructure, _labels: DiffLabels, structureOnly: boolean) => {
      const parts = propertyChanges(a, b, structureOnly ? [comment] : [{ key: "owner", name: "owner" }, comment]);
      return parts.length ? [`~ schema ${name}: ${parts.join(", ")}`] : [];
    },
  } satisfies Section<SchemaStructure>,
  extensions: flat<ExtensionStructure>(() => "extension", [
    { key: "version", name: "version" },
    { key: "schema", name: "schema" },
  ]),
  collations: flat<CollationStructure>(() => "collation", [
    { key: "provider", name: "provider" },
    { key: "locale", name: "locale" },
    { key: "deterministic", name: "deterministic", flag: true },
  ]),
  types: flat<TypeStructure>(
    (t) => TYPE_WORD[t.kind],
    [
      { key: "kind", name: "kind" },
      { key: "base", name: "base type" },
      { key: "nullable", name: "nullable", flag: true },
      { key: "default", name: "default" },
      comment,
    ],
    (a, b, labels) => [...labelChanges(a, b, labels), ...namedParts("constraint", a.constraints ?? {}, b.constraints ?? {}, labels), ...namedParts("attribute", a.attributes ?? {}, b.attributes ?? {}, labels)],
  ),
  sequences: withTable<SequenceStructure>((_k, s) => (s.ownedBy === null ? undefined : s.ownedBy.slice(0, s.ownedBy.lastIndexOf("."))), flat<SequenceStructure>(() => "sequence", [
    { key: "type", name: "type" },
    { key: "start", name: "start" },
    { key: "increment", name: "increment" },
    { key: "min", name: "min" },
    { key: "max", name: "max" },
    { key: "cycle", name: "cycle", flag: true },
    { key: "ownedBy", name: "owned by" },
    comment,
  ])),
  views: {
    word: (v: ViewStructure) => (v.materialized ? "materialized view" : "view"),
    parts: (name: string, a: ViewStructure, b: ViewStructure, labels: DiffLabels) => {
      const word = b.materialized ? "materialized view" : "view";
      const parts = propertyChanges(a, b, [{ key: "materialized", name: "materialized", flag: true }, { key: "definition", name: "definition", long: true }, comment]);
      // A materialized view's indexes are objects of their own, one line each, as a table's are.
      const indexes = indexLines(a.indexes ?? {}, b.indexes ?? {}, labels);
      return [...(parts.length ? [`~ ${word} ${name}: ${parts.join(", ")}`] : []), ...indexes];
    },
  } satisfies Section<ViewStructure>,
  functions: flat<FunctionStructure>((f) => f.kind, [
    { key: "kind", name: "kind" },
    { key: "returns", name: "returns" },
    { key: "language", name: "language" },
    { key: "volatility", name: "volatility" },
    { key: "securityDefiner", name: "security definer", flag: true },
    { key: "strict", name: "strict", flag: true },
    { key: "config", name: "set" },
    { key: "body", name: "body", long: true },
    comment,
  ]),
  triggers: withTable<TriggerStructure>(tableOfKey, flat<TriggerStructure>(() => "trigger", [
    { key: "definition", name: "definition", long: true },
    { key: "enabled", name: "" },
    comment,
  ])),
  eventTriggers: flat<EventTriggerStructure>(() => "event trigger", [
    { key: "event", name: "event" },
    { key: "function", name: "function" },
    { key: "tags", name: "tags" },
    { key: "enabled", name: "" },
  ]),
  policies: withTable<PolicyStructure>(tableOfKey, flat<PolicyStructure>(() => "policy", [
    { key: "command", name: "command" },
    { key: "permissive", name: "permissive", flag: true },
    { key: "roles", name: "roles" },
    { key: "using", name: "using", long: true },
    { key: "withCheck", name: "with check", long: true },
  ])),
  defaultPrivileges: {
    word: () => "default privileges",
    grantsOnly: true,
    parts: (name: string, a: Record<string, string>, b: Record<string, string>, labels: DiffLabels) => {
      const declared = labels.onlySecond === "not in migrations" ? { ...labels, onlySecond: "not declared" } : labels;
      return namedParts("grant", a, b, declared, ": ").map((l) => `~ default privileges ${name}: ${l}`);
    },
  } satisfies Section<Record<string, string>>,
});
