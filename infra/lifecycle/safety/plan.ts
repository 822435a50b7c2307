/**
 * What each pending statement puts at risk, reasoning over the batch in order: pgstack's own
 * rules over the libpg-query parse tree. The result is a list of planned checks; the live
 * counts are taken afterwards (measure.ts). A table created earlier in the batch starts empty,
 * a renamed one keeps its rows, and a table written earlier in the batch is counted with a note.
 */
import type { Migration } from "../source.js";
import { splitStatements, type Statement } from "../sql.js";
import { lineColumnAt } from "../text.js";
import { SourceText } from "./source-text.js";
import type { FindingClass, RowCount } from "./types.js";
import { ALTERNATIVES } from "./alternatives.js";
import { quoteIdent } from "../identifiers.js";

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
  table: TableRef;
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

type Node = { [key: string]: any };
type TableState = { kind: "live"; live: TableRef; writtenAt?: string } | { kind: "new"; filledAt?: string } | { kind: "gone" };

/** `schema.name` or `name`, as written (unquoted: the form acknowledgements name). */
export function displayTable(t: TableRef): string {
  return t.schema ? `${t.schema}.${t.name}` : t.name;
}

/** The table as SQL would name it: quoted only when it must be (`"bazaar-vid_exports"`). */
export function sqlTable(t: TableRef): string {
  const q = (n: string) => (/^[a-z_][a-z0-9_$]*$/.test(n) ? n : quoteIdent(n));
  return t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name);
}

const keyOf = (t: TableRef) => `${t.schema ?? "public"}.${t.name}`;
const refOf = (rv: Node): TableRef => (rv["schemaname"] ? { schema: rv["schemaname"], name: rv["relname"] } : { name: rv["relname"] });
const names = (list: Node[] | undefined): string[] => (list ?? []).map((n) => n["String"]?.["sval"] ?? "").filter((s) => s !== "");

/** Plans the checks of a batch of pending migrations (call `loadSqlParser()` first). */
export function planChecks(pending: readonly Migration[]): { checks: PlannedCheck[]; statements: PlannedStatement[] } {
  const state = new Map<string, TableState>();
  const checks: PlannedCheck[] = [];
  const statements: PlannedStatement[] = [];
  const stateOf = (t: TableRef): TableState => state.get(keyOf(t)) ?? { kind: "live", live: t };
  const copies = new Map<string, string>();

  for (const m of pending) {
    const parsed = splitStatements(m.sql, m.file);
    const text = new SourceText(m.sql);
    let previousEnd = 0;
    parsed.forEach((st, index) => {
      const end = st.offset + st.sql.length;
      statements.push({ migration: m, index, start: st.offset, end, previousEnd });
      previousEnd = end;
      const where = `${m.file}:${lineColumnAt(m.sql, st.offset).line}`;
      const ctx: Ctx = { m, st, index, text, where, checks, stateOf, state, copies };
      RULES[st.kind]?.(ctx, st.node);
    });
  }
  return { checks, statements };
}

interface Ctx {
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
function add(ctx: Ctx, c: Omit<PlannedCheck, "migration" | "statement" | "line" | "column" | "measure"> & { measure?: Measurement }, at?: number): void {
  const pos = lineColumnAt(ctx.m.sql, at ?? ctx.st.offset);
  const s = ctx.stateOf(c.table);
  const check: PlannedCheck = { ...c, migration: ctx.m, statement: ctx.index, line: pos.line, column: pos.column };
  if (c.measure) {
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

function wrote(ctx: Ctx, t: TableRef): void {
  const s = ctx.stateOf(t);
  if (s.kind === "live" && !s.writtenAt) ctx.state.set(keyOf(t), { ...s, writtenAt: ctx.where });
  if (s.kind === "new" && !s.filledAt) ctx.state.set(keyOf(t), { kind: "new", filledAt: ctx.where });
}

/** Byte offset (of the file) → UTF-16 offset, for positions of nodes inside a statement. */
function charAt(ctx: Ctx, byte: number | undefined): number | undefined {
  if (byte === undefined || byte < 0) return undefined;
  return ctx.text.bytes.subarray(0, byte).toString("utf8").length;
}

function stmtBytes(ctx: Ctx): { start: number; end: number } {
  const start = ctx.text.byteOffset(ctx.st.offset);
  return { start, end: start + Buffer.byteLength(ctx.st.sql, "utf8") };
}

const rowsLost = (verb: string) => (rows: string) => `${verb} ${rows}`;

const RULES: Record<string, (ctx: Ctx, node: Node) => void> = {
  CreateStmt(ctx, n) {
    ctx.state.set(keyOf(refOf(n["relation"])), { kind: "new" });
  },
  CreateTableAsStmt(ctx, n) {
    ctx.state.set(keyOf(refOf(n["into"]?.["rel"] ?? {})), { kind: "new", filledAt: ctx.where });
  },
  DropStmt(ctx, n) {
    if (n["removeType"] !== "OBJECT_TABLE") return;
    for (const obj of n["objects"] ?? []) {
      const parts = names(obj["List"]?.["items"]);
      const table: TableRef = parts.length > 1 ? { schema: parts[0], name: parts[1] ?? "" } : { name: parts[0] ?? "" };
      const copied = ctx.copies.get(keyOf(table));
      add(ctx, {
        rule: "pgstack/drop-table",
        class: "data-loss",
        table,
        describe: (r) => `DROP TABLE ${sqlTable(table)} deletes ${r}${copied ? `; they were copied into ${copied} first (check nothing was skipped)` : ""}`,
        safeAlternative: ALTERNATIVES.dropTable,
        measure: { kind: "rows", table },
      });
      ctx.state.set(keyOf(table), { kind: "gone" });
    }
  },
  TruncateStmt(ctx, n) {
    for (const rel of n["relations"] ?? []) {
      const table = refOf(rel["RangeVar"] ?? {});
      add(ctx, { rule: "pgstack/truncate", class: "data-loss", table, describe: rowsLost(`TRUNCATE ${sqlTable(table)} deletes`), safeAlternative: ALTERNATIVES.dropTable, measure: { kind: "rows", table } });
      wrote(ctx, table);
    }
  },
  DeleteStmt(ctx, n) {
    const table = refOf(n["relation"]);
    if (!n["whereClause"] && !n["usingClause"]) {
      add(ctx, { rule: "pgstack/delete-without-where", class: "data-loss", table, describe: rowsLost(`DELETE without WHERE on ${sqlTable(table)} deletes`), safeAlternative: ALTERNATIVES.deleteAll, measure: { kind: "rows", table } });
    }
    wrote(ctx, table);
  },
  UpdateStmt(ctx, n) {
    const table = refOf(n["relation"]);
    if (!n["whereClause"] && !n["fromClause"]) {
      add(ctx, { rule: "pgstack/update-without-where", class: "data-loss", table, describe: rowsLost(`UPDATE without WHERE on ${sqlTable(table)} overwrites`), safeAlternative: ALTERNATIVES.updateAll, measure: { kind: "rows", table } });
    }
    wrote(ctx, table);
  },
  InsertStmt(ctx, n) {
    const target = refOf(n["relation"]);
    const select = n["selectStmt"]?.["SelectStmt"];
    if (select?.["targetList"] && hasTypeCast(select["targetList"])) planCopyCasts(ctx, target, select);
    const from: Node[] = select?.["fromClause"] ?? [];
    if (from.length === 1 && from[0]?.["RangeVar"] && !select?.["whereClause"]) {
      ctx.copies.set(keyOf(refOf(from[0]["RangeVar"])), `${sqlTable(target)} at ${ctx.where}`);
    }
    wrote(ctx, target);
  },
  AlterTableStmt(ctx, n) {
    if (n["objtype"] !== "OBJECT_TABLE") return;
    const table = refOf(n["relation"]);
    const { start, end } = stmtBytes(ctx);
    // Scanned only when a type change needs its USING expressions.
    let found: number[] | undefined;
    const usings = () => (found ??= ctx.text.findWords(start, end, "USING"));
    let usingIndex = 0;
    for (const c of n["cmds"] ?? []) {
      const cmd = c["AlterTableCmd"] ?? {};
      const col: string = cmd["name"] ?? "";
      switch (cmd["subtype"]) {
        case "AT_DropColumn":
          add(ctx, { rule: "pgstack/drop-column", class: "data-loss", table, describe: (r) => `DROP COLUMN ${sqlTable(table)}.${col} deletes the values of ${r}`, safeAlternative: ALTERNATIVES.dropColumn, measure: { kind: "nonNull", table, column: col } });
          break;
        case "AT_AlterColumnType": {
          const def = cmd["def"]?.["ColumnDef"] ?? {};
          const typeStart: number = def["typeName"]?.["location"] ?? -1;
          const type = typeStart >= 0 ? ctx.text.until(typeStart, end, (w) => w === "USING" || w === "COLLATE" || w === ",").text : "";
          let expr = quoteIdent(col);
          if (def["raw_default"]) {
            const u = usings()[usingIndex++];
            const from = u === undefined ? undefined : ctx.text.tokens[u + 1]?.start;
            if (from !== undefined) expr = ctx.text.until(from, end, (w) => w === ",").text;
          }
          add(
            ctx,
            {
              rule: "pgstack/alter-column-type",
              class: "cast-failure",
              table,
              describe: (r) => `ALTER COLUMN ${col} TYPE ${type}: ${r} fail the conversion`,
              safeAlternative: ALTERNATIVES.changeType,
              measure: { kind: "castFailures", table, alias: table.name, targets: `(${expr})::${type}` },
            },
            charAt(ctx, def["location"]),
          );
          wrote(ctx, table);
          break;
        }
        case "AT_SetNotNull":
          add(ctx, { rule: "pgstack/set-not-null", class: "not-null", table, describe: (r) => `SET NOT NULL on ${sqlTable(table)}.${col} fails: ${r} hold NULL`, safeAlternative: ALTERNATIVES.setNotNull, measure: { kind: "nulls", table, column: col } });
          break;
        case "AT_AddColumn":
          planAddColumn(ctx, table, cmd["def"]?.["ColumnDef"] ?? {});
          break;
        case "AT_AddConstraint":
          planConstraint(ctx, table, cmd["def"]?.["Constraint"] ?? {});
          break;
      }
    }
  },
  IndexStmt(ctx, n) {
    if (!n["unique"]) return;
    const table = refOf(n["relation"]);
    const { end } = stmtBytes(ctx);
    const relAt: number = n["relation"]?.["location"] ?? 0;
    // A table created in this batch has no rows: its keys need not be read from the text.
    const live = ctx.stateOf(table).kind === "live";
    const items = live ? ctx.text.parenList(relAt, end) : [];
    const keys = (n["indexParams"] ?? []).map((p: Node, i: number) => {
      const e = p["IndexElem"] ?? {};
      if (e["name"]) return quoteIdent(e["name"]);
      return indexExpression(items?.[i] ?? "");
    });
    const whereAt = live && n["whereClause"] ? ctx.text.findWords(relAt, end, "WHERE")[0] : undefined;
    const where = n["whereClause"] && whereAt !== undefined ? ctx.text.slice(ctx.text.tokens[whereAt + 1]?.start ?? end, end) : undefined;
    const label = n["idxname"] ? `UNIQUE INDEX ${n["idxname"]}` : "UNIQUE INDEX";
    add(ctx, {
      rule: "pgstack/unique-index",
      class: "duplicates",
      table,
      describe: (r) => `CREATE ${label} ON ${sqlTable(table)} fails: ${r} of duplicate keys`,
      safeAlternative: ALTERNATIVES.unique,
      measure: { kind: "duplicates", table, keys, nullsNotDistinct: n["nulls_not_distinct"] === true, ...(where ? { where } : {}) },
    });
  },
  RenameStmt(ctx, n) {
    const table = refOf(n["relation"] ?? {});
    const s = ctx.stateOf(table);
    if (n["renameType"] === "OBJECT_TABLE") {
      const to: TableRef = { ...(table.schema ? { schema: table.schema } : {}), name: n["newname"] };
      // A table created in this batch (the new half of a copy-and-swap) has no readers yet.
      if (s.kind === "live") {
        add(ctx, { rule: "pgstack/rename-table", class: "rename", table, describe: () => `RENAME TABLE ${sqlTable(table)} TO ${to.name}: running code that still reads ${table.name} breaks`, safeAlternative: ALTERNATIVES.renameTable });
      }
      ctx.state.set(keyOf(to), s);
      ctx.state.set(keyOf(table), { kind: "gone" });
    } else if (n["renameType"] === "OBJECT_COLUMN" && s.kind === "live") {
      add(ctx, { rule: "pgstack/rename-column", class: "rename", table, describe: () => `RENAME COLUMN ${sqlTable(table)}.${n["subname"]} TO ${n["newname"]}: running code that still uses ${n["subname"]} breaks`, safeAlternative: ALTERNATIVES.renameColumn });
    }
  },
};

function planAddColumn(ctx: Ctx, table: TableRef, def: Node): void {
  const constraints: Node[] = (def["constraints"] ?? []).map((c: Node) => c["Constraint"] ?? {});
  const notNull = constraints.some((c) => c["contype"] === "CONSTR_NOTNULL" || c["contype"] === "CONSTR_PRIMARY");
  const filled = constraints.some((c) => ["CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED"].includes(c["contype"]));
  if (!notNull || filled) return;
  add(ctx, {
    rule: "pgstack/add-column-not-null",
    class: "not-null",
    table,
    describe: (r) => `ADD COLUMN ${def["colname"]} NOT NULL without a default fails: ${r} would hold NULL`,
    safeAlternative: ALTERNATIVES.addRequiredColumn,
    measure: { kind: "rows", table },
  });
}

function planConstraint(ctx: Ctx, table: TableRef, c: Node): void {
  if (c["contype"] === "CONSTR_FOREIGN") {
    // NOT VALID skips the existing rows: that is the safe form, there is nothing to count.
    if (c["skip_validation"]) return;
    const parent = refOf(c["pktable"] ?? {});
    const columns = names(c["fk_attrs"]);
    const parentColumns = names(c["pk_attrs"]);
    add(ctx, {
      rule: "pgstack/foreign-key",
      class: "fk-orphans",
      table,
      describe: (r) => `FOREIGN KEY ${sqlTable(table)}(${columns.join(", ")}) → ${sqlTable(parent)} fails: ${r} have no parent`,
      safeAlternative: ALTERNATIVES.foreignKey,
      measure: { kind: "orphans", table, columns, parent, ...(parentColumns.length ? { parentColumns } : {}), parentEmpty: false },
    });
  } else if ((c["contype"] === "CONSTR_UNIQUE" || c["contype"] === "CONSTR_PRIMARY") && !c["indexname"]) {
    const keys = names(c["keys"]).map(quoteIdent);
    const what = c["contype"] === "CONSTR_PRIMARY" ? "PRIMARY KEY" : "UNIQUE";
    add(ctx, {
      rule: c["contype"] === "CONSTR_PRIMARY" ? "pgstack/primary-key" : "pgstack/unique-constraint",
      class: "duplicates",
      table,
      describe: (r) => `ADD ${what} (${names(c["keys"]).join(", ")}) on ${sqlTable(table)} fails: ${r} of duplicate keys`,
      safeAlternative: ALTERNATIVES.unique,
      measure: { kind: "duplicates", table, keys, nullsNotDistinct: c["nulls_not_distinct"] === true },
    });
  }
}

/** INSERT … SELECT with casts (the copy of a copy-and-swap): the source rows whose casts fail. */
function planCopyCasts(ctx: Ctx, target: TableRef, select: Node): void {
  const from: Node[] = select["fromClause"] ?? [];
  const source = from.length === 1 ? from[0]?.["RangeVar"] : undefined;
  const first: number | undefined = select["targetList"]?.[0]?.["ResTarget"]?.["location"];
  const { end } = stmtBytes(ctx);
  const base = { rule: "pgstack/copy-with-casts", class: "cast-failure" as const, safeAlternative: ALTERNATIVES.copyCasts };
  if (!source || first === undefined || select["withClause"] || select["groupClause"] || select["distinctClause"]) {
    add(ctx, { ...base, table: target, describe: (r) => `INSERT INTO ${sqlTable(target)} … SELECT with casts: ${r} (only a single-table SELECT is counted)`, note: "the SELECT reads more than one table; run the rehearsal for its outcome" });
    return;
  }
  const table = refOf(source);
  const targets = ctx.text.until(first, end, (w) => w === "FROM");
  const whereIdx = select["whereClause"] ? ctx.text.findWords(targets.end, end, "WHERE")[0] : undefined;
  let where: string | undefined;
  if (whereIdx !== undefined) {
    const stops = new Set(["ON", "RETURNING", "GROUP", "ORDER", "LIMIT", "OFFSET", "HAVING", "WINDOW"]);
    where = ctx.text.until(ctx.text.tokens[whereIdx + 1]?.start ?? end, end, (w) => stops.has(w)).text;
  }
  add(ctx, {
    ...base,
    table,
    describe: (r) => `INSERT INTO ${sqlTable(target)} … SELECT with casts from ${sqlTable(table)}: ${r} fail a cast`,
    measure: { kind: "castFailures", table, alias: source["alias"]?.["aliasname"] ?? table.name, targets: targets.text, ...(where ? { where } : {}) },
  });
}

function hasTypeCast(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasTypeCast);
  if (node && typeof node === "object") {
    // `x::t` and `CAST(x AS t)` both parse as TypeCast.
    return Object.entries(node).some(([k, v]) => k === "TypeCast" || hasTypeCast(v));
  }
  return false;
}

/** An index key written as an expression: `(a + b)` or `lower(a)`, without opclass or ordering. */
function indexExpression(item: string): string {
  const t = item.trim();
  if (t.startsWith("(")) {
    let depth = 0;
    for (let i = 0; i < t.length; i++) {
      if (t[i] === "(") depth++;
      else if (t[i] === ")" && --depth === 0) return t.slice(0, i + 1);
    }
  }
  const call = /^[^(]*\(/.exec(t);
  if (call) {
    let depth = 0;
    for (let i = call[0].length - 1; i < t.length; i++) {
      if (t[i] === "(") depth++;
      else if (t[i] === ")" && --depth === 0) return t.slice(0, i + 1);
    }
  }
  return t;
}
