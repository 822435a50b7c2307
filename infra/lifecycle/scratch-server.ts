/**
 * What a migration can do beyond its own database: roles, role memberships, databases,
 * tablespaces and per-role settings belong to the whole server. A scratch run must leave them
 * exactly as it found them, so before it runs it reads them and refuses (at file:line) what it
 * could not undo, and afterwards it removes what its migrations created.
 */
import type pg from "pg";
import { errorMessage, formatLocation, PgstackError, type SourceLocation } from "./errors.js";
import { quoteIdent } from "./identifiers.js";
import { dropDatabaseForce, SCRATCH_PREFIX } from "./scratch-names.js";
import type { Logger } from "./connection.js";
import type { Migration } from "./source.js";
import { splitStatements } from "./sql.js";
import { lineColumnAt } from "./text.js";

/** The server-wide catalogs as one run found them: each row as text, keyed by its name. */
export interface ServerObjects {
  /** pg_roles: name → attributes. */
  roles: Map<string, string>;
  /** pg_auth_members: `role\0member` → options. */
  memberships: Map<string, string>;
  /** pg_database: name → owner, ACL and settings that a statement can change. */
  databases: Map<string, string>;
  /** pg_tablespace: name → owner, ACL, options. */
  tablespaces: Map<string, string>;
  /** pg_db_role_setting: `database\0role` → settings. */
  settings: Map<string, string>;
}

/** Reads the server-wide catalogs (every role may read them). */
export async function readServerObjects(client: pg.Client): Promise<ServerObjects> {
  const { rows } = await client.query<{ kind: keyof ServerObjects; key: string; value: string }>(`
    SELECT 'roles' AS kind, rolname AS key, concat_ws(' ', rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil) AS value FROM pg_roles
    UNION ALL
    SELECT 'memberships', r.rolname || E'\\x01' || m.rolname, (to_jsonb(a) - 'oid' - 'roleid' - 'member' - 'grantor')::text
      FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
    UNION ALL
    SELECT 'databases', datname, concat_ws(' ', pg_get_userbyid(datdba), datacl::text, datallowconn, datconnlimit, datistemplate, dattablespace) FROM pg_database
    UNION ALL
    SELECT 'tablespaces', spcname, concat_ws(' ', pg_get_userbyid(spcowner), spcacl::text, spcoptions::text) FROM pg_tablespace
    UNION ALL
    SELECT 'settings', coalesce(d.datname, '') || E'\\x01' || coalesce(r.rolname, ''), s.setconfig::text
      FROM pg_db_role_setting s LEFT JOIN pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_roles r ON r.oid = s.setrole`);
  const out: ServerObjects = { roles: new Map(), memberships: new Map(), databases: new Map(), tablespaces: new Map(), settings: new Map() };
  for (const r of rows) out[r.kind].set(r.key.replace("\x01", "\0"), r.value);
  return out;
}

/** What the migrations will create server-wide (to remove afterwards), read from their SQL. */
export interface ServerChanges {
  roles: Set<string>;
  databases: Set<string>;
  /** `[role, member]` memberships a `GRANT role TO member` adds. */
  memberships: [string, string][];
  /**
   * `CREATE ROLE` statements of roles that existed before the run (a migration applied for real
   * created them): not replayed in the scratch run, never dropped after it.
   */
  existingRoles: { role: string; file: string; offset: number; length: number }[];
}

/** A scratch run refused before anything ran: its migrations change what it cannot undo. */
export class ScratchRefusedError extends PgstackError {
  readonly location?: SourceLocation;
  constructor(problems: readonly { location: SourceLocation; what: string }[]) {
    const lines = problems.map((p) => `${formatLocation(p.location)}: ${p.what}`);
    super("SCRATCH_REFUSED", `a throwaway run of the migrations would change the server outside its own database, which it cannot undo; nothing was run:\n${lines.map((l) => `    ${l}`).join("\n")}`, {
      hint: "roles, databases and settings that existed before belong to the whole server: manage them in the stack config (roles) or by hand, not in a migration",
    });
    this.location = problems[0]?.location;
  }
}

type Node = Record<string, unknown>;
/** A RoleSpec's name, or undefined for CURRENT_USER, SESSION_USER, PUBLIC, ALL. */
const roleName = (spec: unknown): string | undefined => {
  const r = ((spec as Node | undefined)?.["RoleSpec"] ?? spec) as Node | undefined;
  return r?.["roletype"] === "ROLESPEC_CSTRING" ? (r["rolename"] as string) : undefined;
};
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => ((v as Node | undefined)?.["String"] as Node | undefined)?.["sval"] as string | undefined;

/**
 * The server-wide changes of `migrations`, in order, against the server as `existing` describes
 * it. Throws {@link ScratchRefusedError} naming file:line for each statement whose effect cannot
 * be undone: altering, renaming, commenting or dropping a role or database that existed before,
 * revoking an existing membership, tablespaces, `ALTER SYSTEM`, grants on databases, tablespaces
 * or parameters. Creating roles, memberships and databases is allowed (they are removed after).
 * Call {@link loadSqlParser} first.
 */
export function planServerChanges(migrations: readonly Migration[], existing: ServerObjects): ServerChanges {
  const out: ServerChanges = { roles: new Set(), databases: new Set(), memberships: [], existingRoles: [] };
  const problems: { location: SourceLocation; what: string }[] = [];
  const ourRole = (name: string | undefined) => name !== undefined && out.roles.has(name);
  const ourDb = (name: unknown) => typeof name === "string" && out.databases.has(name);
  for (const m of migrations) {
    for (const s of splitStatements(m.sql, m.file)) {
      const n = s.node;
      const refuse = (what: string) => problems.push({ location: { file: m.file, ...lineColumnAt(m.sql, s.offset) }, what });
      const role = (spec: unknown, verb: string) => {
        const name = roleName(spec);
        if (!ourRole(name)) refuse(`${verb} ${name ? `the role "${name}", which existed before` : "a role named by CURRENT_USER/SESSION_USER/ALL"}`);
      };
      const db = (name: unknown, verb: string) => {
        if (!ourDb(name)) refuse(`${verb} the database "${String(name)}", which existed before (or is another database)`);
      };
      switch (s.kind) {
        case "CreateRoleStmt": {
          const name = n["role"] as string;
          // Created for real long ago (the server keeps it): the copy must not create it again.
          if (existing.roles.has(name) && !ourRole(name)) out.existingRoles.push({ role: name, file: m.file, offset: s.offset, length: s.sql.length });
          else out.roles.add(name);
          break;
        }
        case "AlterRoleStmt":
          role(n["role"], "alters");
          break;
        case "AlterRoleSetStmt":
          role(n["role"], "changes the settings of");
          if (n["database"] !== undefined) db(n["database"], "changes role settings in");
          break;
        case "DropRoleStmt":
          for (const r of list(n["roles"])) role(r, "drops");
          break;
        case "GrantRoleStmt": {
          const granted = list(n["granted_roles"]).map((a) => ((a as Node)["AccessPriv"] as Node | undefined)?.["priv_name"] as string | undefined);
          const grantees = list(n["grantee_roles"]).map(roleName);
          if (n["is_grant"]) {
            for (const g of granted) for (const e of grantees) if (g && e) out.memberships.push([g, e]);
          } else if (![...granted, ...grantees].every(ourRole)) refuse("revokes a membership between roles that existed before");
          break;
        }
        case "CreatedbStmt":
          out.databases.add(n["dbname"] as string);
          break;
        case "DropdbStmt":
          db(n["dbname"], "drops");
          break;
        case "AlterDatabaseStmt":
        case "AlterDatabaseSetStmt":
        case "AlterDatabaseRefreshCollStmt":
          db(n["dbname"], "alters");
          break;
        case "AlterSystemStmt":
          refuse("ALTER SYSTEM changes the server's configuration");
          break;
        case "CreateTableSpaceStmt":
        case "DropTableSpaceStmt":
        case "AlterTableSpaceOptionsStmt":
          refuse("creates, drops or alters a tablespace");
          break;
        case "RenameStmt":
        case "AlterOwnerStmt":
        case "CommentStmt":
        case "SecLabelStmt":
        case "GrantStmt": {
          const kind = (n["renameType"] ?? n["objectType"] ?? n["objtype"]) as string | undefined;
          const verb = s.kind === "GrantStmt" ? "grants or revokes on" : s.kind === "RenameStmt" ? "renames" : s.kind === "AlterOwnerStmt" ? "changes the owner of" : "comments on or labels";
          const named = s.kind === "RenameStmt" ? (n["subname"] as string | undefined) : str(n["object"]);
          const objects = s.kind === "GrantStmt" ? list(n["objects"]).map(str) : [named];
          if (kind === "OBJECT_ROLE") for (const o of objects) role({ roletype: "ROLESPEC_CSTRING", rolename: o }, verb);
          else if (kind === "OBJECT_DATABASE") for (const o of objects) db(o, verb);
          else if (kind === "OBJECT_TABLESPACE" || kind === "OBJECT_PARAMETER_ACL") refuse(`${verb} a ${kind === "OBJECT_TABLESPACE" ? "tablespace" : "server parameter"}`);
          break;
        }
      }
    }
  }
  for (const d of out.databases) if (existing.databases.has(d)) out.databases.delete(d);
  if (problems.length > 0) throw new ScratchRefusedError(problems);
  return out;
}

/**
 * Whether a build of `migrations` creates anything server-wide (a role, a membership, a
 * database) or holds what a scratch run refuses: a build that runs while the same migrations are
 * applied for real would then race the real run for the same names. Call {@link loadSqlParser} first.
 */
export function touchesServer(migrations: readonly Migration[]): boolean {
  const none: ServerObjects = { roles: new Map(), memberships: new Map(), databases: new Map(), tablespaces: new Map(), settings: new Map() };
  try {
    const c = planServerChanges(migrations, none);
    return c.roles.size > 0 || c.databases.size > 0 || c.memberships.length > 0;
  } catch {
    return true;
  }
}

/**
 * The migrations as a scratch run replays them: each `CREATE ROLE` of a role that existed before
 * the run ({@link ServerChanges.existingRoles}) is blanked with spaces, so every file:line:col
 * stays right and the rest of the file runs as written. Logs one line per statement.
 */
export function replayable(migrations: readonly Migration[], changes: ServerChanges, log: Logger): Migration[] {
  if (changes.existingRoles.length === 0) return [...migrations];
  return migrations.map((m) => {
    const skips = changes.existingRoles.filter((r) => r.file === m.file);
    if (skips.length === 0) return m;
    let sql = m.sql;
    for (const r of skips) {
      sql = sql.slice(0, r.offset) + sql.slice(r.offset, r.offset + r.length).replace(/[^\n]/g, " ") + sql.slice(r.offset + r.length);
      log.info(`scratch: ${formatLocation({ file: m.file, ...lineColumnAt(m.sql, r.offset) })}: CREATE ROLE "${r.role}" is not replayed: the role exists on the server already (the migration ran for real); it is kept as it is`);
    }
    return { ...m, sql };
  });
}

/**
 * Removes what a run created server-wide: the memberships it granted, the databases and roles
 * it created (those `changes` names and `before` lacks; objects other sessions created meanwhile
 * are never touched). Call after the scratch database is dropped, so no role still owns anything
 * there. Returns what is still different from `before` among those objects (empty when undone).
 */
export async function undoServerChanges(client: pg.Client, before: ServerObjects, changes: ServerChanges, log: Logger): Promise<string[]> {
  const now = await readServerObjects(client);
  // Why each removal failed, so the error that lists what is left says why (not only the log).
  const reasons = new Map<string, string>();
  const attempt = async (remove: () => Promise<unknown>, what: string) => {
    try {
      await remove();
      log.info(`scratch: removed ${what}, which the migrations created (a server-wide object)`);
    } catch (err) {
      // DROP ROLE's "some objects depend on it" names the objects only in its DETAIL.
      const detail = (err as { detail?: unknown }).detail;
      const reason = `${errorMessage(err)}${typeof detail === "string" && detail ? ` (${detail.replace(/\n/g, "; ")})` : ""}`;
      reasons.set(what, reason);
      log.warn(`scratch: could not remove ${what}: ${reason}`);
    }
  };
  for (const [role, member] of changes.memberships) {
    const key = `${role}\0${member}`;
    if (!before.memberships.has(key) && now.memberships.has(key) && !changes.roles.has(role) && !changes.roles.has(member)) {
      await attempt(() => client.query(`REVOKE ${quoteIdent(role)} FROM ${quoteIdent(member)}`), `the membership of "${member}" in "${role}"`);
    }
  }
  for (const d of changes.databases) if (now.databases.has(d)) await attempt(() => dropDatabaseForce(client, d), `the database "${d}"`);
  for (const r of changes.roles) if (now.roles.has(r)) await attempt(() => client.query(`DROP ROLE IF EXISTS ${quoteIdent(r)}`), `the role "${r}"`);
  const after = await readServerObjects(client);
  const left: string[] = [];
  const why = (what: string) => (reasons.has(what) ? ` (${reasons.get(what)})` : "");
  for (const r of changes.roles) if (after.roles.has(r)) left.push(`role "${r}"${why(`the role "${r}"`)}`);
  for (const d of changes.databases) if (after.databases.has(d)) left.push(`database "${d}"${why(`the database "${d}"`)}`);
  for (const [role, member] of changes.memberships) {
    const key = `${role}\0${member}`;
    if (!before.memberships.has(key) && after.memberships.has(key)) left.push(`membership of "${member}" in "${role}"${why(`the membership of "${member}" in "${role}"`)}`);
  }
  // Existing objects the parse could not see change (dynamic SQL in a DO block or function).
  // Not the scratch databases and roles of other pgstack runs on the server: those change by
  // themselves (a drop closes its database first), and never by this run's migrations.
  for (const kind of ["roles", "databases", "tablespaces"] as const) {
    for (const [name, value] of before[kind]) {
      if (!name.startsWith(SCRATCH_PREFIX) && after[kind].has(name) && after[kind].get(name) !== value) left.push(`${kind.slice(0, -1)} "${name}" (changed)`);
    }
  }
  return left;
}
