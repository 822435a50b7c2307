/**
 * The `privilege` rules: statements that reach beyond the database's own objects. Roles,
 * databases and server settings belong to the whole server (a throwaway build cannot undo them,
 * and a leaked role outlives the run); `SET ROLE` / `RESET ROLE` and `SET SESSION AUTHORIZATION`
 * leave the owner role the migrations run as; `COPY … PROGRAM` and server files run or read on
 * the database host; dblink and postgres_fdw open connections to other servers. Each is flagged at
 * file:line:col with the safe alternative; the prod profile refuses it unless a migration
 * acknowledges it (`-- pgstack:accept privilege "<subject>" -- reason: …`).
 */
import { add, charAt, type Ctx, type Node } from "./batch.js";

/** The safe alternative of each kind of statement. */
const ALTERNATIVE = {
  role: "leave the owner role as it is: run migrations as the owner (pgstack sets it); a statement that needs another role's rights belongs in the stack config or a reviewed runbook step, not in a migration",
  roleDdl: "declare roles and memberships in the stack config (pgstack:databases[].roles, grants), where preview shows them and pgstack creates them once for every environment",
  database: "declare databases in the stack config (pgstack:databases); a migration changes only the objects of its own database",
  system: "change server settings in the server's configuration (or the managed service's parameter group), reviewed apart from the migrations; per-database settings belong in the stack config",
  copy: "load files from the client (COPY … FROM STDIN, psql's \\copy) instead of the database server's file system or a program run on it",
  remote: "move the data with a reviewed job outside the migration (pg_dump/pg_restore, a one-off script); connections to other servers do not belong in a schema migration",
} as const;

/** Functions of the dblink extension that open or use a connection to another server. */
const DBLINK = /^dblink(_[a-z_]+)?$/;

/** Checks one statement (every kind) against the privilege rules. */
export function privilegeChecks(ctx: Ctx, kind: string, n: Node): void {
  const flag = (rule: string, subject: string, message: string, alternative: string, at?: number) =>
    add(ctx, { rule: `pgstack/${rule}`, class: "privilege", subject, describe: () => message, safeAlternative: alternative }, charAt(ctx, at));
  const roleName = (spec: Node | undefined): string => spec?.["rolename"] ?? String(spec?.["roletype"] ?? "").replace(/^ROLESPEC_/, "").toLowerCase();
  switch (kind) {
    case "VariableSetStmt": {
      const name: string = n["name"] ?? "";
      const reset = n["kind"] === "VAR_RESET";
      const value: string = n["args"]?.[0]?.["A_Const"]?.["sval"]?.["sval"] ?? "";
      if (name === "role") {
        const what = reset ? "RESET ROLE" : `SET ROLE ${value}`;
        flag(reset ? "reset-role" : "set-role", what, `${what} leaves the owner role the migrations run as: what follows runs with ${reset ? "the connecting admin's rights" : `${value}'s rights`}`, ALTERNATIVE.role);
      } else if (name === "session_authorization") {
        const what = reset ? "RESET SESSION AUTHORIZATION" : `SET SESSION AUTHORIZATION ${value}`;
        flag("session-authorization", what, `${what} changes the session's user: what follows runs with another role's rights`, ALTERNATIVE.role);
      }
      return;
    }
    case "CreateRoleStmt": {
      const verb = { ROLESTMT_USER: "USER", ROLESTMT_GROUP: "GROUP" }[n["stmt_type"] as string] ?? "ROLE";
      flag("role-ddl", n["role"], `CREATE ${verb} ${n["role"]}: roles belong to the whole server, not to this database`, ALTERNATIVE.roleDdl);
      return;
    }
    case "AlterRoleStmt":
    case "AlterRoleSetStmt":
      flag("role-ddl", roleName(n["role"]), `ALTER ROLE ${roleName(n["role"])}: roles belong to the whole server, not to this database`, ALTERNATIVE.roleDdl);
      return;
    case "DropRoleStmt":
      for (const r of n["roles"] ?? []) {
        const name = roleName(r["RoleSpec"]);
        flag("role-ddl", name, `DROP ROLE ${name}: roles belong to the whole server, not to this database`, ALTERNATIVE.roleDdl, r["RoleSpec"]?.["location"]);
      }
      return;
    case "GrantRoleStmt": {
      const roles: string[] = (n["granted_roles"] ?? []).map((p: Node) => p["AccessPriv"]?.["priv_name"] ?? "");
      const grantees: string[] = (n["grantee_roles"] ?? []).map((g: Node) => roleName(g["RoleSpec"]));
      const verb = n["is_grant"] ? "GRANT" : "REVOKE";
      for (const role of roles) {
        flag("role-membership", role, `${verb} ${role} ${n["is_grant"] ? "TO" : "FROM"} ${grantees.join(", ")}: a role membership carries that role's rights across the server`, ALTERNATIVE.roleDdl);
      }
      return;
    }
    case "RenameStmt":
      if (n["renameType"] === "OBJECT_ROLE") flag("role-ddl", n["subname"], `ALTER ROLE ${n["subname"]} RENAME TO ${n["newname"]}: roles belong to the whole server`, ALTERNATIVE.roleDdl);
      if (n["renameType"] === "OBJECT_DATABASE") flag("database-ddl", n["subname"], `ALTER DATABASE ${n["subname"]} RENAME TO ${n["newname"]}: databases belong to the server, not to a migration`, ALTERNATIVE.database);
      return;
    case "CreatedbStmt":
    case "DropdbStmt":
    case "AlterDatabaseStmt":
    case "AlterDatabaseSetStmt":
    case "AlterDatabaseRefreshCollStmt": {
      const verb = kind === "CreatedbStmt" ? "CREATE" : kind === "DropdbStmt" ? "DROP" : "ALTER";
      flag("database-ddl", n["dbname"], `${verb} DATABASE ${n["dbname"]}: databases belong to the server, not to a migration`, ALTERNATIVE.database);
      return;
    }
    case "AlterOwnerStmt":
      if (n["objectType"] === "OBJECT_DATABASE") {
        const db: string = n["object"]?.["String"]?.["sval"] ?? "";
        flag("database-ddl", db, `ALTER DATABASE ${db} OWNER TO ${roleName(n["newowner"])}: databases belong to the server, not to a migration`, ALTERNATIVE.database);
      }
      return;
    case "AlterSystemStmt": {
      const name: string = n["setstmt"]?.["name"] ?? "ALL";
      flag("alter-system", name, `ALTER SYSTEM … ${name}: changes the whole server's configuration (postgresql.auto.conf), for every database`, ALTERNATIVE.system);
      return;
    }
    case "CopyStmt": {
      if (!n["filename"]) return; // STDIN / STDOUT: the client's data
      const dir = n["is_from"] ? "FROM" : "TO";
      const what = n["is_program"] ? `COPY … ${dir} PROGRAM` : `COPY … ${dir} a server file`;
      const effect = n["is_program"] ? "runs a shell command on the database server" : `${n["is_from"] ? "reads" : "writes"} ${n["filename"]} on the database server's file system`;
      flag(n["is_program"] ? "copy-program" : "copy-server-file", what, `${what} ${effect}`, ALTERNATIVE.copy);
      return;
    }
    case "CreateExtensionStmt":
      if (n["extname"] === "dblink" || n["extname"] === "postgres_fdw") {
        flag("remote-connection", n["extname"], `CREATE EXTENSION ${n["extname"]}: lets this database open connections to other servers`, ALTERNATIVE.remote);
      }
      return;
    case "CreateForeignServerStmt":
      flag("remote-connection", n["servername"], `CREATE SERVER ${n["servername"]} (${n["fdwname"]}): a connection to another server`, ALTERNATIVE.remote);
      return;
    case "CreateUserMappingStmt":
    case "AlterUserMappingStmt":
      flag("remote-connection", n["servername"], `${kind === "CreateUserMappingStmt" ? "CREATE" : "ALTER"} USER MAPPING … SERVER ${n["servername"]}: credentials for a connection to another server`, ALTERNATIVE.remote);
      return;
  }
  // dblink calls can sit in any statement (a SELECT, an INSERT … SELECT FROM dblink(…), a view).
  for (const call of dblinkCalls(n)) {
    flag("remote-connection", call.name, `${call.name}(…) opens a connection to another server from the migration`, ALTERNATIVE.remote, call.location);
  }
}

/** Every call of a dblink function in a parse tree, with its byte location. */
function dblinkCalls(node: unknown, out: { name: string; location: number }[] = []): { name: string; location: number }[] {
  if (Array.isArray(node)) for (const x of node) dblinkCalls(x, out);
  else if (node && typeof node === "object") {
    const call = (node as Node)["FuncCall"];
    const name: string | undefined = call?.["funcname"]?.at(-1)?.["String"]?.["sval"];
    if (name && DBLINK.test(name)) out.push({ name, location: call["location"] });
    for (const v of Object.values(node)) dblinkCalls(v, out);
  }
  return out;
}
