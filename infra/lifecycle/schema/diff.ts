/**
 * The one differ: two {@link SchemaSnapshot}s compared by name, never by position, in one
 * wording, one readable line per differing object, e.g.
 *
 *     + table public.api_usage_metric (not in migrations)
 *     ~ public."bazaar-vid_user": + column nickname text (not in migrations)
 *     - index public.users_email_idx (missing)
 *
 * `+` is what only the second side (live, or after) has, `-` what only the first (declared, or
 * before) has, `~` what both have but differently. Drift, the rehearsal, adoption and the
 * environment diff all use it. Pure, so it is unit-tested without a database.
 */
import { KIND_OF_MAP, withoutUndeclaredKnown } from "./known.js";
import { OBJECT_MAPS, type ColumnStructure, type HistoryEntry, type ObjectMap, type SchemaSnapshot, type TableStructure } from "./model.js";
import { OBJECT_PARTS, indexLines, keyed, suffix, type DiffLabels, type Section } from "./diff-objects.js";

export type { DiffLabels, Section };

/** Labels for drift: the first side is the declared schema, the second the live database. */
export const DRIFT_LABELS: DiffLabels = { onlySecond: "not in migrations", onlyFirst: "missing" };

/** Labels for a change (before → after, e.g. what a migration did): no suffix. */
export const CHANGE_LABELS: DiffLabels = { onlySecond: "", onlyFirst: "" };

/** Options for {@link diffSchemas}. */
export interface CompareOptions {
  labels?: DiffLabels;
  /** Compare the histories too (default true). */
  history?: boolean;
  /**
   * Structure only: owners and grants are not compared (adoption: a hand-made or `create_all`
   * schema differs in those without being a different schema).
   */
  structureOnly?: boolean;
  /**
   * Objects pgstack knows (known.ts: its own schema, another tool's history table). `leave out`
   * (the default): one that only `second` has is not a difference, since `first` is what the
   * migrations declare and none creates it; one they create is compared as usual. `compare`:
   * compared like any other (before/after a run, where a new one is the migration's).
   */
  known?: "leave out" | "compare";
  /**
   * A table's triggers, policies and serial sequences when the table itself is added or removed:
   * `fold` (the default) gives them no line of their own (dropping a table is one difference);
   * `list` names each (a change report, where what a new table comes with is worth reading).
   */
  tableParts?: "fold" | "list";
}

/** Every kind the snapshot holds, in report order (model.ts's OBJECT_MAPS). */
const SECTIONS: Readonly<Record<ObjectMap, Section<unknown>>> = {
  ...OBJECT_PARTS,
  tables: { word: () => KIND_OF_MAP.tables, parts: compareTable as Section<unknown>["parts"] },
};

/**
 * Every difference between `first` (declared, before) and `second` (live, after), one line per
 * object, in a stable order: history first, then each kind by name. Empty when they are equal.
 */
export function diffSchemas(first: SchemaSnapshot, second: SchemaSnapshot, options: CompareOptions = {}): string[] {
  const labels = options.labels ?? DRIFT_LABELS;
  const structureOnly = options.structureOnly === true;
  const live = options.known === "compare" ? second : withoutUndeclaredKnown(second, first);
  const out: string[] = options.history === false ? [] : compareHistory(first.history, live.history, labels);
  for (const map of OBJECT_MAPS) {
    const s = SECTIONS[map];
    if (structureOnly && s.grantsOnly) continue;
    // A snapshot cached before a kind existed has no map for it: nothing of that kind.
    const a = (first[map] ?? {}) as Record<string, unknown>;
    const b = (live[map] ?? {}) as Record<string, unknown>;
    for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(byName)) {
      const x = Object.hasOwn(a, name) ? a[name] : undefined;
      const y = Object.hasOwn(b, name) ? b[name] : undefined;
      // What belongs to a table that is itself added or removed goes with it: one line, the table's.
      const table = s.table && options.tableParts !== "list" ? s.table(name, x ?? y) : undefined;
      const withTable = (side: SchemaSnapshot) => table !== undefined && Object.hasOwn(side.tables ?? {}, table);
      if (x === undefined) {
        if (!(table !== undefined && withTable(live) && !withTable(first))) out.push(`+ ${s.word(y)} ${name}${suffix(labels.onlySecond)}`);
      } else if (y === undefined) {
        if (!(table !== undefined && withTable(first) && !withTable(live))) out.push(`- ${s.word(x)} ${name}${suffix(labels.onlyFirst)}`);
      }
      // Most objects are equal: one walk settles them (snapshots are key-sorted the same way).
      else if (!sameJson(x, y)) {
        const parts = s.parts ? s.parts(name, x, y, labels, structureOnly) : [];
        out.push(...(parts.length || s.parts ? parts : [`~ ${s.word(y)} ${name}`]));
      }
    }
  }
  return out;
}

function compareTable(name: string, a: TableStructure, b: TableStructure, labels: DiffLabels, structureOnly: boolean): string[] {
  const out: string[] = [];
  const at = (s: string) => `~ ${name}: ${s}`;
  if (!structureOnly && a.owner !== b.owner) out.push(at(`owner ${a.owner} → ${b.owner}`));
  if (a.rowSecurity !== b.rowSecurity) out.push(at(`row security ${a.rowSecurity ?? "off"} → ${b.rowSecurity ?? "off"}`));
  if (a.partitionKey !== b.partitionKey) out.push(at(`partition key ${a.partitionKey ?? "none"} → ${b.partitionKey ?? "none"}`));
  if (a.partitionOf !== b.partitionOf || a.partitionBound !== b.partitionBound) {
    const of = (t: TableStructure) => (t.partitionOf ? `partition of ${t.partitionOf} ${t.partitionBound ?? ""}`.trim() : "not a partition");
    out.push(at(`${of(a)} → ${of(b)}`));
  }
  if (a.comment !== b.comment) out.push(at(commentChange(a.comment, b.comment)));
  for (const [col, change] of keyed(a.columns, b.columns)) {
    if (change.only === "second") out.push(at(`+ column ${col} ${columnText(change.second)}${suffix(labels.onlySecond)}`));
    else if (change.only === "first") out.push(at(`- column ${col} ${columnText(change.first)}${suffix(labels.onlyFirst)}`));
    else {
      const parts = columnChanges(change.first, change.second);
      if (parts.length) out.push(at(`~ column ${col}: ${parts.join(", ")}`));
    }
  }
  for (const [con, change] of keyed(a.constraints, b.constraints)) {
    if (change.only === "second") out.push(at(`+ constraint ${con} ${change.second.definition}${suffix(labels.onlySecond)}`));
    else if (change.only === "first") out.push(at(`- constraint ${con} ${change.first.definition}${suffix(labels.onlyFirst)}`));
    else if (change.first.definition !== change.second.definition) out.push(at(`~ constraint ${con}: ${change.first.definition} → ${change.second.definition}`));
  }
  const grantOnlySecond = labels.onlySecond === DRIFT_LABELS.onlySecond ? "not declared" : labels.onlySecond;
  for (const [grantee, change] of structureOnly ? [] : keyed(a.grants, b.grants)) {
    if (change.only === "second") out.push(at(`+ grant ${grantee}: ${change.second}${suffix(grantOnlySecond)}`));
    else if (change.only === "first") out.push(at(`- grant ${grantee}: ${change.first}${suffix(labels.onlyFirst)}`));
    else if (change.first !== change.second) out.push(at(`~ grant ${grantee}: ${change.first} → ${change.second}`));
  }
  out.push(...indexLines(a.indexes, b.indexes, labels));
  return out;
}

/** `text`, `integer not null default 0`, `bigint not null identity`, `integer generated always as (a * 2) stored`. */
export function columnText(c: ColumnStructure): string {
  const collate = c.collation ? ` collate ${c.collation}` : "";
  return `${c.type}${collate}${c.nullable ? "" : " not null"}${defaultText(c)}`;
}

/** The default part of a column, as DDL spells it (empty when there is none). */
function defaultText(c: ColumnStructure): string {
  if (c.identity) return c.identity === "always" ? " identity" : " identity by default";
  if (c.generated) return ` generated always as (${c.default ?? ""}) ${c.generated}`;
  return c.default === null ? "" : ` default ${c.default}`;
}

function columnChanges(a: ColumnStructure, b: ColumnStructure): string[] {
  const out: string[] = [];
  if (a.type !== b.type) out.push(`type ${a.type} → ${b.type}`);
  if (a.collation !== b.collation) out.push(`collation ${a.collation ?? "default"} → ${b.collation ?? "default"}`);
  if (a.nullable !== b.nullable) out.push(a.nullable ? "nullable → not null" : "not null → nullable");
  if (a.default !== b.default || a.identity !== b.identity || a.generated !== b.generated) {
    out.push(`default ${defaultText(a).trim().replace(/^default /, "") || "none"} → ${defaultText(b).trim().replace(/^default /, "") || "none"}`);
  }
  if (a.comment !== b.comment) out.push(commentChange(a.comment, b.comment));
  return out;
}

/** `comment added`, `comment removed`, `comment changed`: comments can be long, so never quoted whole. */
export function commentChange(a: string | undefined, b: string | undefined): string {
  return a === undefined ? "comment added" : b === undefined ? "comment removed" : "comment changed";
}

function compareHistory(a: readonly HistoryEntry[], b: readonly HistoryEntry[], labels: DiffLabels): string[] {
  const out: string[] = [];
  const first = new Map(a.map((h) => [h.id, h]));
  const second = new Map(b.map((h) => [h.id, h]));
  const ids = [...new Set([...first.keys(), ...second.keys()])].sort((x, y) => x - y);
  const drift = labels.onlySecond === DRIFT_LABELS.onlySecond && labels.onlyFirst === DRIFT_LABELS.onlyFirst;
  for (const id of ids) {
    const x = first.get(id);
    const y = second.get(id);
    if (!x && y) out.push(`+ migration ${y.name}${suffix(drift ? "applied, but no migration file has this version" : labels.onlySecond)}`);
    else if (x && !y) out.push(`- migration ${x.name}${suffix(drift ? "not applied" : labels.onlyFirst)}`);
    else if (x && y) {
      if (x.name !== y.name) out.push(`~ migration version ${id}: ${x.name} → ${y.name}`);
      else if (x.checksum !== y.checksum) out.push(`~ migration ${x.name}: checksum ${x.checksum.slice(0, 12)}… → ${y.checksum.slice(0, 12)}…`);
    }
  }
  return out;
}

/** By name as written without quotes (`public."b-x"` sorts under b), then by code unit: the same on every machine. */
function byName(a: string, b: string): number {
  return cmp(a.replaceAll('"', ""), b.replaceAll('"', "")) || cmp(a, b);
}

/**
 * `JSON.stringify(a) === JSON.stringify(b)` for plain JSON data (what snapshots hold), key order
 * included, without building the two strings: on 2,000 tables that was most of the comparison.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => sameJson(v, b[i]));
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const ka = Object.keys(x);
  const kb = Object.keys(y);
  // Snapshots hold no undefined values: the same keys in the same order settle it in one loop.
  if (ka.length === kb.length) {
    let i = 0;
    while (i < ka.length && ka[i] === kb[i] && sameJson(x[ka[i] as string], y[ka[i] as string])) i++;
    if (i === ka.length) return true;
  }
  // JSON leaves out properties whose value is undefined: compare what it would write.
  const da = ka.filter((k) => x[k] !== undefined);
  const db = kb.filter((k) => y[k] !== undefined);
  if (da.length !== db.length) return false;
  return da.every((k, i) => k === db[i] && sameJson(x[k], y[k]));
}

/** By code unit, so the order is the same on every machine. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A drift report split by what the stack config accepts. */
export interface DriftVerdict {
  /** Lines the config does not accept: these block a stack whose policy refuses drift. */
  unaccepted: string[];
  /** Lines the config accepts. */
  accepted: string[];
  /** Accepted lines that no longer occur: they can be removed from the config. */
  stale: string[];
}

/** Splits `report` by the exact lines in `accept`. */
export function judgeDrift(report: readonly string[], accept: readonly string[]): DriftVerdict {
  const ok = new Set(accept.map((l) => l.trim()));
  const seen = new Set(report);
  return {
    unaccepted: report.filter((l) => !ok.has(l)),
    accepted: report.filter((l) => ok.has(l)),
    stale: [...ok].filter((l) => !seen.has(l)),
  };
}
