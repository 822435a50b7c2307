/**
 * Introspection: what a database holds, read from pg_catalog in one round trip whatever the
 * table count, plus a stable fingerprint of its structure. pgstack's own schema is left out.
 */
import type pg from "pg";
import { PGSTACK_SCHEMA } from "./history.js";
import { quoteLiteral, qualified } from "./identifiers.js";
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
}

/**
 * The inventory's default for {@link IntrospectOptions.exactCountBelow}: counting 100k rows takes
 * tens of milliseconds, and tables that small are where an estimate before ANALYZE says `~0`.
 */
export const DEFAULT_EXACT_COUNT_THRESHOLD = 100_000;

const DELETE_ACTIONS: Record<string, string> = {
  a: "no action",
  r: "restrict",
  c: "cascade",
  n: "set null",
  d: "set default",
};

/**
 * Reads tables, columns, keys, foreign keys, indexes and row estimates in a single
 * multi-statement message (four result sets, one round trip).
 */
export async function introspect(client: pg.Client, options: IntrospectOptions = {}): Promise<Inventory> {
  const schemaFilter = options.schemas
    ? `n.nspname IN (${options.schemas.map(quoteLiteral).join(", ") || "NULL"})`
    : `n.nspname NOT IN ('pg_catalog', 'information_schema', ${quoteLiteral(PGSTACK_SCHEMA)}) AND n.nspname NOT LIKE 'pg\\_%'`;
  // The CTE is repeated per statement: simple-protocol statements cannot share one.
  const rels = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND ${schemaFilter}`;
  const sql = `
    SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, pg_get_userbyid(c.relowner) AS owner,
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::int8 ELSE pg_stat_get_live_tuples(c.oid) END AS rows,
           c.reltuples::float8 AS reltuples, c.relpages AS relpages, pg_stat_get_live_tuples(c.oid) AS live,
           -- The size now, in pages (a partitioned table's is its partitions'): reltuples/relpages
           -- date from the last ANALYZE or VACUUM, the file size does not.
           (CASE WHEN c.relkind = 'p' THEN (SELECT coalesce(sum(pg_relation_size(p.relid)), 0) FROM pg_partition_tree(c.oid) p)
                 ELSE pg_relation_size(c.oid) END / current_setting('block_size')::int)::int8 AS pages,
           current_setting('block_size')::int AS block_size,
           has_table_privilege(c.oid, 'SELECT') AS readable,
           ARRAY(SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || ': '
                        || string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type)
                   FROM aclexplode(c.relacl) x WHERE x.grantee <> c.relowner GROUP BY x.grantee ORDER BY 1)::text[] AS grants
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ${schemaFilter};
    SELECT a.attrelid::int8 AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           NOT a.attnotnull AS nullable,
           -- A plain default cannot reference columns, so no relation is needed to deparse it (and
           -- passing one makes Postgres open every table); a generated column's expression can.
           CASE WHEN a.attidentity <> '' THEN 'identity'
                WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid)
                ELSE pg_get_expr(d.adbin, 0) END AS "default"
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid IN (${rels}) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attrelid, a.attnum;
    SELECT co.conrelid::int8 AS oid, co.conname AS name, co.contype AS type, CASE WHEN co.contype IN ('u', 'c', 'x') THEN pg_get_constraintdef(co.oid) END AS definition,
           ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS columns,
           fn.nspname AS ref_schema, fc.relname AS ref_table,
           ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(n, i)
                   JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS ref_columns,
           co.confdeltype AS on_delete
      FROM pg_constraint co
      LEFT JOIN pg_class fc ON fc.oid = co.confrelid
      LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
     WHERE co.conrelid IN (${rels}) AND co.contype IN ('p', 'f', 'u', 'c', 'x');
    SELECT i.indrelid::int8 AS oid, ic.relname AS name, i.indisunique AS unique, i.indisprimary AS primary,
           pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid IN (${rels});`;
  const results = (await client.query(sql)) as unknown as pg.QueryResult[];
  const [tablesRes, columnsRes, constraintsRes, indexesRes] = results;
  if (!tablesRes || !columnsRes || !constraintsRes || !indexesRes) throw new Error("internal: introspection returned too few result sets");

  const byOid = new Map<string, TableInfo>();
  /** Tables small enough to count exactly under `exactCountBelow`. */
  const small = new Set<string>();
  type TableRow = { oid: string; schema: string; name: string; owner: string; grants: string[]; reltuples: number; relpages: number; live: string; pages: string; block_size: number; readable: boolean };
  for (const r of tablesRes.rows as TableRow[]) {
    const estimate = estimateRows({ reltuples: r.reltuples, relpages: r.relpages, pages: Number(r.pages), live: Number(r.live), blockSize: r.block_size });
    if (options.exactCountBelow !== undefined && r.readable && estimate.atMost <= options.exactCountBelow) small.add(r.oid);
    byOid.set(r.oid, {
      schema: r.schema,
      name: r.name,
      owner: r.owner,
      estimatedRows: estimate.rows,
      columns: [],
      primaryKey: [],
      foreignKeys: [],
      constraints: [],
      indexes: [],
      grants: r.grants,
    });
  }
  for (const r of columnsRes.rows as { oid: string; name: string; type: string; nullable: boolean; default: string | null }[]) {
    byOid.get(r.oid)?.columns.push({ name: r.name, type: r.type, nullable: r.nullable, default: r.default });
  }
  for (const r of constraintsRes.rows as {
    oid: string;
    name: string;
    type: string;
    definition: string;
    columns: string[];
    ref_schema: string | null;
    ref_table: string | null;
    ref_columns: string[];
    on_delete: string;
  }[]) {
    const t = byOid.get(r.oid);
    if (!t) continue;
    if (r.type === "p") t.primaryKey = r.columns;
    else if (r.type === "f") {
      t.foreignKeys.push({
        name: r.name,
        columns: r.columns,
        references: { schema: r.ref_schema ?? "", table: r.ref_table ?? "", columns: r.ref_columns },
        onDelete: DELETE_ACTIONS[r.on_delete] ?? r.on_delete,
      });
    } else t.constraints.push(`${r.name}: ${r.definition}`);
  }
  for (const r of indexesRes.rows as { oid: string; name: string; unique: boolean; primary: boolean; definition: string }[]) {
    byOid.get(r.oid)?.indexes.push({ name: r.name, unique: r.unique, primary: r.primary, definition: r.definition });
  }

  const tables = [...byOid.values()].sort((a, b) => cmp(a.schema, b.schema) || cmp(a.name, b.name));
  for (const t of tables) {
    t.foreignKeys.sort((a, b) => cmp(a.name, b.name));
    t.constraints.sort(cmp);
    t.indexes.sort((a, b) => cmp(a.name, b.name));
  }
  if (options.exactCounts) await countRows(client, tables);
  else if (small.size > 0) await countRows(client, [...byOid].filter(([oid]) => small.has(oid)).map(([, t]) => t));
  return { tables, fingerprint: fingerprintOf(tables) };
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
