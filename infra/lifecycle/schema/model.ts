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
 * 2. in read.ts, one more statement in {@link readSchema}'s single round trip that fills it (and
 *    `emptySnapshot` gains the empty map);
 * 3. in diff.ts, one more entry in `SECTIONS`: the word for the kind (`enum`) and, where two
 *    versions can differ in parts, a function that lists them (`~ type public.mood: + label x`).
 *
 * Objects pgstack knows that no migration creates (known.ts) are classified there, by kind and
 * name, so a new kind's foreign bookkeeping is one more entry. Changing the shape bumps the
 * declared cache's `CACHE_FORMAT` (declared.ts).
 */

/** A column: type as `format_type` prints it, nullability and default (`identity` for identity columns). */
export interface ColumnStructure {
  type: string;
  /** The column's own `attnotnull`: a NOT NULL is never also a constraint (PostgreSQL 18 lists those in pg_constraint). */
  nullable: boolean;
  default: string | null;
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
  /** pgstack's history, oldest first (empty when pgstack never ran here, or when not read). */
  history: HistoryEntry[];
}
