/**
 * The one catalog reader: what a database's schema *is*, keyed by name, for comparing two
 * databases (live against declared, before and after a migration, one stack against another)
 * and for the inventory, which is a view of it. Row counts are left out (the inventory reads
 * those itself); pgstack's migration history is read too, so a history that differs from the
 * files shows as well.
 */
import type pg from "pg";
import { connect, type ConnectionOptions } from "../connection.js";
import { historyExists } from "../history.js";
import { quoteLiteral } from "../identifiers.js";
import { PGSTACK_SCHEMA } from "./known.js";
import type { ConstraintKind, ConstraintStructure, HistoryEntry, SchemaSnapshot, TableStructure, ViewStructure } from "./model.js";
import { fillObjects, notExtensionMember, objectQueries, sorted } from "./read-objects.js";

/** Options for {@link readSchema}. */
export interface StructureOptions {
  /** Only these schemas. Default: every user schema except pgstack's own. */
  schemas?: readonly string[];
  /** Also read pgstack's migration history (default true; one or two more round trips). */
  history?: boolean;
  /**
   * How to open another session on the same database. With it, a schema of at least
   * {@link StructureOptions.parallelFrom} tables is read over two sessions sharing one snapshot:
   * the constraints (their definitions and their indexes' are a third of the server's work on a
   * large schema) on the second. `client` must then not be in a transaction. A session that
   * cannot be opened (the server's connection limit) leaves its part to `client`.
   */
  helpers?: ConnectionOptions;
  /** The tables from which {@link StructureOptions.helpers} are used (default {@link PARALLEL_FROM_TABLES}). */
  parallelFrom?: number;
}

/**
 * Below this many tables one session reads the schema: another connection would cost more than it
 * saves. 2,000 tables on a fresh connection: 336–339 ms in one session, 279–283 ms in two (the
 * constraints apart; the indexes apart too, in a third, took 294–307 ms on two CPUs).
 */
export const PARALLEL_FROM_TABLES = 500;

/** Indexes into {@link readSchema}'s queries of the parts helper sessions take: the constraints. */
const HELPER_PARTS = [[2]];

const KINDS: Record<string, ConstraintKind> = { p: "primary key", f: "foreign key", u: "unique", c: "check", x: "exclusion" };
const ON_DELETE: Record<string, string> = { a: "no action", r: "restrict", c: "cascade", n: "set null", d: "set default" };

/** The SQL of {@link readSchema}'s tables: one statement per result set, in this order. */
function tableQueries(schemaFilter: string): string[] {
  // Tables an extension owns (PostGIS' spatial_ref_sys) are the extension's.
  const owned = notExtensionMember("pg_class", "c.oid");
  const relsOf = (kinds: string) => `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN (${kinds}) AND ${schemaFilter} AND ${owned}`;
  const rels = relsOf("'r', 'p'");
  const names = (arr: string, rel: string) =>
    `ARRAY(SELECT quote_ident(a.attname) FROM unnest(${arr}) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = ${rel} AND a.attnum = k.n ORDER BY k.i)::text[]`;
  return [
    `SELECT c.oid::int8 AS oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS key, pg_get_userbyid(c.relowner) AS owner,
           (SELECT json_object_agg(g.grantee, g.privileges) FROM (
              SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END AS grantee,
                     string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type) AS privileges
                FROM aclexplode(c.relacl) x WHERE x.grantee <> c.relowner GROUP BY x.grantee) g) AS grants,
           CASE WHEN c.relrowsecurity THEN 'enabled' || CASE WHEN c.relforcerowsecurity THEN ', forced' ELSE '' END END AS row_security,
           CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
           CASE WHEN c.relispartition THEN (SELECT quote_ident(pn.nspname) || '.' || quote_ident(pc.relname) FROM pg_inherits i
                JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace WHERE i.inhrelid = c.oid) END AS partition_of,
           CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound,
           ds.description AS comment
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_description ds ON ds.objoid = c.oid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = 0
     WHERE c.relkind IN ('r', 'p') AND ${schemaFilter} AND ${owned}`,
    `SELECT a.attrelid::int8 AS oid, a.attnum AS num, quote_ident(a.attname) AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
           -- A plain default cannot reference columns, so it needs no relation to deparse (passing
           -- one makes Postgres open every table); a generated column's expression can.
           CASE WHEN a.attidentity <> '' THEN 'identity'
                WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid)
                ELSE pg_get_expr(d.adbin, 0) END AS "default",
           a.attidentity AS identity, a.attgenerated AS generated,
           -- Most columns have no collation (0) or the default one (100): only the others look further.
           CASE WHEN a.attcollation NOT IN (0, 100) AND a.attcollation <> (SELECT ty.typcollation FROM pg_type ty WHERE ty.oid = a.atttypid)
                THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation)
           END AS collation,
           ds.description AS comment
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      LEFT JOIN pg_description ds ON ds.objoid = a.attrelid AND ds.classoid = 'pg_class'::regclass AND ds.objsubid = a.attnum
     WHERE a.attrelid IN (${rels}) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attrelid, a.attnum`,
    // The five table constraint kinds: PostgreSQL 18's NOT NULL constraints ('n') are the
    // columns' nullability, and constraint triggers ('t') are triggers.
    `SELECT co.conrelid::int8 AS oid, quote_ident(co.conname) AS name, co.contype AS kind, pg_get_constraintdef(co.oid) AS definition,
           -- The key columns' numbers: their names come from the columns result (a subquery per
           -- row costs more than the rest of this query). Only a key on a system column or a
           -- whole-row reference (a number <= 0) is named here.
           co.conkey AS keys,
           CASE WHEN co.conkey IS NOT NULL AND NOT 0 < ALL (co.conkey) THEN ${names("co.conkey", "co.conrelid")} END AS columns,
           CASE WHEN co.contype = 'f' THEN quote_ident(fn.nspname) || '.' || quote_ident(fc.relname) END AS ref_table,
           CASE WHEN co.contype = 'f' THEN ${names("co.confkey", "co.confrelid")} END AS ref_columns,
           co.confdeltype AS on_delete,
           CASE WHEN co.contype IN ('p', 'u', 'x') AND co.conindid <> 0 THEN pg_get_indexdef(co.conindid) END AS index
      FROM pg_constraint co
      LEFT JOIN pg_class fc ON fc.oid = co.confrelid
      LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
     WHERE co.conrelid IN (${rels}) AND co.contype IN ('p', 'f', 'u', 'c', 'x')`,
    // Tables' and materialized views' indexes.
    `SELECT i.indrelid::int8 AS oid, quote_ident(n.nspname) || '.' || quote_ident(ic.relname) AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
     WHERE i.indrelid IN (${relsOf("'r', 'p', 'm'")}) AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid)`,
  ];
}

/** The SQL condition on `n.nspname` for {@link StructureOptions.schemas}. */
export function schemaCondition(schemas: readonly string[] | undefined): string {
  return schemas
    ? `n.nspname IN (${schemas.map(quoteLiteral).join(", ") || "NULL"})`
    : `n.nspname NOT IN ('pg_catalog', 'information_schema', ${quoteLiteral(PGSTACK_SCHEMA)}) AND n.nspname NOT LIKE 'pg\\_%'`;
}

/**
 * Reads every kind (tables with their columns, constraints, indexes, owners and grants, and the
 * kinds of read-objects.ts) in one multi-statement message (one round trip), then the history.
 * With {@link StructureOptions.helpers}, in one snapshot over one or two sessions (two round trips).
 */
export async function readSchema(client: pg.Client, options: StructureOptions = {}): Promise<SchemaSnapshot> {
  // Catalog text (defaults, constraint and index definitions) is deparsed with an empty
  // search_path, so it is schema-qualified the same way whatever the session's path. The path is
  // saved and restored in the same message, so this also runs inside a caller's transaction (the
  // reset's) without ending it or changing its path; on an error the SET is rolled back.
  const filter = schemaCondition(options.schemas);
  const queries = [...tableQueries(filter), ...objectQueries(filter)];
  const results = options.helpers ? await readShared(client, queries, filter, options.helpers, options.parallelFrom ?? PARALLEL_FROM_TABLES) : await readAlone(client, queries);
  const [tablesRes, columnsRes, constraintsRes, indexesRes, ...objectResults] = results;
  if (!tablesRes || !columnsRes || !constraintsRes || !indexesRes || objectResults.length !== objectQueries(filter).length) {
    throw new Error("internal: structural introspection returned too few result sets");
  }

  type TableRow = { oid: string; key: string; owner: string; grants: Record<string, string> | null; row_security: string | null; partition_key: string | null; partition_of: string | null; partition_bound: string | null; comment: string | null };
  const byOid = new Map<string, { key: string; table: TableStructure }>();
  for (const r of tablesRes.rows as TableRow[]) {
    const table: TableStructure = { owner: r.owner, columns: {}, constraints: {}, indexes: {}, grants: r.grants ?? {} };
    // Optional parts only when set: a plain table's JSON stays what it was.
    if (r.row_security !== null) table.rowSecurity = r.row_security;
    if (r.partition_key !== null) table.partitionKey = r.partition_key;
    if (r.partition_of !== null) table.partitionOf = r.partition_of;
    if (r.partition_bound !== null) table.partitionBound = r.partition_bound;
    if (r.comment !== null) table.comment = r.comment;
    byOid.set(r.oid, { key: r.key, table });
  }
  // Column names by table and number, for the constraints' keys.
  const columnNames = new Map<string, Map<number, string>>();
  type ColumnRow = { oid: string; num: number; name: string; type: string; nullable: boolean; default: string | null; identity: string; generated: string; collation: string | null; comment: string | null };
  for (const r of columnsRes.rows as ColumnRow[]) {
    const t = byOid.get(r.oid)?.table;
    if (!t) continue;
    const c: TableStructure["columns"][string] = { type: r.type, nullable: r.nullable, default: r.default };
    if (r.identity) c.identity = r.identity === "a" ? "always" : "by default";
    if (r.generated) c.generated = r.generated === "v" ? "virtual" : "stored";
    if (r.collation !== null) c.collation = r.collation;
    if (r.comment !== null) c.comment = r.comment;
    t.columns[r.name] = c;
    let names = columnNames.get(r.oid);
    if (!names) columnNames.set(r.oid, (names = new Map()));
    names.set(r.num, r.name);
  }
  type ConstraintRow = { oid: string; name: string; kind: string; definition: string; keys: number[] | null; columns: string[] | null; ref_table: string | null; ref_columns: string[] | null; on_delete: string; index: string | null };
  for (const r of constraintsRes.rows as ConstraintRow[]) {
    const t = byOid.get(r.oid)?.table;
    if (!t) continue;
    const names = columnNames.get(r.oid);
    const columns = r.columns ?? (r.keys ?? []).flatMap((k) => names?.get(k) ?? []);
    const c: ConstraintStructure = { kind: KINDS[r.kind] ?? "check", definition: r.definition, columns };
    if (r.ref_table !== null) c.references = { table: r.ref_table, columns: r.ref_columns ?? [], onDelete: ON_DELETE[r.on_delete] ?? r.on_delete };
    if (r.index !== null) c.index = r.index;
    t.constraints[r.name] = c;
  }
  const viewsByOid = new Map<string, { key: string; view: ViewStructure }>();
  const objects = fillObjects(objectResults, viewsByOid);
  for (const r of indexesRes.rows as { oid: string; name: string; definition: string }[]) {
    const t = byOid.get(r.oid)?.table;
    if (t) t.indexes[r.name] = r.definition;
    const v = viewsByOid.get(r.oid)?.view;
    if (v) v.indexes = { ...v.indexes, [r.name]: r.definition };
  }
  const tables: Record<string, TableStructure> = {};
  for (const { key, table } of [...byOid.values()].sort((a, b) => cmp(a.key, b.key))) {
    tables[key] = { ...table, constraints: sorted(table.constraints), indexes: sorted(table.indexes), grants: sorted(table.grants) };
  }
  const views = sorted(Object.fromEntries([...viewsByOid.values()].map(({ key, view }) => [key, view.indexes ? { ...view, indexes: sorted(view.indexes) } : view])));
  return { ...objects, tables, views, history: options.history === false ? [] : await readHistoryEntries(client) };
}

/** Every query's result, in one message on `client`, whatever transaction it is in. */
async function readAlone(client: pg.Client, queries: readonly string[]): Promise<pg.QueryResult[]> {
  const results = (await client.query(
    `SELECT set_config('pgstack.saved_search_path', current_setting('search_path'), false);
     SELECT set_config('search_path', '', false);
     ${queries.join(";\n")};
     SELECT set_config('search_path', current_setting('pgstack.saved_search_path'), false);`,
  )) as unknown as pg.QueryResult[];
  return results.slice(2, -1);
}

/**
 * Every query's result, in one read-only snapshot that `client` exports: for a large schema, the
 * {@link HELPER_PARTS} on sessions of their own that import it (as `pg_dump -j` does), the rest on
 * `client`. The search path is set for the transaction only, so nothing is left to restore.
 */
async function readShared(client: pg.Client, queries: readonly string[], filter: string, helpers: ConnectionOptions, from: number): Promise<pg.QueryResult[]> {
  let head: { snapshot: string; tables: number } | undefined;
  try {
    const res = (await client.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;
       SELECT pg_export_snapshot() AS snapshot,
              (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND ${filter})::int AS tables`,
    )) as unknown as pg.QueryResult<{ snapshot: string; tables: number }>[];
    head = res[1]?.rows[0];
  } catch {
    // A server that cannot export a snapshot here: the one-session read.
    await client.query("ROLLBACK").catch(() => undefined);
    return readAlone(client, queries);
  }
  const opened: (pg.Client | undefined)[] = [];
  try {
    const parts = head && head.tables >= from ? HELPER_PARTS : [];
    opened.push(...(await Promise.all(parts.map(() => connect(helpers, { retryDelaysMs: [] }).catch(() => undefined)))));
    const shared = parts.flatMap((part, k) => (opened[k] ? [{ part, session: opened[k] }] : []));
    const mine = queries.map((_, i) => i).filter((i) => !shared.some(({ part }) => part.includes(i)));
    const local = "SELECT set_config('search_path', '', true)";
    const run = async (c: pg.Client, indexes: readonly number[], prefix: readonly string[]) => {
      const out = (await c.query([...prefix, local, ...indexes.map((i) => queries[i])].join(";\n"))) as unknown as pg.QueryResult[];
      return out.slice(prefix.length + 1).map((r, k) => [indexes[k] as number, r] as const);
    };
    const importing = ["BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", `SET TRANSACTION SNAPSHOT ${quoteLiteral(head?.snapshot ?? "")}`];
    const done = await Promise.all([run(client, mine, []), ...shared.map(({ part, session }) => run(session, part, importing))]);
    const results: pg.QueryResult[] = [];
    for (const [i, r] of done.flat()) results[i] = r;
    return results;
  } finally {
    await Promise.all(opened.map((c) => c?.end().catch(() => undefined)));
    // Read-only: COMMIT only ends it (and after a failed statement, rolls it back).
    await client.query("COMMIT");
  }
}

/** The history as `{id, name, checksum}`, oldest first; empty when the table does not exist. */
async function readHistoryEntries(client: pg.Client): Promise<HistoryEntry[]> {
  if (!(await historyExists(client))) return [];
  const { rows } = await client.query<{ id: string; name: string; checksum: string }>(
    "SELECT id::int8 AS id, name, checksum FROM pgstack.migrations ORDER BY id",
  );
  return rows.map((r) => ({ id: Number(r.id), name: r.name, checksum: r.checksum }));
}

/** By code unit, so the order is the same on every machine. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The keys of the tables {@link readSchema} reads (`schema.table`, quoted as it quotes them),
 * without their structure: one light query, for callers that only need to know which tables exist
 * (adoption's build narrows which versions it reads in full by it).
 */
export async function readTableKeys(client: pg.Client, options: Pick<StructureOptions, "schemas"> = {}): Promise<string[]> {
  const { rows } = await client.query<{ key: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS key FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${schemaCondition(options.schemas)}`,
  );
  return rows.map((r) => r.key).sort(cmp);
}
