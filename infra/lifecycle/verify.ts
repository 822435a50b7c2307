/** Verify: expectations from the stack config against what introspection found. */
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

/** Formats `schema.table.column`, leaving out `public.` as users write it. */
function fmt(r: { schema: string; table: string; column?: string }): string {
  const t = r.schema === "public" ? r.table : `${r.schema}.${r.table}`;
  return r.column ? `${t}.${r.column}` : t;
}

/** Formats an expected foreign key the way the config spells it. */
export function formatForeignKey(fk: ForeignKeyExpectation): string {
  return `${fmt(fk.from)} -> ${fmt(fk.to)}`;
}

/** Every unmet expectation, each a sentence naming the table; empty when all are met. */
export function verify(inventory: Inventory, expected: Expectations): string[] {
  const unmet: string[] = [];
  const tables = new Map(inventory.tables.map((t) => [`${t.schema}.${t.name}`, t]));
  for (const e of expected.tables) {
    if (!tables.has(`${e.schema}.${e.table}`)) unmet.push(`table ${fmt(e)} is missing`);
  }
  for (const fk of expected.foreignKeys) {
    const from = tables.get(`${fk.from.schema}.${fk.from.table}`);
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
      const have = from.foreignKeys.map((f) => `${f.columns.join(",")} -> ${fmt(f.references)}(${f.references.columns.join(",")})`);
      unmet.push(
        `foreign key ${formatForeignKey(fk)} is missing` +
          (have.length ? ` (${table} has: ${have.join("; ")})` : ` (${table} has no foreign keys)`),
      );
    }
  }
  return unmet;
}
