/**
 * Objects pgstack knows that no migration creates: its own `pgstack` schema, and the history
 * tables of the migration tools it adopts from. They are classified here, in one place, so that
 * drift, the review and the environment diff leave them out (when no migration creates them),
 * and the foreign-history reader can take its list from here.
 */
import { PGSTACK_SCHEMA } from "../history.js";
import { parseQualifiedName } from "../identifiers.js";
import { OBJECT_MAPS, type ObjectMap, type SchemaSnapshot, type SequenceStructure } from "./model.js";

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

/** The kinds of object a snapshot holds, one per keyed map (model.ts's {@link OBJECT_MAPS}). */
export type ObjectKind = "table" | "schema" | "sequence" | "type" | "view" | "function" | "trigger" | "event trigger" | "extension" | "policy" | "collation" | "default privileges";

/** The kind of the objects in each keyed map. */
export const KIND_OF_MAP: Readonly<Record<ObjectMap, ObjectKind>> = {
  schemas: "schema",
  extensions: "extension",
  collations: "collation",
  types: "type",
  sequences: "sequence",
  tables: "table",
  views: "view",
  functions: "function",
  triggers: "trigger",
  eventTriggers: "event trigger",
  policies: "policy",
  defaultPrivileges: "default privileges",
};

/**
 * What a known object is (`goose's history table`), or undefined for the application's own.
 * `key` is the object's key in the snapshot (`public.schema_migrations`, `quote_ident` spelling);
 * `value` its structure, where that tells (a sequence owned by a known table is that table's).
 */
export function knownObject(kind: ObjectKind, key: string, value?: unknown): string | undefined {
  if (kind === "schema") return KNOWN_SCHEMAS[key];
  if (kind === "sequence" && value) {
    const owner = (value as SequenceStructure).ownedBy;
    const table = owner === null ? undefined : parseQualifiedName(owner);
    if (table?.ok && table.parts.length === 3 && knownTable(table.parts[0] as string, table.parts[1] as string)) return `${knownTable(table.parts[0] as string, table.parts[1] as string)}'s sequence`;
  }
  // `name on schema.table` (triggers, policies): the table's schema decides.
  const qualified = kind === "trigger" || kind === "policy" ? key.slice(key.lastIndexOf(" on ") + 4) : key.replace(/\(.*$/s, "");
  const parsed = parseQualifiedName(qualified);
  if (!parsed.ok || parsed.parts.length !== 2) return undefined;
  const [schema, name] = parsed.parts as [string, string];
  if (kind === "table") return knownTable(schema, name);
  return KNOWN_SCHEMAS[schema] ? `in ${KNOWN_SCHEMAS[schema]}` : undefined;
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
  const out = { ...live } as Record<ObjectMap, Record<string, unknown>>;
  for (const map of OBJECT_MAPS) {
    const mine = (declared[map] ?? {}) as Record<string, unknown>;
    out[map] = Object.fromEntries(Object.entries(live[map] ?? {}).filter(([key, value]) => Object.hasOwn(mine, key) || knownObject(KIND_OF_MAP[map], key, value) === undefined));
  }
  return out as unknown as SchemaSnapshot;
}
