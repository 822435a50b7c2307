/**
 * The inventory: what a database holds, table by table, with row counts and a stable fingerprint
 * of its structure, for the stack outputs, the reset, adoption and the review. A view of the one
 * schema model ({@link readSchema}) plus its own size query; pgstack's own schema is left out.
 */
import type pg from "pg";
import { parseQualifiedName, qualified } from "./identifiers.js";
import type { ConnectionOptions } from "./connection.js";
import { readSchema, schemaCondition, type StructureOptions } from "./schema/read.js";
import type { SchemaSnapshot, TableStructure } from "./schema/model.js";
import { sha256 } from "./source.js";

/** A column as Postgres reports it. */
export interface ColumnInfo {
  name: string;
  /** `format_type` output, e.g. `character varying(255)`, `timestamp with time zone`. */
  type: string;
  nullable: boolean;
  /** The default expression, or null. Identity columns show `identity`. */
  default: string | null;
}

/** A foreign key, `from` columns on this table to `to` columns on another. */
export interface ForeignKeyInfo {
  name: string;
  columns: string[];
  references: { schema: string; table: string; columns: string[] };
  /** `no action`, `restrict`, `cascade`, `set null` or `set default`. */
  onDelete: string;
}

/** An index, with Postgres' own definition text. */
export interface IndexInfo {
  name: string;
  unique: boolean;
  primary: boolean;
  definition: string;
}

/** A table and everything pgstack reports about it. */
export interface TableInfo {
  schema: string;
  name: string;
  owner: string;
  /**
   * Postgres' estimate: reltuples scaled to the table's current size as the planner does, or the
   * live-tuple statistic before the first ANALYZE or VACUUM (see {@link estimateRows}).
   */
  estimatedRows: number;
  /** An exact `count(*)`: present for every table with `exactCounts`, for small ones with `exactCountBelow`. */
  exactRows?: number;
  columns: ColumnInfo[];
  /** Primary-key columns in key order; empty when there is none. */
  primaryKey: string[];
  foreignKeys: ForeignKeyInfo[];
  /** Unique and check constraints, as `name: definition`. */
  constraints: string[];
  /** Privileges granted to roles other than the owner, as `role: PRIV, PRIV` (`PUBLIC` for everyone), sorted. */
  grants: string[];
  indexes: IndexInfo[];
}

/** The result of {@link introspect}. */
export interface Inventory {
  /** Sorted by schema, then name. */
  tables: TableInfo[];
  /** sha256 over the normalized structure (no row counts), stable across runs and servers. */
  fingerprint: string;
  /** The whole schema model it is a view of (every kind, not only tables), for comparisons. */
  snapshot: SchemaSnapshot;
}

/** Options for {@link introspect}. */
export interface IntrospectOptions {
  /** Only these schemas. Default: every user schema except pgstack's own. */
  schemas?: readonly string[];
  /** Also run `count(*)` on every table (one extra round trip). */
  exactCounts?: boolean;
  /**
   * Run `count(*)` (one extra round trip) on the tables that can hold at most this many rows by
   * Postgres' own figures (see {@link estimateRows}); larger tables keep their estimate. Tables
   * the connection may not read keep their estimate too. E.g. {@link DEFAULT_EXACT_COUNT_THRESHOLD}.
   */
  exactCountBelow?: number;
  /**
   * Also read pgstack's history into the snapshot, so the snapshot can stand for the live side
   * of a drift check ({@link readSchema}'s default) and the database is read once, not twice.
   */
  history?: boolean;
  /** A second session for a large schema's read (see {@link StructureOptions.helpers}); `client` must not be in a transaction. */
  helpers?: ConnectionOptions;
}

/**
 * The inventory's default for {@link IntrospectOptions.exactCountBelow}: counting 100k rows takes
 * tens of milliseconds, and tables that small are where an estimate before ANALYZE says `~0`.
 */
export const DEFAULT_EXACT_COUNT_THRESHOLD = 100_000;

/** What the size query says about one table. */
interface TableSize {
  facts: SizeFacts;
  /** Whether this connection may `count(*)` it. */
  readable: boolean;
}

/**
 * The structure from {@link readSchema} (one round trip), the sizes (one more), and exact counts
 * where asked (one more).
 */
export async function introspect(client: pg.Client, options: IntrospectOptions = {}): Promise<Inventory> {
  const snapshot = await readSchema(client, { ...(options.schemas ? { schemas: options.schemas } : {}), ...(options.helpers ? { helpers: options.helpers } : {}), history: options.history ?? false });
  const sizes = await readSizes(client, options.schemas);
  const tables = inventoryTables(snapshot);
  const small: TableInfo[] = [];
  for (const [i, key] of Object.keys(snapshot.tables).entries()) {
    const t = tables[i]!;
    const size = sizes.get(key);
    const estimate = size ? estimateRows(size.facts) : { rows: 0, atMost: 0 };
    t.estimatedRows = estimate.rows;
    if (options.exactCountBelow !== undefined && size?.readable && estimate.atMost <= options.exactCountBelow) small.push(t);
  }
  if (options.exactCounts) await countRows(client, tables);
  else await countRows(client, small);
  return { tables, fingerprint: fingerprintOf(tables), snapshot };
}

/** Row statistics and sizes of the tables, keyed as the snapshot keys them. */
async function readSizes(client: pg.Client, schemas: readonly string[] | undefined): Promise<Map<string, TableSize>> {
  const { rows } = await client.query<{ key: string; reltuples: number; relpages: number; live: string; pages: string; block_size: number; readable: boolean }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS key,
            c.reltuples::float8 AS reltuples, c.relpages AS relpages, pg_stat_get_live_tuples(c.oid) AS live,
            -- The size now, in pages (a partitioned table's is its partitions'): reltuples/relpages
            -- date from the last ANALYZE or VACUUM, the file size does not.
            (CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_relation_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p)
                  ELSE pg_relation_size(c.oid) END / current_setting('block_size')::int)::int8 AS pages,
            current_setting('block_size')::int AS block_size,
            has_table_privilege(c.oid, 'SELECT') AS readable
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${schemaCondition(schemas)}`,
  );
  return new Map(
    rows.map((r) => [
      r.key,
      { facts: { reltuples: r.reltuples, relpages: r.relpages, pages: Number(r.pages), live: Number(r.live), blockSize: r.block_size }, readable: r.readable },
    ]),
  );
}

/** The snapshot's tables as the inventory shows them (names as the catalogs spell them), rows not yet known. */
export function inventoryTables(snapshot: SchemaSnapshot): TableInfo[] {
  return Object.entries(snapshot.tables).map(([key, t]) => tableInfo(key, t));
}

function tableInfo(key: string, t: TableStructure): TableInfo {
  const [schema, name] = nameParts(key);
  const info: TableInfo = {
    schema,
    name,
    owner: t.owner,
    estimatedRows: 0,
    columns: Object.entries(t.columns).map(([col, c]) => ({ name: unquote(col), type: c.type, nullable: c.nullable, default: c.default })),
    primaryKey: [],
    foreignKeys: [],
    constraints: [],
    grants: Object.entries(t.grants).map(([grantee, privileges]) => `${grantee}: ${privileges}`),
    indexes: Object.entries(t.indexes).map(([index, definition]) => ({ name: nameParts(index)[1], unique: definition.startsWith("CREATE UNIQUE INDEX"), primary: false, definition })),
  };
  for (const [quoted, c] of Object.entries(t.constraints)) {
    const conname = unquote(quoted);
    if (c.index !== undefined) info.indexes.push({ name: conname, unique: c.kind !== "exclusion", primary: c.kind === "primary key", definition: c.index });
    if (c.kind === "primary key") info.primaryKey = c.columns.map(unquote);
    else if (c.kind === "foreign key" && c.references) {
      const [refSchema, refTable] = nameParts(c.references.table);
      info.foreignKeys.push({
        name: conname,
        columns: c.columns.map(unquote),
        references: { schema: refSchema, table: refTable, columns: c.references.columns.map(unquote) },
        onDelete: c.references.onDelete,
      });
    } else if (c.kind !== "foreign key") info.constraints.push(`${conname}: ${c.definition}`);
  }
  info.foreignKeys.sort((a, b) => cmp(a.name, b.name));
  info.constraints.sort(cmp);
  info.indexes.sort((a, b) => cmp(a.name, b.name));
  return info;
}

/** A snapshot key's parts as the catalogs spell them: `public."b-x"` → `public`, `b-x`. */
function nameParts(key: string): [string, string] {
  const parsed = parseQualifiedName(key);
  if (!parsed.ok || parsed.parts.length !== 2) throw new Error(`internal: the snapshot key ${key} is not schema.name`);
  return parsed.parts as [string, string];
}

/** A `quote_ident` spelling back to the name: `"Email"` → `Email`. */
function unquote(ident: string): string {
  const parsed = parseQualifiedName(ident);
  if (!parsed.ok || parsed.parts.length !== 1) throw new Error(`internal: ${ident} is not one identifier`);
  return parsed.parts[0]!;
}

/** What Postgres' catalog and statistics say about a table's size. */
export interface SizeFacts {
  /** pg_class.reltuples at the last ANALYZE/VACUUM; -1 when never done. */
  reltuples: number;
  /** pg_class.relpages at that time. */
  relpages: number;
  /** The table's size now, in pages. */
  pages: number;
  /** pg_stat live tuples (kept up to date by inserts and deletes, flushed about once a second). */
  live: number;
  /** The server's block size (8192). */
  blockSize: number;
}

/**
 * A table's row estimate, and the most rows it can hold. With a density from the last ANALYZE
 * (`reltuples / relpages`) the estimate scales it to the current size, as the planner does, and
 * serves as the bound. Without one (never analyzed, or analyzed while empty) the estimate is the
 * live-tuple statistic, and the bound is the current pages times the most tuples a page can
 * hold: so a fresh table of 621 rows is known to be small, though its estimate may still be 0.
 */
export function estimateRows(f: SizeFacts): { rows: number; atMost: number } {
  if (f.relpages > 0 && f.reltuples >= 0) {
    const rows = Math.round((f.reltuples / f.relpages) * f.pages);
    return { rows, atMost: rows };
  }
  const rows = Math.max(0, f.reltuples, f.live);
  // MaxHeapTuplesPerPage: a page header (24 bytes), then per tuple a 4-byte line pointer and a 24-byte header at least.
  const perPage = Math.floor((f.blockSize - 24) / 28);
  return { rows, atMost: Math.max(rows, f.pages * perPage) };
}

/** A table's row count for people: exact (`621`), or an estimate marked with `~` (`~620`). */
export function formatRowCount(t: Pick<TableInfo, "estimatedRows" | "exactRows">): string {
  return t.exactRows !== undefined ? String(t.exactRows) : `~${t.estimatedRows}`;
}

/** Exact `count(*)` for every table, in one round trip. */
export async function countRows(client: pg.Client, tables: TableInfo[]): Promise<void> {
  if (tables.length === 0) return;
  const sql = tables.map((t, i) => `SELECT ${i} AS i, count(*)::int8 AS n FROM ${qualified(t.schema, t.name)}`).join(" UNION ALL ");
  const { rows } = await client.query<{ i: number; n: string }>(sql);
  for (const r of rows) {
    const t = tables[r.i];
    if (t) t.exactRows = Number(r.n);
  }
}

/**
 * The structure's fingerprint. Row counts, owners and grants are left out: they change without
 * the schema changing (grants are compared with the config instead). Column order is kept: it is
 * part of a table's definition.
 */
export function fingerprintOf(tables: readonly TableInfo[]): string {
  const normalized = tables.map((t) => ({
    table: `${t.schema}.${t.name}`,
    columns: t.columns.map((c) => [c.name, c.type, c.nullable, c.default]),
    primaryKey: t.primaryKey,
    foreignKeys: t.foreignKeys.map((f) => [f.name, f.columns, f.references, f.onDelete]),
    constraints: t.constraints,
    indexes: t.indexes.map((i) => i.definition),
  }));
  return sha256(JSON.stringify(normalized));
}

/** `a < b` as -1/0/1, by code unit (locale-independent, so stable everywhere). */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
