/**
 * The one schema model: what a database's schema *is*, keyed by name, as plain JSON (so it can be
 * cached and compared). {@link readSchema} reads it from the catalogs; {@link diffSchemas}
 * compares two of them. Every feature that looks at structure (drift, adoption, the review, the
 * rehearsal, the environment diff) uses this model, so it grows in one place.
 */

/** A column: type as `format_type` prints it, nullability and default (`identity` for identity columns). */
export interface ColumnStructure {
  type: string;
  nullable: boolean;
  default: string | null;
}

/** A table, every part keyed by name so that a comparison never depends on position. */
export interface TableStructure {
  owner: string;
  /** Column name → its definition. Keys are in the table's column order. */
  columns: Record<string, ColumnStructure>;
  /** Constraint name → `pg_get_constraintdef` (primary keys, foreign keys, unique, check, exclusion). */
  constraints: Record<string, string>;
  /** Index name → `pg_get_indexdef`, for indexes that no constraint owns (those show as constraints). */
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
  /** pgstack's history, oldest first (empty when pgstack never ran here). */
  history: HistoryEntry[];
}

