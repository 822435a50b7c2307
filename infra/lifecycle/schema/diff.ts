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
import { withoutUndeclaredKnown, type ObjectKind } from "./known.js";
import type { ColumnStructure, HistoryEntry, SchemaSnapshot, TableStructure } from "./model.js";

/** How the two sides are named in the report's lines (an empty label adds nothing). */
export interface DiffLabels {
  /** Suffix for what only the second side has. Default `not in migrations`. */
  onlySecond: string;
  /** Suffix for what only the first side has. Default `missing`. */
  onlyFirst: string;
}

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
}

/** What the differ needs to know about one kind of object (see model.ts on adding one). */
interface Section<T> {
  kind: ObjectKind;
  of: (s: SchemaSnapshot) => Record<string, T>;
  /** The lines for an object both sides have and that differs; a `~ kind name` line when absent. */
  parts?: (name: string, a: T, b: T, labels: DiffLabels, structureOnly: boolean) => string[];
}

const section = <T>(s: Section<T>): Section<unknown> => s as Section<unknown>;

/** Every kind the snapshot holds, in report order. */
const SECTIONS: readonly Section<unknown>[] = [section<TableStructure>({ kind: "table", of: (s) => s.tables, parts: compareTable })];

/**
 * Every difference between `first` (declared, before) and `second` (live, after), one line per
 * object, in a stable order: history first, then each kind by name. Empty when they are equal.
 */
export function diffSchemas(first: SchemaSnapshot, second: SchemaSnapshot, options: CompareOptions = {}): string[] {
  const labels = options.labels ?? DRIFT_LABELS;
  const structureOnly = options.structureOnly === true;
  const live = options.known === "compare" ? second : withoutUndeclaredKnown(second, first);
  const out: string[] = options.history === false ? [] : compareHistory(first.history, live.history, labels);
  for (const s of SECTIONS) {
    const a = s.of(first);
    const b = s.of(live);
    for (const name of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(byName)) {
      const x = Object.hasOwn(a, name) ? a[name] : undefined;
      const y = Object.hasOwn(b, name) ? b[name] : undefined;
      if (x === undefined) out.push(`+ ${s.kind} ${name}${suffix(labels.onlySecond)}`);
      else if (y === undefined) out.push(`- ${s.kind} ${name}${suffix(labels.onlyFirst)}`);
      // Most objects are equal: one string comparison settles them (snapshots are key-sorted the same way).
      else if (JSON.stringify(x) !== JSON.stringify(y)) out.push(...(s.parts ? s.parts(name, x, y, labels, structureOnly) : [`~ ${s.kind} ${name}`]));
    }
  }
  return out;
}

function suffix(label: string): string {
  return label ? ` (${label})` : "";
}

function compareTable(name: string, a: TableStructure, b: TableStructure, labels: DiffLabels, structureOnly: boolean): string[] {
  const out: string[] = [];
  const at = (s: string) => `~ ${name}: ${s}`;
  if (!structureOnly && a.owner !== b.owner) out.push(at(`owner ${a.owner} → ${b.owner}`));
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
  // Indexes are schema objects of their own: one line each, not under the table.
  for (const [index, change] of keyed(a.indexes, b.indexes)) {
    if (change.only === "second") out.push(`+ index ${index}${suffix(labels.onlySecond)}`);
    else if (change.only === "first") out.push(`- index ${index}${suffix(labels.onlyFirst)}`);
    else if (change.first !== change.second) out.push(`~ index ${index}: ${change.first} → ${change.second}`);
  }
  return out;
}

/** `text`, `integer not null default 0`, `bigint not null identity`. */
export function columnText(c: ColumnStructure): string {
  const def = c.default === null ? "" : c.default === "identity" ? " identity" : ` default ${c.default}`;
  return `${c.type}${c.nullable ? "" : " not null"}${def}`;
}

function columnChanges(a: ColumnStructure, b: ColumnStructure): string[] {
  const out: string[] = [];
  if (a.type !== b.type) out.push(`type ${a.type} → ${b.type}`);
  if (a.nullable !== b.nullable) out.push(a.nullable ? "nullable → not null" : "not null → nullable");
  if (a.default !== b.default) out.push(`default ${a.default ?? "none"} → ${b.default ?? "none"}`);
  return out;
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

type Change<T> = { only: "first"; first: T } | { only: "second"; second: T } | { only: "both"; first: T; second: T };

/** The union of two records' keys (first's order, then second's new keys), with both values. */
function keyed<T>(a: Record<string, T>, b: Record<string, T>): [string, Change<T>][] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.map((k): [string, Change<T>] => {
    const x = Object.hasOwn(a, k) ? a[k] : undefined;
    const y = Object.hasOwn(b, k) ? b[k] : undefined;
    if (x === undefined) return [k, { only: "second", second: y as T }];
    if (y === undefined) return [k, { only: "first", first: x }];
    return [k, { only: "both", first: x, second: y }];
  });
}

/** By name as written without quotes (`public."b-x"` sorts under b), then by code unit: the same on every machine. */
function byName(a: string, b: string): number {
  return cmp(a.replaceAll('"', ""), b.replaceAll('"', "")) || cmp(a, b);
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
