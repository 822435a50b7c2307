/**
 * The server-wide catalogs a preview must leave exactly as they were. Integration files run in
 * parallel, so objects of other tests' databases (`<prefix>_<12 hex>…`, see freshDatabase) and
 * scratch objects of runs in progress are left out; everything else (the test's own objects,
 * any role a migration could create, every membership between them) is compared.
 */
import { SCRATCH_PREFIX } from "../../infra/lifecycle/scratch-names.js";
import { adminConnection, query } from "./db.js";

/** pg_roles, pg_auth_members and pg_database as seen from the test whose database is `own`. */
export async function serverWide(own: string) {
  const foreign = (name: string) => name.startsWith(SCRATCH_PREFIX) || (/^[a-z]+_[0-9a-f]{12}/.test(name) && !name.startsWith(own));
  const roles = await query<{ rolname: string }>(adminConnection(), "SELECT rolname, rolcreaterole, rolcreatedb, rolcanlogin, rolsuper FROM pg_roles ORDER BY 1");
  const members = await query<{ r: string; m: string }>(adminConnection(), "SELECT roleid::regrole::text AS r, member::regrole::text AS m, admin_option FROM pg_auth_members ORDER BY 1, 2");
  const databases = await query<{ datname: string }>(adminConnection(), "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database ORDER BY 1");
  return {
    roles: roles.filter((r) => !foreign(r.rolname)),
    members: members.filter((x) => !(foreign(x.r) && foreign(x.m)) && !x.r.startsWith(SCRATCH_PREFIX) && !x.m.startsWith(SCRATCH_PREFIX)),
    databases: databases.filter((d) => !foreign(d.datname)),
  };
}
