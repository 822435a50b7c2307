/**
 * The admin's membership in an owner role. Migrations run as the owner, a reset drops the owner's
 * tables and refuses connections to the owner's database, and it ends the owner's sessions: the
 * admin needs the owner's privileges (INHERIT) and SET ROLE to it (SET). A superuser has both.
 *
 * PostgreSQL 16 split membership into ADMIN, INHERIT and SET options, and gives the creator of a
 * role (a CREATEROLE admin) ADMIN only, unless the server's `createrole_self_grant` says
 * otherwise: `pg_has_role(…, 'MEMBER')` is then true while the owner's privileges are not the
 * admin's. So the grant names its options there: `GRANT owner TO admin WITH INHERIT TRUE, SET TRUE`
 * (granting needs that ADMIN option, which the role's creator has). Before 16, membership is one
 * thing, and `GRANT owner TO admin` gives it all (a CREATEROLE admin may grant any non-superuser role).
 */
import type pg from "pg";
import { serverMajorOf } from "./connection.js";
import { errorMessage, PgstackError } from "./errors.js";
import { quoteIdent } from "./identifiers.js";

/** What the current user holds of a role. */
export interface RoleMembership {
  /** Its privileges without SET ROLE (`pg_has_role(…, 'USAGE')`, the server's `has_privs_of_role`). */
  inherit: boolean;
  /** It may SET ROLE to it (before PostgreSQL 16: any member may). */
  set: boolean;
  /** It may grant the role (ADMIN OPTION; before 16, CREATEROLE on a non-superuser role also may). */
  admin: boolean;
  /** The current user is a superuser: it holds every role's privileges. */
  superuser: boolean;
  /**
   * It lacks the role's privileges and `up`'s grant ({@link grantOwnerMembership}) is what gives
   * them (or refuses, naming the superuser's statement): it is no member yet, or (16+) holds only
   * ADMIN OPTION, as the server's own grant to a CREATEROLE creator is (`createrole_self_grant`
   * unset); that membership does not count as joined.
   */
  joinsDuringUp: boolean;
}

/** What the current user holds of `role`; undefined when the role does not exist. */
export async function readMembership(client: pg.ClientBase, role: string): Promise<RoleMembership | undefined> {
  const major = await serverMajorOf(client);
  // 'SET' is a privilege type of pg_has_role from 16 on; before, any member may SET ROLE.
  const set = major >= 16 ? "pg_has_role(r.oid, 'SET')" : "pg_has_role(r.oid, 'MEMBER')";
  const admin = `pg_has_role(r.oid, 'MEMBER WITH ADMIN OPTION')${major >= 16 ? "" : " OR (me.rolcreaterole AND NOT r.rolsuper)"}`;
  const joins = `NOT pg_has_role(r.oid, 'USAGE') AND (NOT pg_has_role(r.oid, 'MEMBER')${major >= 16 ? " OR pg_has_role(r.oid, 'MEMBER WITH ADMIN OPTION')" : ""})`;
  const { rows } = await client.query<RoleMembership>(
    `SELECT pg_has_role(r.oid, 'USAGE') AS inherit, ${set} AS set, ${admin} AS admin, me.rolsuper AS superuser, ${joins} AS "joinsDuringUp"
       FROM pg_roles r, pg_roles me WHERE r.rolname = $1 AND me.rolname = current_user`,
    [role],
  );
  return rows[0];
}

/** What {@link grantOwnerMembership} did. */
export interface MembershipOutcome {
  /** `granted`: pgstack's grant was made (or its options set); `present`: the admin had it all already. */
  action: "granted" | "present";
  /** The statement it ran, when it ran one. */
  statement?: string;
}

/** The GRANT that gives the current user INHERIT and SET on `owner` on a server of `major`. */
export function membershipGrant(owner: string, major: number): string {
  return `GRANT ${quoteIdent(owner)} TO CURRENT_USER${major >= 16 ? " WITH INHERIT TRUE, SET TRUE" : ""}`;
}

/**
 * Makes the current user (the admin) a member of `owner` with INHERIT and SET. Nothing is run when
 * it has both already (a superuser, an earlier grant, `createrole_self_grant = 'set, inherit'`). A
 * refusal says which option is missing and the statement a superuser (or the role's creator) runs.
 */
export async function grantOwnerMembership(client: pg.ClientBase, owner: string): Promise<MembershipOutcome> {
  const now = await readMembership(client, owner);
  if (!now) throw new PgstackError("ROLE_MISSING", `role "${owner}" does not exist, so the admin cannot become a member of it`, { hint: "declare it in the database's roles (or adopt it)" });
  if (now.superuser || (now.inherit && now.set)) return { action: "present" };
  const major = await serverMajorOf(client);
  const statement = membershipGrant(owner, major);
  try {
    await client.query(statement);
  } catch (err) {
    if ((err as { code?: string }).code !== "42501") throw err;
    const { rows } = await client.query<{ u: string }>("SELECT current_user AS u");
    const admin = quoteIdent(rows[0]?.u ?? "admin");
    throw new PgstackError(
      "MEMBERSHIP_NOT_PERMITTED",
      `the admin ${admin} must be a member of the owner role "${owner}" with its privileges (INHERIT) and SET ROLE (SET), ` +
        `and may not grant that itself: ${errorMessage(err)}`,
      {
        hint:
          major >= 16
            ? `PostgreSQL ${major} lets only a holder of ADMIN OPTION grant a role (the role's creator has it): as a superuser or the role's creator, run GRANT ${quoteIdent(owner)} TO ${admin} WITH INHERIT TRUE, SET TRUE (or WITH ADMIN OPTION, to let pgstack do it)`
            : `as a superuser, run GRANT ${quoteIdent(owner)} TO ${admin}`,
        cause: err,
      },
    );
  }
  return { action: "granted", statement };
}

/**
 * Revokes the grant {@link grantOwnerMembership} made (the one whose grantor is the admin); a
 * membership granted by someone else stays. A role that no longer exists is nothing to revoke.
 */
export async function revokeOwnerMembership(client: pg.ClientBase, owner: string): Promise<void> {
  const { rowCount } = await client.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [owner]);
  if (!rowCount) return;
  await client.query(`REVOKE ${quoteIdent(owner)} FROM CURRENT_USER`);
}
