/**
 * Other tools' history tables, read when pgstack adopts a database that one of them managed:
 * `drizzle.__drizzle_migrations`, `_prisma_migrations`, `flyway_schema_history`,
 * `schema_migrations` (golang-migrate's or dbmate's, told apart by their columns),
 * `goose_db_version` and `alembic_version`. The rows are mapped to pgstack versions through the
 * provenance comments the importers write, so migrations the tool already ran are recorded, not
 * run again.
 *
 * The table belongs to the role the tool ran as, usually the database's owner, which the admin
 * becomes a member of only during `up`. Whether the admin can read it is checked first: a preview
 * then says in one line that `up` will read it ({@link NotReadableYetError}) instead of failing
 * on `permission denied`.
 */
import type pg from "pg";
import { NotReadableYetError } from "../lifecycle/errors.js";
import { FOREIGN_HISTORY_TABLES } from "../lifecycle/schema/known.js";
import { displayQualified, quoteIdent } from "../lifecycle/identifiers.js";
import { readMembership, type RoleMembership } from "../lifecycle/membership.js";
import type { Migration } from "../lifecycle/source.js";
import { compareFlywayVersions, normalizeFlywayVersion } from "./flyway.js";
import { ForeignHistoryError, parseProvenance, type ToolName } from "./shared.js";

/** A tool's history, as read from the database. `table` is the qualified name it was read from. */
export type ForeignHistory =
  | { tool: "drizzle"; table: string; rows: { hash: string; createdAt: string | null }[] }
  | { tool: "prisma"; table: string; rows: { name: string; checksum: string; finishedAt: Date | null; rolledBackAt: Date | null }[] }
  | { tool: "flyway"; table: string; rows: { rank: number; version: string | null; description: string; type: string; script: string; checksum: number | null; success: boolean }[] }
  | { tool: "golang-migrate"; table: string; version: string | null }
  | { tool: "dbmate"; table: string; versions: string[] }
  | { tool: "goose"; table: string; versions: string[] }
  | { tool: "alembic"; table: string; heads: string[] };

/** The mapping of a foreign history onto pgstack versions. */
export interface ForeignMapping {
  tool: ToolName;
  /** pgstack versions the tool has applied, ascending. */
  versions: number[];
  /** History entries that no imported file accounts for, described for a person. */
  unmatched: string[];
  /** Entries whose file changed since the tool applied it (its recorded checksum differs). */
  modified: string[];
}

/** The table names to look for: the one list of other tools' history tables (schema/known.ts). */
const HISTORY_TABLE_NAMES = FOREIGN_HISTORY_TABLES.map((t) => t.table);

/** Options of {@link readForeignHistory}. */
export interface ForeignHistoryOptions {
  /**
   * The role the admin becomes a member of during `up` (the database's owner). A history table
   * it owns that the admin cannot read yet is {@link NotReadableYetError}, not a refusal.
   */
  owner?: string;
  /**
   * Only these tools' tables (those the migration files were imported from): another tool's
   * table is not read, so a preview does not stop at one it cannot read and would not use.
   */
  tools?: ReadonlySet<string>;
}

/**
 * Finds and reads the history table of a tool pgstack imports from. Returns null when there is
 * none. Refuses (throws {@link ForeignHistoryError}) a failed or dirty entry, an unknown Flyway entry
 * type, a table the admin cannot read (and will not be able to during `up`), and more than one
 * tool's table, since pgstack could not tell which one is current. Throws
 * {@link NotReadableYetError} for a table `options.owner` owns that the admin cannot read yet.
 */
export async function readForeignHistory(client: pg.ClientBase, options: ForeignHistoryOptions = {}): Promise<ForeignHistory | null> {
  const { rows: found } = await client.query<{ schema: string; table: string; columns: string[]; owner: string; readable: boolean; admin: string }>(
    `SELECT n.nspname AS schema, c.relname AS table, array_agg(a.attname::text ORDER BY a.attnum) AS columns,
            pg_get_userbyid(c.relowner) AS owner, current_user AS admin,
            has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable
       FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE c.relkind IN ('r', 'p') AND c.relname = ANY($1::text[])
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgstack') AND n.nspname NOT LIKE 'pg\\_%'
      GROUP BY n.nspname, n.oid, c.oid, c.relname
      ORDER BY n.nspname, c.relname`,
    [HISTORY_TABLE_NAMES],
  );
  const candidates = found
    .map((f) => ({ ...f, tool: toolOf(f.table, new Set(f.columns)), qualified: `${quoteIdent(f.schema)}.${quoteIdent(f.table)}` }))
    .filter((f): f is typeof f & { tool: ToolName } => f.tool !== undefined && (options.tools === undefined || options.tools.has(f.tool)));
  if (candidates.length === 0) return null;
  if (candidates.length > 1) {
    throw new ForeignHistoryError(
      `found the history tables of more than one migration tool: ${candidates.map((c) => `${c.qualified} (${c.tool})`).join(", ")}`,
      "pgstack adopts from one tool's history: drop the tables of the tools no longer in use (after checking), or state the version with `baseline: N`",
    );
  }
  const c = candidates[0]!;
  if (!c.readable) refuseUnreadable(c, await readMembership(client, c.owner), options);
  return readTable(client, c.tool, c.qualified);
}

/** Why the admin cannot read the history table, as a preview's one line or a refusal. */
function refuseUnreadable(c: { schema: string; table: string; qualified: string; tool: ToolName; owner: string; admin: string }, m: RoleMembership | undefined, options: ForeignHistoryOptions): never {
  const what = `${displayQualified(c.schema, c.table)} (${c.tool}'s history)`;
  if (options.owner !== undefined && c.owner === options.owner && m?.joinsDuringUp) {
    throw new NotReadableYetError(
      `cannot read ${what} yet: the admin "${c.admin}" becomes a member of its owner "${c.owner}" during up, and up reads it then`,
      `cannot read ${what}: the admin "${c.admin}" is not a member of its owner "${c.owner}"`,
      `\`pulumi up\` makes the admin a member of "${c.owner}" (the database's owner) before it adopts the database, and reads it then`,
    );
  }
  const why = m && !m.joinsDuringUp && !m.inherit ? `it is a member of the owner "${c.owner}" but does not inherit its privileges (NOINHERIT)` : `it belongs to "${c.owner}"`;
  throw new ForeignHistoryError(
    `cannot read ${what}: the admin "${c.admin}" may not (${why}), so pgstack cannot tell which migrations ${c.tool} ran`,
    `GRANT SELECT ON ${c.qualified} (and USAGE on its schema) TO "${c.admin}", or state the adopted version with \`baseline: N\``,
  );
}

/** Which tool a history table belongs to, from its name and columns. */
function toolOf(table: string, cols: Set<string>): ToolName | undefined {
  const has = (...names: string[]) => names.every((n) => cols.has(n));
  if (table === "__drizzle_migrations" && has("hash", "created_at")) return "drizzle";
  if (table === "_prisma_migrations" && has("migration_name", "finished_at", "rolled_back_at", "checksum")) return "prisma";
  if (table === "flyway_schema_history" && has("version", "script", "success", "type", "installed_rank")) return "flyway";
  if (table === "alembic_version" && has("version_num")) return "alembic";
  // golang-migrate: (version bigint, dirty boolean); dbmate (like Rails): (version varchar) alone.
  if (table === "schema_migrations" && has("version", "dirty")) return "golang-migrate";
  if (table === "schema_migrations" && has("version") && cols.size === 1) return "dbmate";
  if (table === "goose_db_version" && has("version_id", "is_applied")) return "goose";
  return undefined;
}

async function readTable(client: pg.ClientBase, tool: ToolName, table: string): Promise<ForeignHistory> {
  switch (tool) {
    case "drizzle": {
      const { rows } = await client.query<{ hash: string; created_at: string | null }>(`SELECT hash, created_at::text AS created_at FROM ${table} ORDER BY id`);
      return { tool, table, rows: rows.map((r) => ({ hash: r.hash, createdAt: r.created_at })) };
    }
    case "prisma": {
      const { rows } = await client.query<{ migration_name: string; checksum: string; finished_at: Date | null; rolled_back_at: Date | null; logs: string | null }>(
        `SELECT migration_name, checksum, finished_at, rolled_back_at, logs FROM ${table} ORDER BY started_at, migration_name`,
      );
      const failed = rows.filter((r) => r.finished_at === null && r.rolled_back_at === null);
      if (failed.length > 0) {
        throw new ForeignHistoryError(
          `${table}: Prisma migration(s) ${failed.map((f) => f.migration_name).join(", ")} started but never finished (failed)` +
            (failed[0]?.logs ? `; Prisma logged: ${failed[0].logs.split("\n")[0]}` : ""),
          "resolve it the Prisma way first: fix the database and run `prisma migrate resolve --applied <name>` or `--rolled-back <name>`, then adopt",
        );
      }
      return { tool, table, rows: rows.map((r) => ({ name: r.migration_name, checksum: r.checksum, finishedAt: r.finished_at, rolledBackAt: r.rolled_back_at })) };
    }
    case "flyway": {
      const { rows } = await client.query<{ installed_rank: number; version: string | null; description: string; type: string; script: string; checksum: number | null; success: boolean }>(
        `SELECT installed_rank, version, description, type, script, checksum, success FROM ${table} ORDER BY installed_rank`,
      );
      const failed = rows.filter((r) => !r.success);
      if (failed.length > 0) {
        throw new ForeignHistoryError(
          `${table}: Flyway recorded failed migration(s): ${failed.map((f) => `${f.script} (rank ${f.installed_rank})`).join(", ")}`,
          "fix the database and run `flyway repair` (it removes failed entries), then adopt",
        );
      }
      const unknown = rows.find((r) => !["SQL", "BASELINE", "SCHEMA"].includes(r.type));
      if (unknown) {
        throw new ForeignHistoryError(
          `${table}: entry ${unknown.installed_rank} (${unknown.script}) has type ${unknown.type}, which pgstack cannot map (only SQL migrations are imported)`,
          "state the adopted version yourself with `baseline: N`",
        );
      }
      return {
        tool,
        table,
        rows: rows.map((r) => ({
          rank: r.installed_rank,
          version: r.version,
          description: r.description,
          type: r.type,
          script: r.script,
          checksum: r.checksum,
          success: r.success,
        })),
      };
    }
    case "golang-migrate": {
      const { rows } = await client.query<{ version: string; dirty: boolean }>(`SELECT version::text AS version, dirty FROM ${table}`);
      if (rows.length > 1) throw new ForeignHistoryError(`${table}: ${rows.length} rows; golang-migrate keeps exactly one`, "check the table by hand; golang-migrate would refuse it too");
      const row = rows[0];
      if (row?.dirty) {
        throw new ForeignHistoryError(
          `${table}: golang-migrate's version ${row.version} is dirty: that migration failed part-way and the database is in an unknown state`,
          `fix the database by hand, then mark it clean with \`migrate force ${row.version}\` (or the version before it), then adopt`,
        );
      }
      return { tool, table, version: row?.version ?? null };
    }
    case "dbmate": {
      const { rows } = await client.query<{ version: string }>(`SELECT version::text AS version FROM ${table} ORDER BY version`);
      return { tool, table, versions: rows.map((r) => r.version) };
    }
    case "goose": {
      // goose appends a row per up (is_applied) and per down (not): the latest row of a version
      // decides. Version 0 is the row goose writes when it creates the table, not a migration.
      const { rows } = await client.query<{ version: string; is_applied: boolean }>(
        `SELECT DISTINCT ON (version_id) version_id::text AS version, is_applied FROM ${table} WHERE version_id <> 0 ORDER BY version_id, id DESC`,
      );
      return { tool, table, versions: rows.filter((r) => r.is_applied).map((r) => r.version) };
    }
    case "alembic": {
      const { rows } = await client.query<{ version_num: string }>(`SELECT version_num FROM ${table} ORDER BY version_num`);
      return { tool, table, heads: rows.map((r) => r.version_num) };
    }
  }
}

/** An imported migration with its provenance record. */
interface Imported {
  m: Migration;
  record: Record<string, string>;
}

/**
 * Maps a foreign history onto pgstack versions, through the provenance comments of `migrations`
 * written by the importer of the same tool. Pure: nothing is read or written.
 */
export function mapForeignHistory(foreign: ForeignHistory, migrations: readonly Migration[]): ForeignMapping {
  const imported: Imported[] = [];
  for (const m of migrations) {
    const p = parseProvenance(m.sql);
    if (p?.tool === foreign.tool) imported.push({ m, record: p.record });
  }
  const applied = new Set<number>();
  const unmatched: string[] = [];
  const modified: string[] = [];
  const find = (key: string, value: string) => imported.find((i) => i.record[key] === value);
  switch (foreign.tool) {
    case "drizzle":
      for (const row of foreign.rows) {
        // Drizzle itself decides by created_at (the journal's `when`); the hash tells if the file changed.
        const byHash = find("hash", row.hash);
        const byWhen = row.createdAt === null ? undefined : find("when", row.createdAt);
        const hit = byHash ?? byWhen;
        if (!hit) unmatched.push(`drizzle migration with hash ${row.hash.slice(0, 12)}… (created_at ${row.createdAt ?? "null"})`);
        else {
          applied.add(hit.m.id);
          if (!byHash) modified.push(`${hit.m.name} (drizzle tag ${hit.record["tag"]}): applied with hash ${row.hash.slice(0, 12)}…, the file's is ${hit.record["hash"]?.slice(0, 12)}…`);
        }
      }
      break;
    case "prisma":
      for (const row of foreign.rows) {
        if (row.rolledBackAt !== null) continue; // `prisma migrate resolve --rolled-back`: not applied
        const hit = find("migration", row.name);
        if (!hit) unmatched.push(`prisma migration ${row.name}`);
        else {
          applied.add(hit.m.id);
          const accepted = [hit.record["checksum"], ...(hit.record["alt"] ?? "").split(",")];
          if (!accepted.includes(row.checksum)) modified.push(`${hit.m.name} (prisma ${row.name}): migration.sql changed after Prisma applied it`);
        }
      }
      break;
    case "flyway": {
      // A repeatable is re-run whenever it changes: only its latest row tells what is in the database.
      const latest = new Map<string, number>();
      for (const row of foreign.rows) if (row.version === null && row.type === "SQL") latest.set(row.description, row.rank);
      for (const row of foreign.rows) {
        if (row.version === null && latest.get(row.description) !== row.rank) continue;
        if (row.type === "SCHEMA") continue; // Flyway created the schema; not a migration
        if (row.type === "BASELINE") {
          // A Flyway baseline: every version up to it counts as applied.
          const base = normalizeFlywayVersion(row.version ?? "0");
          for (const i of imported) if (i.record["version"] && compareFlywayVersions(i.record["version"], base) <= 0) applied.add(i.m.id);
          continue;
        }
        const hit = row.version !== null ? find("version", normalizeFlywayVersion(row.version)) : find("repeatable", row.description);
        if (!hit) unmatched.push(`flyway ${row.version !== null ? `version ${row.version}` : "repeatable"} (${row.script})`);
        else {
          applied.add(hit.m.id);
          if (row.checksum !== null && String(row.checksum) !== hit.record["checksum"]) {
            modified.push(`${hit.m.name} (flyway ${row.script}): the script changed after Flyway ran it (checksum ${row.checksum}, the file's is ${hit.record["checksum"]})`);
          }
        }
      }
      break;
    }
    case "golang-migrate": {
      if (foreign.version === null) break;
      const current = BigInt(foreign.version);
      if (!find("version", String(current))) unmatched.push(`golang-migrate version ${current}`);
      // golang-migrate records only the current version: everything up to it has run.
      else for (const i of imported) if (BigInt(i.record["version"] ?? "0") <= current) applied.add(i.m.id);
      break;
    }
    case "dbmate":
    case "goose":
      for (const v of foreign.versions) {
        const hit = find("version", v);
        if (!hit) unmatched.push(`${foreign.tool} version ${v}`);
        else applied.add(hit.m.id);
      }
      break;
    case "alembic": {
      // alembic_version holds the head(s); everything on the chain down from them has run.
      const byRevision = new Map(imported.map((i) => [i.record["revision"] ?? "", i]));
      const stack = [...foreign.heads];
      for (const h of foreign.heads) if (!byRevision.has(h)) unmatched.push(`alembic revision ${h}`);
      const seen = new Set<string>();
      while (stack.length > 0) {
        const rev = stack.pop() ?? "";
        const hit = byRevision.get(rev);
        if (!hit || seen.has(rev)) continue;
        seen.add(rev);
        applied.add(hit.m.id);
        stack.push(...(hit.record["down"] ?? "").split(",").filter(Boolean));
      }
      break;
    }
  }
  return { tool: foreign.tool, versions: [...applied].sort((a, b) => a - b), unmatched, modified };
}

/**
 * The adoption hook: reads the tool's history in the live database and maps it onto
 * `migrations`. Null when there is no foreign history, or none of the files was imported from
 * that tool. Refuses, naming each entry, when the history holds migrations the files lack, a
 * file changed after the tool ran it, or the applied versions are not the first N migrations.
 * A history the admin cannot read yet is {@link NotReadableYetError} (see {@link readForeignHistory}).
 */
export function foreignAppliedVersions(
  migrations: readonly Migration[],
  options: ForeignHistoryOptions = {},
): (client: pg.ClientBase) => Promise<{ tool: string; versions: number[] } | null> {
  const tools = new Set(migrations.flatMap((m) => parseProvenance(m.sql)?.tool ?? []));
  return async (client) => {
    if (tools.size === 0) return null;
    const foreign = await readForeignHistory(client, { ...options, tools });
    if (!foreign) return null;
    const mapped = mapForeignHistory(foreign, migrations);
    const problems = [
      ...mapped.unmatched.map((u) => `${u} is recorded as applied, but no migration file was imported from it`),
      ...mapped.modified.map((m) => `${m}`),
    ];
    // pgstack's history is an in-order prefix of the files: 1..N, nothing skipped.
    const sorted = [...migrations].sort((a, b) => a.id - b.id);
    const n = mapped.versions.length;
    const skipped = sorted.slice(0, n).filter((m) => !mapped.versions.includes(m.id));
    if (skipped.length > 0) {
      problems.push(`${mapped.tool} applied ${describe(sorted, mapped.versions)} but not ${skipped.map((m) => m.name).join(", ")}, which come before`);
    }
    if (problems.length > 0) {
      throw new ForeignHistoryError(
        `${foreign.table}: the ${mapped.tool} history cannot be mapped onto the migration files:\n` + problems.map((p) => `  - ${p}`).join("\n"),
        "import the tool's folder as it was when this database was last migrated, or bring the database up to date with the tool first; or state the adopted version with `baseline: N`",
      );
    }
    return { tool: mapped.tool, versions: mapped.versions };
  };
}

function describe(sorted: readonly Migration[], versions: readonly number[]): string {
  const names = sorted.filter((m) => versions.includes(m.id)).map((m) => m.name);
  return names.length > 4 ? `${names.slice(0, 2).join(", ")}, … ${names[names.length - 1]}` : names.join(", ");
}
