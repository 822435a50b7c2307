/**
 * The rehearsal's copy when `CREATE DATABASE … TEMPLATE` is not possible (others are connected to
 * the source): built from the migrations and filled through the driver, with no client binary,
 * so it works with any server version.
 *
 * 1. the schema: the migrations the source has applied, built in the empty scratch database as
 *    the owner ({@link buildInScratch}, the one build from migrations);
 * 2. the build's own rows (seed migrations) are emptied, its foreign keys set aside and its user
 *    triggers disabled, so loading fires nothing and checks no key;
 * 3. at most `rowLimit` rows per table streamed with COPY (pg-copy-streams): `COPY (SELECT … LIMIT
 *    n) TO STDOUT` on the source, in one REPEATABLE READ READ ONLY transaction, into `COPY … FROM
 *    STDIN` on the copy; pgstack's own tables (history, markers) whole, so the history is complete;
 * 4. sequence values from the source; rows whose parent row was left out deleted, key by key until
 *    none is; the foreign keys added back, the triggers restored, populated materialized views
 *    refreshed.
 *
 * Tables and columns the live database has and the migrations do not create (drift) are not
 * copied: the log names them. No superuser trick (session_replication_role) is needed, so it works
 * for the admin of managed Postgres.
 */
import { pipeline } from "node:stream/promises";
import type pg from "pg";
import { from as copyFrom, to as copyTo } from "pg-copy-streams";
import { buildInScratch } from "./declared.js";
import { errorMessage } from "./errors.js";
import { PGSTACK_SCHEMA } from "./history.js";
import { displayQualified, qualified, quoteIdent, quoteLiteral } from "./identifiers.js";
import type { Logger } from "./connection.js";
import type { ScratchDatabase } from "./scratch.js";
import type { Migration } from "./source.js";

/** A table copied into the sample, and the rows it holds after the orphans were removed. */
export interface CopiedTable {
  table: string;
  rows: number;
}

/** What {@link copyByBuild} needs. */
export interface BuildCopyOptions {
  /** The source database's name, for messages. */
  source: string;
  /** The database owner: the migrations run as it. */
  role: string;
  /** The migrations the source has applied (as the scratch run replays them): the copy's schema. */
  applied: readonly Migration[];
  rowLimit: number;
  /** How long reading a table waits for a lock another session holds on it (a Postgres duration). */
  lockWaitTimeout: string;
  log: (msg: string) => void;
}

/** One table on either side: its columns that take values (generated ones are computed again). */
interface Table {
  schema: string;
  name: string;
  columns: string[];
}

/** A foreign key of the copy, set aside while the rows load. */
interface ForeignKey {
  schema: string;
  name: string;
  constraint: string;
  definition: string;
  cols: string[];
  rschema: string;
  rname: string;
  rcols: string[];
}

/**
 * Builds the schema of `source` in the empty scratch database from its applied migrations and
 * fills it with at most `rowLimit` rows per table. `source` is an admin connection to the source.
 */
export async function copyByBuild(o: BuildCopyOptions, source: pg.Client, scratch: ScratchDatabase): Promise<CopiedTable[]> {
  const clone = scratch.admin;
  const logger: Logger = { info: o.log, warn: o.log };
  o.log(`building ${o.source}'s schema from its ${o.applied.length} applied migration(s)`);
  const schemas = (await userSchemas(source)).map((name) => ({ name, owner: o.role, grants: [] }));
  await buildInScratch(scratch, o.applied, { role: o.role, schemas, logger });

  const [from, into] = await Promise.all([tablesOf(source), tablesOf(clone)]);
  const sourceByName = new Map(from.map((t) => [qualified(t.schema, t.name), t]));
  const pairs = into.flatMap((t) => {
    const s = sourceByName.get(qualified(t.schema, t.name));
    const columns = s ? t.columns.filter((c) => s.columns.includes(c)) : [];
    return s && columns.length > 0 ? [{ table: t, columns }] : [];
  });
  const built = new Set(into.map((t) => qualified(t.schema, t.name)));
  const notBuilt = from.filter((t) => !built.has(qualified(t.schema, t.name))).map((t) => displayQualified(t.schema, t.name));
  if (notBuilt.length > 0) o.log(`not copied: ${notBuilt.join(", ")} (no applied migration creates ${notBuilt.length === 1 ? "it" : "them"})`);

  const fks = await foreignKeys(clone);
  const triggers = await enabledUserTriggers(clone);
  await clone.query("BEGIN");
  try {
    for (const fk of fks) await clone.query(`ALTER TABLE ${qualified(fk.schema, fk.name)} DROP CONSTRAINT ${quoteIdent(fk.constraint)}`);
    for (const t of triggers) await clone.query(`ALTER TABLE ${qualified(t.schema, t.name)} DISABLE TRIGGER ${quoteIdent(t.trigger)}`);
    // What the build's migrations inserted (seed rows) is replaced by the source's.
    if (into.length > 0) await clone.query(`TRUNCATE ${into.map((t) => qualified(t.schema, t.name)).join(", ")}`);
    o.log(`copying at most ${o.rowLimit} rows of each of ${pairs.length} table(s) (COPY through the driver)`);
    await copyRows(o, source, clone, pairs);
    await copySequenceValues(source, clone);
    const orphans = await deleteOrphans(clone, fks);
    if (orphans > 0) o.log(`left out ${orphans} row(s) whose parent row was beyond the row limit`);
    for (const fk of fks) await clone.query(`ALTER TABLE ${qualified(fk.schema, fk.name)} ADD CONSTRAINT ${quoteIdent(fk.constraint)} ${fk.definition}`);
    for (const t of triggers) await clone.query(`ALTER TABLE ${qualified(t.schema, t.name)} ENABLE ${t.mode}TRIGGER ${quoteIdent(t.trigger)}`);
    await refreshMaterializedViews(clone);
    await clone.query("COMMIT");
  } catch (err) {
    await clone.query("ROLLBACK").catch(() => undefined);
    throw err;
  }
  return countCopied(clone, pairs.map((p) => p.table));
}

/** The source's schemas that may hold the migrations' objects (system schemas and pgstack's aside). */
async function userSchemas(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace
      WHERE nspname NOT IN ('information_schema', $1) AND nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = pg_namespace.oid AND d.deptype = 'e')
      ORDER BY 1`,
    [PGSTACK_SCHEMA],
  );
  return rows.map((r) => r.name);
}

/** Plain tables and partitions (not their parents, which hold no rows themselves), system schemas and extensions' tables aside. */
async function tablesOf(client: pg.Client): Promise<Table[]> {
  const { rows } = await client.query<Table>(
    `SELECT n.nspname AS schema, c.relname AS name,
            ARRAY(SELECT a.attname FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                   ORDER BY a.attnum)::text[] AS columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND c.relpersistence <> 't'
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
      ORDER BY 1, 2`,
  );
  return rows;
}

/**
 * Streams each table's rows from the source into the copy, all read in one snapshot that only
 * reads (REPEATABLE READ READ ONLY, rolled back). A table another session keeps locked is waited
 * for at most `lockWaitTimeout`.
 */
async function copyRows(o: BuildCopyOptions, source: pg.Client, clone: pg.Client, pairs: readonly { table: Table; columns: string[] }[]): Promise<void> {
  await source.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  try {
    await source.query(`SET LOCAL lock_timeout = ${quoteLiteral(o.lockWaitTimeout)}`);
    for (const { table, columns } of pairs) {
      const name = qualified(table.schema, table.name);
      const shown = displayQualified(table.schema, table.name);
      const cols = columns.map(quoteIdent).join(", ");
      const limit = table.schema === PGSTACK_SCHEMA ? "" : ` LIMIT ${o.rowLimit}`;
      try {
        await pipeline(source.query(copyTo(`COPY (SELECT ${cols} FROM ONLY ${name}${limit}) TO STDOUT`)), clone.query(copyFrom(`COPY ${name} (${cols}) FROM STDIN`)));
      } catch (err) {
        if ((err as { code?: string }).code === "55P03") {
          throw new Error(`${shown} stayed locked by another session for longer than ${o.lockWaitTimeout}; run when it is free, or raise the session lockTimeout (${errorMessage(err)})`);
        }
        throw new Error(`copying the rows of ${shown}: ${errorMessage(err)}`, { cause: err });
      }
    }
  } finally {
    await source.query("ROLLBACK").catch(() => undefined);
  }
}

/** The copy's foreign keys (not a partition's copy of its parent's), with what is needed to delete orphans and add them back. */
async function foreignKeys(client: pg.Client): Promise<ForeignKey[]> {
  const { rows } = await client.query<ForeignKey>(
    `SELECT n.nspname AS schema, c.relname AS name, co.conname AS constraint, pg_get_constraintdef(co.oid) AS definition,
            rn.nspname AS rschema, rc.relname AS rname,
            ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols,
            ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS rcols
       FROM pg_constraint co
       JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = co.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE co.contype = 'f' AND co.conparentid = 0
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY co.oid`,
  );
  return rows;
}

/** The copy's enabled user triggers (a foreign key's are internal), and how each was enabled. */
async function enabledUserTriggers(client: pg.Client): Promise<{ schema: string; name: string; trigger: string; mode: string }[]> {
  const { rows } = await client.query<{ schema: string; name: string; trigger: string; mode: string }>(
    `SELECT n.nspname AS schema, c.relname AS name, t.tgname AS trigger,
            CASE t.tgenabled WHEN 'A' THEN 'ALWAYS ' WHEN 'R' THEN 'REPLICA ' ELSE '' END AS mode
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgparentid = 0
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
      ORDER BY t.oid`,
  );
  return rows;
}

/**
 * Deletes, in the copy, the rows that reference a row the row limit left out, for every foreign
 * key, repeating until a pass deletes nothing (a deleted parent can orphan its children, and keys
 * can form cycles). A row with a NULL in its key references nothing (MATCH SIMPLE) and stays.
 * Returns how many rows were deleted.
 */
async function deleteOrphans(clone: pg.Client, fks: readonly ForeignKey[]): Promise<number> {
  if (fks.length === 0) return 0;
  const statements = fks.map((f) => {
    const notNull = f.cols.map((c) => `c.${quoteIdent(c)} IS NOT NULL`).join(" AND ");
    const match = f.cols.map((c, i) => `p.${quoteIdent(f.rcols[i] ?? "")} = c.${quoteIdent(c)}`).join(" AND ");
    return `DELETE FROM ${qualified(f.schema, f.name)} c WHERE ${notNull} AND NOT EXISTS (SELECT 1 FROM ${qualified(f.rschema, f.rname)} p WHERE ${match})`;
  });
  let total = 0;
  for (;;) {
    let pass = 0;
    for (const sql of statements) pass += (await clone.query(sql)).rowCount ?? 0;
    total += pass;
    if (pass === 0) return total;
  }
}

/**
 * Sets every sequence of the copy that the source has to the source's value: the copied rows
 * carry their ids, so without this the copy's next id would collide with them.
 */
async function copySequenceValues(source: pg.Client, clone: pg.Client): Promise<void> {
  const { rows } = await source.query<{ s: string; n: string; v: string }>(
    `SELECT schemaname AS s, sequencename AS n, last_value::text AS v FROM pg_sequences
      WHERE last_value IS NOT NULL AND schemaname NOT IN ('pg_catalog', 'information_schema')`,
  );
  if (rows.length === 0) return;
  await clone.query(
    `SELECT setval(to_regclass(format('%I.%I', s, n)), v, true) FROM unnest($1::text[], $2::text[], $3::int8[]) AS t(s, n, v)
      WHERE to_regclass(format('%I.%I', s, n)) IS NOT NULL`,
    [rows.map((r) => r.s), rows.map((r) => r.n), rows.map((r) => r.v)],
  );
}

/** Materialized views the build populated (over empty tables), refreshed over the copied rows, oldest first. */
async function refreshMaterializedViews(clone: pg.Client): Promise<void> {
  const { rows } = await clone.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'm' AND c.relispopulated ORDER BY c.oid`,
  );
  for (const v of rows) await clone.query(`REFRESH MATERIALIZED VIEW ${qualified(v.schema, v.name)}`);
}

/** Exact row counts of the copied tables, in one round trip. */
async function countCopied(client: pg.Client, tables: readonly Table[]): Promise<CopiedTable[]> {
  if (tables.length === 0) return [];
  const sql = tables.map((t, i) => `SELECT ${i} AS i, count(*)::int8 AS n FROM ONLY ${qualified(t.schema, t.name)}`).join(" UNION ALL ");
  const { rows } = await client.query<{ i: number; n: string }>(sql);
  const counts = new Map(rows.map((r) => [r.i, Number(r.n)]));
  return tables.map((t, i) => ({ table: `${t.schema}.${t.name}`, rows: counts.get(i) ?? 0 }));
}
