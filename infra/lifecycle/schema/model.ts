/**
 * The one schema model: what a database's schema *is*, keyed by name, as plain JSON (so it can be
 * cached and compared). {@link readSchema} reads it from the catalogs; {@link diffSchemas}
 * compares two of them; the inventory (stack outputs, reset, adoption, review) is a view of it.
 * Every feature that looks at structure uses this model, so it grows in one place.
 *
 * ## Adding an object kind (issue 18: enums, views, functions, triggers, sequences, policies…)
 *
 * A kind is three things, each in one place:
 * 1. here, one more keyed map on {@link SchemaSnapshot} (`enums: Record<string, EnumStructure>`),
 *    keyed by the object's `quote_ident`-spelled qualified name, values plain JSON with their
 *    parts keyed by name too (never arrays compared by position, unless order is meaning, like
 *    an enum's labels);
 * 2. in read.ts (or the family's read-*.ts), one more statement in {@link readSchema}'s single
 *    round trip that fills it (and {@link OBJECT_MAPS} gains its name);
 * 3. in diff.ts, one more entry in `SECTIONS`: the word for the kind (`enum`) and, where two
 *    versions can differ in parts, a function that lists them (`~ type public.mood: + label x`).
 *
 * Objects pgstack knows that no migration creates (known.ts) are classified there, by kind and
 * name, so a new kind's foreign bookkeeping is one more entry. Changing the shape bumps the
 * declared cache's `CACHE_FORMAT` (declared.ts).
 */

/**
 * A column: type as `format_type` prints it, nullability and default (`identity` for identity
 * columns, the expression for generated ones). The optional parts are present only when set, so
 * a plain column's JSON stays small and equal across versions.
 */
export interface ColumnStructure {
  type: string;
  /** The column's own `attnotnull`: a NOT NULL is never also a constraint (PostgreSQL 18 lists those in pg_constraint). */
  nullable: boolean;
  default: string | null;
  /** Identity columns: `always` or `by default`. */
  identity?: "always" | "by default";
  /** Generated columns (`default` holds the expression): `stored`, or `virtual` (PostgreSQL 18). */
  generated?: "stored" | "virtual";
  /** A collation other than the type's default, e.g. `"C"`. */
  collation?: string;
  comment?: string;
}

/** What a constraint is, in words (PostgreSQL's `contype` p, f, u, c, x). */
export type ConstraintKind = "primary key" | "foreign key" | "unique" | "check" | "exclusion";

/** A foreign key's target. */
export interface ReferenceStructure {
  /** The referenced table's key in {@link SchemaSnapshot.tables} (`public.users`). */
  table: string;
  /** Its columns, in key order, spelled as `quote_ident` spells them. */
  columns: string[];
  /** `no action`, `restrict`, `cascade`, `set null` or `set default`. */
  onDelete: string;
}

/**
 * A table constraint. The differ compares `definition`, which says everything; the structured
 * parts serve the inventory and the diagram, so nobody parses definitions.
 */
export interface ConstraintStructure {
  kind: ConstraintKind;
  /** `pg_get_constraintdef`, e.g. `FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE`. */
  definition: string;
  /** The constrained columns in key order (empty for a check), spelled as `quote_ident` spells them. */
  columns: string[];
  /** Foreign keys only. */
  references?: ReferenceStructure;
  /** `pg_get_indexdef` of the index that enforces it (primary key, unique, exclusion). */
  index?: string;
}

/** A table, every part keyed by name so that a comparison never depends on position. */
export interface TableStructure {
  owner: string;
  /** Column name → its definition. Keys are in the table's column order. */
  columns: Record<string, ColumnStructure>;
  /** Constraint name → the constraint (primary keys, foreign keys, unique, check, exclusion). */
  constraints: Record<string, ConstraintStructure>;
  /** `schema.index` → `pg_get_indexdef`, for indexes that no constraint owns (those show as constraints). */
  indexes: Record<string, string>;
  /** Grantee (`PUBLIC` for everyone) → its privileges, sorted and comma-separated; the owner left out. */
  grants: Record<string, string>;
  /** Row-level security, when on: `enabled`, or `enabled, forced` (also applies to the owner). */
  rowSecurity?: string;
  /** A partitioned table's key (`pg_get_partkeydef`, e.g. `RANGE (created_at)`). */
  partitionKey?: string;
  /** A partition: its parent (`public.events`) and bound (`FOR VALUES FROM (…) TO (…)`). */
  partitionOf?: string;
  partitionBound?: string;
  comment?: string;
}

/** A schema (only the managed ones when the reader is given a list). */
export interface SchemaStructure {
  owner: string;
  comment?: string;
}

/**
 * A type a migration creates: an enum (its labels, in order: order is meaning), a domain (base
 * type, not null, default, its constraints by name) or a composite type (attributes by name).
 */
export interface TypeStructure {
  kind: "enum" | "domain" | "composite";
  labels?: string[];
  /** Domains: the base type as `format_type` prints it. */
  base?: string;
  nullable?: boolean;
  default?: string | null;
  /** Domain constraint name → `pg_get_constraintdef`. */
  constraints?: Record<string, string>;
  /** Composite attribute name → its type, in attribute order. */
  attributes?: Record<string, string>;
  comment?: string;
}

/** A sequence. Identity columns' sequences are part of their column and not listed. */
export interface SequenceStructure {
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cycle: boolean;
  /** `OWNED BY` column (`public.orders.id`), or null. */
  ownedBy: string | null;
  comment?: string;
}

/** A view or a materialized view, its definition as `pg_get_viewdef` normalizes it. */
export interface ViewStructure {
  materialized: boolean;
  definition: string;
  /** Materialized views: their indexes, `schema.index` → `pg_get_indexdef`. */
  indexes?: Record<string, string>;
  comment?: string;
}

/** A function, procedure or aggregate, keyed by `schema.name(identity arguments)`. */
export interface FunctionStructure {
  kind: "function" | "procedure" | "aggregate" | "window function";
  /** `pg_get_function_result` (null for procedures). */
  returns: string | null;
  language: string;
  volatility: "immutable" | "stable" | "volatile";
  securityDefiner: boolean;
  strict: boolean;
  /** `SET` clauses (`search_path=public`), sorted. */
  config: string[];
  /** `prosrc`, or the deparsed SQL-standard body (`BEGIN ATOMIC … END`). */
  body: string;
  comment?: string;
}

/** A trigger, keyed by `name on schema.table`; `definition` is `pg_get_triggerdef`. */
export interface TriggerStructure {
  definition: string;
  /** `enabled`, `disabled`, `replica` or `always` (`ALTER TABLE … ENABLE/DISABLE TRIGGER`). */
  enabled: string;
  comment?: string;
}

/** An event trigger (database-wide), keyed by name. */
export interface EventTriggerStructure {
  event: string;
  /** The function it runs, `schema.name`. */
  function: string;
  /** The `WHEN TAG IN (…)` tags, sorted (empty: every command). */
  tags: string[];
  enabled: string;
}

/** An extension, keyed by name. */
export interface ExtensionStructure {
  version: string;
  schema: string;
}

/** A row-level security policy, keyed by `name on schema.table`. */
export interface PolicyStructure {
  command: "all" | "select" | "insert" | "update" | "delete";
  permissive: boolean;
  /** The roles it applies to, sorted (`PUBLIC` for everyone). */
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

/** A collation object (`CREATE COLLATION`), keyed by qualified name. */
export interface CollationStructure {
  provider: string;
  /** The locale settings the server's version records (lc_collate/lc_ctype or the ICU locale and rules). */
  locale: string;
  deterministic: boolean;
}

/** One applied migration, as the history records it. */
export interface HistoryEntry {
  id: number;
  name: string;
  checksum: string;
}

/** A database's structure, as {@link readSchema} reads it. Plain JSON, so it can be cached. */
export interface SchemaSnapshot {
  /**
   * `schema.table` → its structure, sorted by key. Every name in a snapshot (tables, columns,
   * constraints, indexes) is spelled as Postgres' `quote_ident` spells it: `public."bazaar-vid_user"`.
   */
  tables: Record<string, TableStructure>;
  /** Schema name → owner and comment. */
  schemas: Record<string, SchemaStructure>;
  /** Enums, domains and composite types, by qualified name. */
  types: Record<string, TypeStructure>;
  sequences: Record<string, SequenceStructure>;
  /** Views and materialized views, by qualified name. */
  views: Record<string, ViewStructure>;
  /** `schema.name(identity arguments)` → the function, procedure or aggregate. */
  functions: Record<string, FunctionStructure>;
  /** `name on schema.table` → the trigger (internal ones, such as foreign keys', left out). */
  triggers: Record<string, TriggerStructure>;
  eventTriggers: Record<string, EventTriggerStructure>;
  extensions: Record<string, ExtensionStructure>;
  /** `name on schema.table` → the policy (the table's `rowSecurity` says whether it applies). */
  policies: Record<string, PolicyStructure>;
  collations: Record<string, CollationStructure>;
  /**
   * `for role R in schema S on tables` (`on all schemas` when global) → grantee → privileges,
   * as `ALTER DEFAULT PRIVILEGES` leaves them.
   */
  defaultPrivileges: Record<string, Record<string, string>>;
  /** pgstack's history, oldest first (empty when pgstack never ran here, or when not read). */
  history: HistoryEntry[];
}

/** Every keyed map of a {@link SchemaSnapshot}, in report order: what a new kind adds to. */
export const OBJECT_MAPS = [
  "schemas",
  "extensions",
  "collations",
  "types",
  "sequences",
  "tables",
  "views",
  "functions",
  "triggers",
  "eventTriggers",
  "policies",
  "defaultPrivileges",
] as const satisfies readonly (keyof SchemaSnapshot)[];

/** The name of one of a snapshot's keyed maps. */
export type ObjectMap = (typeof OBJECT_MAPS)[number];

/** A snapshot with no objects (what a database without a schema has). */
export function emptySnapshot(): SchemaSnapshot {
  return { ...(Object.fromEntries(OBJECT_MAPS.map((m) => [m, {}])) as Omit<SchemaSnapshot, "history">), history: [] };
}
