/**
 * Objects pgstack knows that no migration creates: its own `pgstack` schema, and the history
 * tables of the migration tools it adopts from. They are classified here, in one place, so that
 * drift, the review and the environment diff leave them out (when no migration creates them),
 * and the foreign-history reader can take its list from here.
 */
import { PGSTACK_SCHEMA } from "../history.js";
import { parseQualifiedName } from "../identifiers.js";
import type { SchemaSnapshot } from "./model.js";

export { PGSTACK_SCHEMA };

/** Another migration tool's history table, by its default name (in any schema). */
export interface ForeignHistoryTable {
  /** The tool(s) that write it. */
  tools: string;
  table: string;
  /** The schema the tool puts it in by default, when that is its own (`drizzle`). */
  schema?: string;
}

/** The history tables pgstack reads when it adopts a database (importers/foreign-history.ts). */
export const FOREIGN_HISTORY_TABLES: readonly ForeignHistoryTable[] = [
  { tools: "golang-migrate or dbmate", table: "schema_migrations" },
  { tools: "goose", table: "goose_db_version" },
  { tools: "drizzle", table: "__drizzle_migrations", schema: "drizzle" },
  { tools: "flyway", table: "flyway_schema_history" },
  { tools: "prisma", table: "_prisma_migrations" },
  { tools: "alembic", table: "alembic_version" },
];

/** Schemas that belong to pgstack or to another tool, not to the application. */
export const KNOWN_SCHEMAS: Readonly<Record<string, string>> = {
  [PGSTACK_SCHEMA]: "pgstack's own schema",
  ...Object.fromEntries(FOREIGN_HISTORY_TABLES.filter((t) => t.schema).map((t) => [t.schema, `${t.tools}'s schema`])),
};

/** The kinds of object a snapshot holds (issue 18 adds more). */
export type ObjectKind = "table";

/**
 * What a known object is (`goose's history table`), or undefined for the application's own.
 * `key` is the object's key in the snapshot (`public.schema_migrations`, `quote_ident` spelling).
 */
export function knownObject(kind: ObjectKind, key: string): string | undefined {
  const parsed = parseQualifiedName(key);
  if (!parsed.ok || parsed.parts.length !== 2) return undefined;
  const [schema, name] = parsed.parts as [string, string];
  return kind === "table" ? knownTable(schema, name) : undefined;
}

/** What a table is when pgstack knows it (by schema and name as the catalogs spell them), else undefined. */
export function knownTable(schema: string, name: string): string | undefined {
  if (schema === PGSTACK_SCHEMA) return `in ${KNOWN_SCHEMAS[PGSTACK_SCHEMA]}`;
  const history = FOREIGN_HISTORY_TABLES.find((t) => t.table === name);
  return history ? `${history.tools}'s history table` : undefined;
}

/**
 * `live` without the known objects that `declared` does not have: what no migration creates is
 * neither drift nor a difference between environments. One a migration does create stays, and
 * is compared as usual.
 */
export function withoutUndeclaredKnown(live: SchemaSnapshot, declared: SchemaSnapshot): SchemaSnapshot {
  const tables = Object.fromEntries(Object.entries(live.tables).filter(([key]) => Object.hasOwn(declared.tables, key) || knownObject("table", key) === undefined));
  return { ...live, tables };
}
