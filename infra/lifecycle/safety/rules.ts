/**
 * pgstack's own rules over the libpg-query parse tree: what each statement puts at risk, and
 * what to count for it. Each rule also updates the batch state (a table created, filled, dropped,
 * renamed) for the statements after it.
 */
import { quoteIdent } from "../identifiers.js";
import { ALTERNATIVES } from "./alternatives.js";
import { add, charAt, keyOf, names, refOf, sqlTable, stmtBytes, wrote, type Ctx, type Node, type TableRef } from "./batch.js";

const rowsLost = (verb: string) => (rows: string) => `${verb} ${rows}`;

export const RULES: Record<string, (ctx: Ctx, node: Node) => void> = {
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
