/** Verify: expectations from the stack config against what introspection found. */
import { displayQualified, parseQualifiedName } from "./identifiers.js";
import type { Inventory } from "./introspect.js";

/** `table.column -> table.column`, optionally schema-qualified on either side. */
export interface ForeignKeyExpectation {
  from: { schema: string; table: string; column: string };
  to: { schema: string; table: string; column: string };
}

/** What the database must hold. Table names may be `schema.table`; plain names are in `public`. */
export interface Expectations {
  tables: readonly { schema: string; table: string }[];
  foreignKeys: readonly ForeignKeyExpectation[];
}

/**
 * Formats `schema.table.column`, leaving out `public.` as users write it, with each name quoted
 * only where SQL needs it (`"bazaar-vid_exports".id`).
 */
function fmt(r: { schema: string; table: string; column?: string }): string {
  const parts = [...(r.schema === "public" ? [] : [r.schema]), r.table, ...(r.column ? [r.column] : [])];
  return displayQualified(...parts);
}

/** A parsed reference, or why the text is not one and what to write instead. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const TABLE_FORM = `write table or schema.table, with double quotes around names that need them: '"bazaar-vid_exports"' or 'public."bazaar-vid_exports"'`;
const FK_FORM = `write "table.column -> table.column" (optionally schema.table.column on either side), with double quotes around names that need them: '"bazaar-vid_exports".user_id -> users.id'`;

/** Parses an expected table as the config spells it: `users`, `auth.users`, `public."bazaar-vid_exports"`. */
export function parseTableRef(text: string): Parsed<{ schema: string; table: string }> {
  const p = parseQualifiedName(text.trim());
  if (!p.ok) return { ok: false, problem: about(text.trim(), p.problem) };
  const [a = "", b] = p.parts;
  if (p.parts.length === 1) return { ok: true, value: { schema: "public", table: a } };
  if (p.parts.length === 2 && b !== undefined) return { ok: true, value: { schema: a, table: b } };
  return { ok: false, problem: `${JSON.stringify(text)} has ${p.parts.length} dotted parts; ${TABLE_FORM}` };
}

/** Parses `table.column -> table.column` (either side optionally `schema.table.column`; names may be quoted). */
export function parseForeignKeyRef(text: string): Parsed<ForeignKeyExpectation> {
  const sides = splitArrow(text);
  if (sides.length !== 2) return { ok: false, problem: `${JSON.stringify(text)} ${sides.length < 2 ? "has no ->" : "has more than one ->"}; ${FK_FORM}` };
  const out: { schema: string; table: string; column: string }[] = [];
  for (const side of sides) {
    const p = parseQualifiedName(side.trim());
    if (!p.ok) return { ok: false, problem: `in ${JSON.stringify(text)}, ${about(side.trim(), p.problem)}` };
    const [a = "", b = "", c = ""] = p.parts;
    if (p.parts.length === 2) out.push({ schema: "public", table: a, column: b });
    else if (p.parts.length === 3) out.push({ schema: a, table: b, column: c });
    else return { ok: false, problem: `in ${JSON.stringify(text)}, ${JSON.stringify(side.trim())} is not table.column; ${FK_FORM}` };
  }
  return { ok: true, value: { from: out[0]!, to: out[1]! } };
}

/** `"text": problem`, unless the problem already starts by naming the whole text. */
function about(text: string, problem: string): string {
  const named = JSON.stringify(text);
  return problem.startsWith(`${named} `) ? problem : `${named}: ${problem}`;
}

/** Splits at each `->` outside double quotes (a quoted name may contain one). */
function splitArrow(text: string): string[] {
  const sides: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (!quoted && text.startsWith("->", i)) {
      sides.push(text.slice(start, i));
      start = i + 2;
      i++;
    }
  }
  sides.push(text.slice(start));
  return sides;
}

/** Formats an expected foreign key the way the config spells it. */
export function formatForeignKey(fk: ForeignKeyExpectation): string {
  return `${fmt(fk.from)} -> ${fmt(fk.to)}`;
}

/** Every unmet expectation, each a sentence naming the table; empty when all are met. */
export function verify(inventory: Inventory, expected: Expectations): string[] {
  const unmet: string[] = [];
  // Keyed by both parts: a quoted name may itself contain a dot.
  const key = (schema: string, table: string) => JSON.stringify([schema, table]);
  const tables = new Map(inventory.tables.map((t) => [key(t.schema, t.name), t]));
  for (const e of expected.tables) {
    if (!tables.has(key(e.schema, e.table))) unmet.push(`table ${fmt(e)} is missing`);
  }
  for (const fk of expected.foreignKeys) {
    const from = tables.get(key(fk.from.schema, fk.from.table));
    if (!from) {
      unmet.push(`foreign key ${formatForeignKey(fk)}: table ${fmt({ schema: fk.from.schema, table: fk.from.table })} is missing`);
      continue;
    }
    if (!from.columns.some((c) => c.name === fk.from.column)) {
      unmet.push(`foreign key ${formatForeignKey(fk)}: column ${fmt(fk.from)} is missing`);
      continue;
    }
    const found = from.foreignKeys.some(
      (f) =>
        f.columns.length === 1 &&
        f.columns[0] === fk.from.column &&
        f.references.schema === fk.to.schema &&
        f.references.table === fk.to.table &&
        f.references.columns.length === 1 &&
        f.references.columns[0] === fk.to.column,
    );
    if (!found) {
      const table = fmt({ schema: fk.from.schema, table: fk.from.table });
      const have = from.foreignKeys.map((f) => `${f.columns.map((c) => displayQualified(c)).join(",")} -> ${fmt(f.references)}(${f.references.columns.map((c) => displayQualified(c)).join(",")})`);
      unmet.push(
        `foreign key ${formatForeignKey(fk)} is missing` +
          (have.length ? ` (${table} has: ${have.join("; ")})` : ` (${table} has no foreign keys)`),
      );
    }
  }
  return unmet;
}
