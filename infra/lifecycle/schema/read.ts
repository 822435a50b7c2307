/**
 * Structural introspection: what a database's schema *is*, keyed by name, for comparing two
 * databases (live against declared, or one stack against another). Row counts are left out; the
 * migration history is read too, so a history that differs from the files shows as well.
 */
import type pg from "pg";
import { historyExists, PGSTACK_SCHEMA } from "../history.js";
import { quoteLiteral } from "../identifiers.js";
import type { HistoryEntry, SchemaSnapshot, TableStructure } from "./model.js";

/** Options for {@link readSchema}. */
export interface StructureOptions {
  /** Only these schemas. Default: every user schema except pgstack's own. */
  schemas?: readonly string[];
}

/**
 * Reads tables, columns, constraints, indexes, owners and grants in one multi-statement message
 * (four result sets, one round trip), then the history.
 */
export async function readSchema(client: pg.Client, options: StructureOptions = {}): Promise<SchemaSnapshot> {
  const schemaFilter = options.schemas
    ? `n.nspname IN (${options.schemas.map(quoteLiteral).join(", ") || "NULL"})`
    : `n.nspname NOT IN ('pg_catalog', 'information_schema', ${quoteLiteral(PGSTACK_SCHEMA)}) AND n.nspname NOT LIKE 'pg\\_%'`;
  const rels = `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND ${schemaFilter}`;
  // Catalog text (defaults, constraint and index definitions) is deparsed with an empty
  // search_path, so it is schema-qualified the same way whatever the session's path.
  const sql = `
    SET LOCAL search_path = '';
    SELECT c.oid::int8 AS oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS key, pg_get_userbyid(c.relowner) AS owner,
           ARRAY(SELECT CASE WHEN x.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(x.grantee) END || '=' ||
                        string_agg(x.privilege_type, ', ' ORDER BY x.privilege_type)
                   FROM aclexplode(c.relacl) x WHERE x.grantee <> c.relowner GROUP BY x.grantee ORDER BY 1)::text[] AS grants
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ${schemaFilter};
    SELECT a.attrelid::int8 AS oid, quote_ident(a.attname) AS name, format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS nullable,
           -- A plain default cannot reference columns, so it needs no relation to deparse (passing
           -- one makes Postgres open every table); a generated column's expression can.
           CASE WHEN a.attidentity <> '' THEN 'identity'
                WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid)
                ELSE pg_get_expr(d.adbin, 0) END AS "default"
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid IN (${rels}) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attrelid, a.attnum;
    SELECT co.conrelid::int8 AS oid, quote_ident(co.conname) AS name, pg_get_constraintdef(co.oid) AS definition
      FROM pg_constraint co WHERE co.conrelid IN (${rels});
    SELECT i.indrelid::int8 AS oid, quote_ident(n.nspname) || '.' || quote_ident(ic.relname) AS name, pg_get_indexdef(i.indexrelid) AS definition
      FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
     WHERE i.indrelid IN (${rels}) AND NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = i.indrelid);`;
  // SET LOCAL needs a transaction; a read-only one changes nothing.
  let results: pg.QueryResult[];
  try {
    results = (await client.query(`BEGIN READ ONLY; ${sql} COMMIT;`)) as unknown as pg.QueryResult[];
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  const [tablesRes, columnsRes, constraintsRes, indexesRes] = results.filter((r) => r.command === "SELECT");
  if (!tablesRes || !columnsRes || !constraintsRes || !indexesRes) throw new Error("internal: structural introspection returned too few result sets");

  const byOid = new Map<string, { key: string; table: TableStructure }>();
  for (const r of tablesRes.rows as { oid: string; key: string; owner: string; grants: string[] }[]) {
    const grants: Record<string, string> = {};
    for (const g of r.grants) {
      const at = g.indexOf("=");
      grants[g.slice(0, at)] = g.slice(at + 1);
    }
    byOid.set(r.oid, { key: r.key, table: { owner: r.owner, columns: {}, constraints: {}, indexes: {}, grants } });
  }
  for (const r of columnsRes.rows as { oid: string; name: string; type: string; nullable: boolean; default: string | null }[]) {
    const t = byOid.get(r.oid)?.table;
    if (t) t.columns[r.name] = { type: r.type, nullable: r.nullable, default: r.default };
  }
  for (const r of constraintsRes.rows as { oid: string; name: string; definition: string }[]) {
    const t = byOid.get(r.oid)?.table;
    if (t) t.constraints[r.name] = r.definition;
  }
  for (const r of indexesRes.rows as { oid: string; name: string; definition: string }[]) {
    const t = byOid.get(r.oid)?.table;
    if (t) t.indexes[r.name] = r.definition;
  }
  const tables: Record<string, TableStructure> = {};
  for (const { key, table } of [...byOid.values()].sort((a, b) => cmp(a.key, b.key))) {
    tables[key] = { ...table, constraints: sortedRecord(table.constraints), indexes: sortedRecord(table.indexes), grants: sortedRecord(table.grants) };
  }
  return { tables, history: await readHistoryEntries(client) };
}

/** The history as `{id, name, checksum}`, oldest first; empty when the table does not exist. */
async function readHistoryEntries(client: pg.Client): Promise<HistoryEntry[]> {
  if (!(await historyExists(client))) return [];
  const { rows } = await client.query<{ id: string; name: string; checksum: string }>(
    "SELECT id::int8 AS id, name, checksum FROM pgstack.migrations ORDER BY id",
  );
  return rows.map((r) => ({ id: Number(r.id), name: r.name, checksum: r.checksum }));
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => cmp(a, b)));
}

/** By code unit, so the order is the same on every machine. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
