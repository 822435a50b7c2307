/**
 * The batch model the rules share: the planned checks, the table states through the batch
 * (live, created here, gone), and how a check resolves against them.
 */
import type { Migration } from "../source.js";
import type { Statement } from "../sql.js";
import { lineColumnAt } from "../text.js";
import { quoteIdent } from "../identifiers.js";
import type { SourceText } from "./source-text.js";
import type { FindingClass, RowCount } from "./types.js";

/** A table as a migration names it. */
export interface TableRef {
  schema?: string;
  name: string;
}

/** What to count on the live database for one check. */
export type Measurement =
  | { kind: "rows"; table: TableRef }
  | { kind: "nonNull"; table: TableRef; column: string }
  | { kind: "nulls"; table: TableRef; column: string }
  | { kind: "orphans"; table: TableRef; columns: string[]; parent: TableRef; parentColumns?: string[]; parentEmpty: boolean }
  | { kind: "duplicates"; table: TableRef; keys: string[]; where?: string; nullsNotDistinct: boolean }
  | { kind: "castFailures"; table: TableRef; alias: string; targets: string; where?: string };

/** One check found by a rule, before its rows are counted. */
export interface PlannedCheck {
  rule: string;
  class: FindingClass;
  migration: Migration;
  /** Index of the statement in its file (for acknowledgements). */
  statement: number;
  line: number;
  column: number;
  /** The table concerned; absent for findings about other objects (see `subject`). */
  table?: TableRef;
  /** The object concerned when it is not a table (a role, a database, a server): what an acknowledgement names. */
  subject?: string;
  /** The one-line message, given the rows text (`621 rows`, `~1.2M rows`, or `rows not counted`). */
  describe: (rows: string) => string;
  safeAlternative: string;
  measure?: Measurement;
  /** Rows known without a query (a table created in this batch starts empty). */
  known?: RowCount;
  /** Why rows are not counted, or why the count is only a guide. */
  note?: string;
  stale?: boolean;
}

/** A statement with the file position it starts at, for acknowledgements. */
export interface PlannedStatement {
  migration: Migration;
  index: number;
  /** UTF-16 offsets of the statement's start and end, and of the end of the previous one. */
  start: number;
  end: number;
  previousEnd: number;
}

export type Node = { [key: string]: any };
export type TableState = { kind: "live"; live: TableRef; writtenAt?: string } | { kind: "new"; filledAt?: string } | { kind: "gone" };

/** `schema.name` or `name`, as written (unquoted: the form acknowledgements name). */
export function displayTable(t: TableRef): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}

/** The table as SQL would name it: quoted only when it must be (`"bazaar-vid_exports"`). */
export function sqlTable(t: TableRef): string {
  const q = (n: string) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : quoteIdent(n));
  return t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name);
}

export const keyOf = (t: TableRef) => `${t.schema ?? "public"}.${t.name}`;
export const refOf = (rv: Node): TableRef => (rv["schemaname"] ? { schema: rv["schemaname"], name: rv["relname"] } : { name: rv["relname"] });
export const names = (list: Node[] | undefined): string[] => (list ?? []).map((n) => n["String"]?.["sval"] ?? "").filter((s) => s !== "");

export interface Ctx {
  m: Migration;
  st: Statement;
  index: number;
  text: SourceText;
  /** `file:line` of the statement, for notes. */
  where: string;
  checks: PlannedCheck[];
  stateOf: (t: TableRef) => TableState;
  state: Map<string, TableState>;
  /** Tables whose rows an INSERT … SELECT copied elsewhere earlier in the batch: where, and into what. */
  copies: Map<string, string>;
}

/** Adds a check on `table`, resolving the batch state: empty (created here), live (counted), or filled here (not counted). */
export function add(ctx: Ctx, c: Omit<PlannedCheck, "migration" | "statement" | "line" | "column" | "measure"> & { measure?: Measurement }, at?: number): void {
  const pos = lineColumnAt(ctx.m.sql, at ?? ctx.st.offset);
  const check: PlannedCheck = { ...c, migration: ctx.m, statement: ctx.index, line: pos.line, column: pos.column };
  if (c.measure && c.table) {
    const s = ctx.stateOf(c.table);
    if (s.kind === "new" && !s.filledAt) {
      check.known = { count: 0, exact: true };
      check.note = "created earlier in this batch, so it starts empty";
      delete check.measure;
    } else if (s.kind === "new") {
      check.note = `created in this batch and filled at ${s.filledAt}; its rows cannot be counted before the batch runs (the rehearsal can)`;
      delete check.measure;
    } else if (s.kind === "gone") {
      check.note = "dropped or renamed earlier in this batch";
      delete check.measure;
    } else {
      check.measure = retarget(c.measure, s.live, (t) => liveOf(ctx, t));
      if (s.writtenAt) {
        check.stale = true;
        check.note = `counted before ${s.writtenAt} (earlier in this batch) changes this table; the rehearsal gives the exact outcome`;
      }
    }
  }
  ctx.checks.push(check);
}

/** The live table behind a batch name, or undefined when it is new or gone. */
function liveOf(ctx: Ctx, t: TableRef): TableRef | undefined {
  const s = ctx.stateOf(t);
  return s.kind === "live" ? s.live : undefined;
}

function retarget(m: Measurement, live: TableRef, resolve: (t: TableRef) => TableRef | undefined): Measurement {
  if (m.kind === "orphans") {
    const parent = resolve(m.parent);
    return { ...m, table: live, parent: parent ?? m.parent, parentEmpty: parent === undefined };
  }
  return { ...m, table: live };
}

export function wrote(ctx: Ctx, t: TableRef): void {
  const s = ctx.stateOf(t);
  if (s.kind === "live" && !s.writtenAt) ctx.state.set(keyOf(t), { ...s, writtenAt: ctx.where });
  if (s.kind === "new" && !s.filledAt) ctx.state.set(keyOf(t), { kind: "new", filledAt: ctx.where });
}

/** Byte offset (of the file) → UTF-16 offset, for positions of nodes inside a statement. */
export function charAt(ctx: Ctx, byte: number | undefined): number | undefined {
  if (byte === undefined || byte < 0) return undefined;
  return ctx.text.bytes.subarray(0, byte).toString("utf8").length;
}

export function stmtBytes(ctx: Ctx): { start: number; end: number } {
  const start = ctx.text.byteOffset(ctx.st.offset);
  return { start, end: start + Buffer.byteLength(ctx.st.sql, "utf8") };
}

