/**
 * The dump-and-restore copy, used when `CREATE DATABASE … TEMPLATE` is not safe (others are
 * connected to the source). pg_dump has no row limit, so the copy is built in steps:
 *
 * 1. `pg_dump -Fc` of the schema, every table's data left out (sequence values kept);
 * 2. `pg_restore --section=pre-data`: types, functions, tables, without indexes, keys or
 *    triggers yet, so loading rows fires nothing and checks no foreign key;
 * 3. at most `rowLimit` rows per table, read by one `psql` in one REPEATABLE READ READ ONLY
 *    transaction (`\copy (SELECT … LIMIT n) TO file`) and loaded by another (`\copy … FROM`);
 *    pgstack's own tables (history, markers) are copied whole, so the history stays complete;
 * 4. rows whose parent row was not copied are deleted, foreign key by foreign key until none is
 *    left, so that
 * 5. `pg_restore --section=data` (sequence values) and `--section=post-data` (indexes, keys,
 *    foreign keys, triggers) succeed on the sample. pg_dump leaves out the values of sequences
 *    owned by tables (identity, serial) with their tables' data: those are set from the source.
 *
 * No superuser trick (session_replication_role) is needed, so it works for the admin of
 * managed Postgres. Rows pass through a private temporary folder that is always removed.
 * Passwords reach the binaries through PGPASSWORD, never argv.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type pg from "pg";
import type { ConnectionOptions } from "./connection.js";
import { PGSTACK_SCHEMA } from "./history.js";
import { qualified, quoteIdent } from "./identifiers.js";

/** Children still running, so an interrupt can stop them before dropping the copy. */
export type ChildSet = Set<ChildProcess>;

/** A table copied into the sample, and the rows it holds after the orphans were removed. */
export interface CopiedTable {
  table: string;
  rows: number;
}

/** What {@link copyByDumpRestore} needs. */
export interface DumpRestoreOptions {
  admin: ConnectionOptions;
  source: string;
  clone: string;
  rowLimit: number;
  /** How long pg_dump waits for its share lock on each table (a Postgres duration). */
  lockWaitTimeout: string;
  /** Folder of pg_dump, pg_restore and psql ("" = PATH). */
  binDir: string;
  children: ChildSet;
  log: (msg: string) => void;
}

/**
 * Fills the empty database `clone` with the schema of `source` and at most `rowLimit` rows per
 * table. `sourceClient` is an admin connection to the source, `cloneClient` to the copy.
 */
export async function copyByDumpRestore(o: DumpRestoreOptions, sourceClient: pg.Client, cloneClient: pg.Client): Promise<CopiedTable[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-rehearsal-"));
  try {
    fs.chmodSync(dir, 0o700);
    if (dir.includes("'") || dir.includes("\n")) throw new Error(`the temporary folder ${JSON.stringify(dir)} cannot be named in a psql \\copy command`);
    const dump = path.join(dir, "schema.dump");
    const run = (bin: string, args: string[], database: string, stdin?: string) => runBinary(o, bin, args, database, stdin);

    o.log(`dump of ${o.source}'s schema (pg_dump, no table data)`);
    const dumpArgs = [`--lock-wait-timeout=${o.lockWaitTimeout}`, "--format=custom", "--no-blobs", "--no-subscriptions", "--no-publications", "--no-security-labels", "--exclude-table-data=*.*", `--file=${dump}`];
    await run("pg_dump", dumpArgs, o.source).catch((err: Error) => {
      // pg_dump bounds its lock wait with a statement timeout; say what that means here.
      const locked = /statement timeout[\s\S]*LOCK TABLE (\S+)/.exec(err.message)?.[1];
      if (!locked) throw err;
      throw new Error(`${locked} stayed locked by another session for longer than ${o.lockWaitTimeout} (pg_dump's lock wait); run when it is free, or raise the session lockTimeout. ${err.message}`);
    });
    o.log("restoring the tables (pg_restore --section=pre-data)");
    await run("pg_restore", ["--section=pre-data", "--exit-on-error", `--dbname=${conninfo(o.clone)}`, dump], o.clone);

    const tables = await tablesToCopy(sourceClient);
    for (const t of tables) {
      if (/[\n\r]/.test(t.schema + t.name + t.columns.join(""))) throw new Error(`the table ${qualified(t.schema, t.name)} has a line break in its name; psql's \\copy cannot name it`);
    }
    const file = (i: number) => path.join(dir, `${i}.copy`);
    const cols = (t: TableToCopy) => t.columns.map(quoteIdent).join(", ");
    // One snapshot for every table, read-only: the source sees nothing but reads.
    const read = [
      "\\set ON_ERROR_STOP on",
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;",
      ...tables.map((t, i) => {
        const limit = t.schema === PGSTACK_SCHEMA ? "" : ` LIMIT ${o.rowLimit}`;
        return `\\copy (SELECT ${cols(t)} FROM ONLY ${qualified(t.schema, t.name)}${limit}) TO '${file(i)}'`;
      }),
      "COMMIT;",
    ];
    const write = ["\\set ON_ERROR_STOP on", ...tables.map((t, i) => `\\copy ${qualified(t.schema, t.name)} (${cols(t)}) FROM '${file(i)}'`)];
    o.log(`copying at most ${o.rowLimit} rows of each of ${tables.length} table(s) (psql \\copy)`);
    await run("psql", ["--no-psqlrc", "--quiet", "--file=-"], o.source, read.join("\n") + "\n");
    await run("psql", ["--no-psqlrc", "--quiet", "--file=-"], o.clone, write.join("\n") + "\n");

    await copySequenceValues(sourceClient, cloneClient);
    const orphans = await deleteOrphans(sourceClient, cloneClient);
    if (orphans > 0) o.log(`left out ${orphans} row(s) whose parent row was beyond the row limit`);
    o.log("restoring sequences, indexes, keys and triggers (pg_restore --section=data, post-data)");
    await run("pg_restore", ["--section=data", "--exit-on-error", `--dbname=${conninfo(o.clone)}`, dump], o.clone);
    await run("pg_restore", ["--section=post-data", "--exit-on-error", `--dbname=${conninfo(o.clone)}`, dump], o.clone);
    return await countCopied(cloneClient, tables);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

interface TableToCopy {
  schema: string;
  name: string;
  /** Columns that take values (generated columns are computed again). */
  columns: string[];
}

/** Plain tables and partitions (not their parents, which hold no rows themselves), system schemas aside. */
async function tablesToCopy(client: pg.Client): Promise<TableToCopy[]> {
  const { rows } = await client.query<{ schema: string; name: string; columns: string[] }>(
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
 * Deletes, in the copy, the rows that reference a row the row limit left out, for every foreign
 * key of the source, repeating until a pass deletes nothing (a deleted parent can orphan its
 * children, and keys can form cycles). A row with a NULL in its key references nothing (MATCH
 * SIMPLE) and stays. Returns how many rows were deleted.
 */
async function deleteOrphans(source: pg.Client, clone: pg.Client): Promise<number> {
  const { rows: fks } = await source.query<{ schema: string; name: string; cols: string[]; rschema: string; rname: string; rcols: string[] }>(
    `SELECT n.nspname AS schema, c.relname AS name, rn.nspname AS rschema, rc.relname AS rname,
            ARRAY(SELECT a.attname FROM unnest(co.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS cols,
            ARRAY(SELECT a.attname FROM unnest(co.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON a.attrelid = co.confrelid AND a.attnum = k.n ORDER BY k.i)::text[] AS rcols
       FROM pg_constraint co
       JOIN pg_class c ON c.oid = co.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_class rc ON rc.oid = co.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
      WHERE co.contype = 'f' AND co.conparentid = 0
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
  );
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
 * Sets every sequence of the copy to the source's value. pg_dump leaves out the value of a
 * sequence owned by a table whose data it leaves out (identity and serial columns), so without
 * this the copy's next id would be 1 and an INSERT in a migration would collide with copied rows.
 */
async function copySequenceValues(source: pg.Client, clone: pg.Client): Promise<void> {
  const { rows } = await source.query<{ s: string; n: string; v: string }>(
    `SELECT schemaname AS s, sequencename AS n, last_value::text AS v FROM pg_sequences
      WHERE last_value IS NOT NULL AND schemaname NOT IN ('pg_catalog', 'information_schema')`,
  );
  if (rows.length === 0) return;
  await clone.query(
    `SELECT setval(format('%I.%I', s, n)::regclass, v, true) FROM unnest($1::text[], $2::text[], $3::int8[]) AS t(s, n, v)`,
    [rows.map((r) => r.s), rows.map((r) => r.n), rows.map((r) => r.v)],
  );
}

/** Exact row counts of the copied tables, in one round trip. */
async function countCopied(client: pg.Client, tables: readonly TableToCopy[]): Promise<CopiedTable[]> {
  if (tables.length === 0) return [];
  const sql = tables.map((t, i) => `SELECT ${i} AS i, count(*)::int8 AS n FROM ONLY ${qualified(t.schema, t.name)}`).join(" UNION ALL ");
  const { rows } = await client.query<{ i: number; n: string }>(sql);
  const counts = new Map(rows.map((r) => [r.i, Number(r.n)]));
  return tables.map((t, i) => ({ table: `${t.schema}.${t.name}`, rows: counts.get(i) ?? 0 }));
}

/** A libpq conninfo naming one database, quoted as libpq reads it. */
function conninfo(database: string): string {
  return `dbname='${database.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/**
 * Runs a libpq binary against `database` as the admin. The connection comes through the
 * environment (PGPASSWORD among it), so no secret is in the process list. Rejects with the
 * binary's stderr when it fails.
 */
function runBinary(o: DumpRestoreOptions, bin: string, args: string[], database: string, stdin?: string): Promise<void> {
  const a = o.admin;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PGHOST: a.host,
    PGPORT: String(a.port),
    PGUSER: a.user,
    PGDATABASE: database,
    PGSSLMODE: a.sslmode ?? "disable",
    PGAPPNAME: "pgstack rehearsal",
    PGCONNECT_TIMEOUT: String(Math.ceil((a.connectTimeoutMs ?? 15_000) / 1000)),
  };
  if (a.password !== undefined) env["PGPASSWORD"] = a.password;
  else delete env["PGPASSWORD"];
  const file = o.binDir ? path.join(o.binDir, bin) : bin;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ["pipe", "ignore", "pipe"] });
    o.children.add(child);
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      if (stderr.length < 20_000) stderr += d.toString("utf8");
    });
    child.on("error", (err) => {
      o.children.delete(child);
      reject(new Error(`cannot run ${file}: ${err.message}; install the PostgreSQL client binaries, or pass binDir`));
    });
    child.on("close", (code, signal) => {
      o.children.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${bin} ${signal ? `was stopped by ${signal}` : `exited with ${code}`}: ${stderr.trim() || "(no message)"}`));
    });
    child.stdin?.on("error", () => undefined); // a child that exits early closes its stdin
    child.stdin?.end(stdin ?? "");
  });
}
