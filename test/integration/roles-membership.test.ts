/**
 * The admin's roles as managed Postgres has them, on the suites' server (run it with
 * PGSTACK_TEST_PG_VERSION=14|16|17|18 for the others): the membership in the owner role with
 * INHERIT and SET (PostgreSQL 16+ gives a role's creator ADMIN only), which sessions the
 * non-superuser admin may end (checked against the server itself), a reset while the application
 * holds sessions, a `public` schema owned by pg_database_owner, and MAINTAIN on 17+.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { grantOwnerMembership, otherSessions, readMembership, resetDatabase, revokeOwnerMembership, type ManagedSchema } from "../../infra/lifecycle/index.js";
import { PgstackError } from "../../infra/lifecycle/errors.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeIdleConnections } from "../../infra/providers/common.js";
import { guard } from "../../infra/providers/kinds.js";
import { adminConnection, closeClients, connectTo, freshDatabase, query, serverMajor, superuserConnection } from "../support/db.js";

afterEach(async () => {
  await closeIdleConnections();
  await closeClients();
});
beforeAll(loadSqlParser);

const admin = () => adminConnection().user;
const major = () => serverMajor();

/** pg_auth_members rows of the admin in `role` (16+: with their options and grantor). */
async function grantsOf(role: string): Promise<Record<string, unknown>[]> {
  const cols = major() >= 16 ? "pg_get_userbyid(grantor) AS grantor, admin_option, inherit_option, set_option" : "admin_option";
  return query(superuserConnection(), `SELECT ${cols} FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole ORDER BY 1`, [role, admin()]);
}

describe("the admin's membership in an owner role", () => {
  it("of a role it created: granted with INHERIT and SET (PostgreSQL 16+ gave it ADMIN only), once, and revoked again", async () => {
    const db = await freshDatabase("rm");
    const owner = `${db.database}_owner`;
    await query(db, `CREATE ROLE ${owner}`);
    const cl = await connectTo(db);
    const before = await readMembership(cl, owner);
    // 16+: the creator holds ADMIN without the owner's privileges; before 16 the creator is no member at all.
    // Either way it has not joined yet: up's grant gives it the owner's privileges.
    expect(before).toEqual({ inherit: false, set: false, admin: true, superuser: false, joinsDuringUp: true });
    if (major() >= 16) expect(await grantsOf(owner)).toEqual([{ grantor: superuserConnection().user, admin_option: true, inherit_option: false, set_option: false }]);

    expect(await grantOwnerMembership(cl, owner)).toEqual({ action: "granted", statement: `GRANT "${owner}" TO CURRENT_USER${major() >= 16 ? " WITH INHERIT TRUE, SET TRUE" : ""}` });
    expect(await readMembership(cl, owner)).toMatchObject({ inherit: true, set: true, joinsDuringUp: false });
    if (major() >= 16) expect(await grantsOf(owner)).toContainEqual({ grantor: admin(), admin_option: false, inherit_option: true, set_option: true });
    // The owner's privileges are the admin's now: it may own what the owner owns, e.g. a schema.
    await cl.query(`CREATE SCHEMA s AUTHORIZATION ${owner}; DROP SCHEMA s`);
    expect(await grantOwnerMembership(cl, owner)).toEqual({ action: "present" });

    await revokeOwnerMembership(cl, owner);
    expect(await readMembership(cl, owner)).toMatchObject({ inherit: false, set: false });
  });

  it("of a role someone else created: on 16+ refused, naming the statement a superuser runs; before 16 CREATEROLE may grant it", async () => {
    const db = await freshDatabase("rm");
    const owner = `${db.database}_owner`;
    await query(superuserConnection(), `CREATE ROLE ${owner}`);
    const cl = await connectTo(db);
    const outcome = await grantOwnerMembership(cl, owner).catch((e: unknown) => e);
    if (major() >= 16) {
      expect(outcome).toBeInstanceOf(PgstackError);
      expect((outcome as PgstackError).code).toBe("MEMBERSHIP_NOT_PERMITTED");
      expect((outcome as Error).message).toContain(`the admin "${admin()}" must be a member of the owner role "${owner}" with its privileges (INHERIT) and SET ROLE (SET)`);
      expect((outcome as PgstackError).hint).toContain(`GRANT "${owner}" TO "${admin()}" WITH INHERIT TRUE, SET TRUE`);
      expect(await readMembership(cl, owner)).toMatchObject({ inherit: false, set: false, admin: false });
    } else {
      expect(outcome).toMatchObject({ action: "granted" });
      expect(await readMembership(cl, owner)).toMatchObject({ inherit: true, set: true });
    }
  });
});

/** A LOGIN role with a session on `db`; `created` by the admin (default) or by a superuser. */
async function sessionAs(db: { database: string }, role: string, by: "admin" | "superuser" = "admin") {
  await query(by === "admin" ? adminConnection() : superuserConnection(), `CREATE ROLE ${role} LOGIN PASSWORD 'pw-${role}'`);
  await query(superuserConnection(), `GRANT CONNECT ON DATABASE ${db.database} TO ${role}`);
  const client = await connectTo({ ...adminConnection(), database: db.database, user: role, password: `pw-${role}` });
  const pid = (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
  return { client, pid };
}

describe("which sessions the non-superuser admin may end", () => {
  it("is decided as the server decides it: each prediction checked with pg_terminate_backend itself", async () => {
    const db = await freshDatabase("rs");
    const owner = `${db.database}_owner`;
    const app = `${db.database}_app`;
    const ownerSession = await sessionAs(db, owner);
    const appSession = await sessionAs(db, app);
    const suSession = await connectTo({ ...superuserConnection(), database: db.database });
    const suPid = (await suSession.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
    const cl = await connectTo(db);
    await grantOwnerMembership(cl, owner);

    const sessions = await otherSessions(cl, db.database);
    expect(sessions).toEqual(
      expect.arrayContaining([
        { pid: ownerSession.pid, user: owner },
        // 16+: the admin created the app role (ADMIN) but has not its privileges; before 16 it is no member.
        { pid: appSession.pid, user: app, refusal: "privileges" },
        { pid: suPid, user: superuserConnection().user, refusal: "superuser" },
      ]),
    );
    // The server agrees, session by session.
    for (const s of sessions) {
      const r = await cl.query<{ ok: boolean }>("SELECT pg_terminate_backend($1) AS ok", [s.pid]).then(
        (res) => res.rows[0]!.ok,
        (e: { code?: string }) => e.code,
      );
      expect([s.user, r]).toEqual([s.user, s.refusal ? "42501" : true]);
    }
  });

  it("a reset while the application holds sessions: ends the owner's, names the app's and the superuser's with the reason, and completes", async () => {
    const db = await freshDatabase("rs");
    const owner = `${db.database}_owner`;
    const app = `${db.database}_app`;
    const cl = await connectTo(db);
    // The owner logs in too (a worker running as the owner): the admin has its privileges.
    const ownerSession = await sessionAs(db, owner);
    await grantOwnerMembership(cl, owner);
    // The database and its public schema as PostgreSQL 15+ makes them: public owned by pg_database_owner.
    await query(superuserConnection(), `ALTER DATABASE ${db.database} OWNER TO ${owner}`);
    await query({ ...superuserConnection(), database: db.database }, `ALTER SCHEMA public OWNER TO pg_database_owner; CREATE TABLE public.t (id int); ALTER TABLE public.t OWNER TO ${owner}`);
    const appSession = await sessionAs(db, app);
    const suSession = await connectTo({ ...superuserConnection(), database: db.database });
    const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT"], sequences: [] }] }];
    await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });

    const warnings: string[] = [];
    const out = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true, logger: { info: () => undefined, warn: (m) => warnings.push(m) } });
    expect(out.action).toBe("reset");
    expect(out.terminatedBackends).toBe(1);
    await expect(ownerSession.client.query("SELECT 1")).rejects.toThrow();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`cannot end the sessions of ${app} (pid ${appSession.pid}): the admin "${admin()}" has neither the privileges of their role`);
    expect(warnings[0]).toMatch(new RegExp(`cannot end the sessions of ${superuserConnection().user} \\(pid \\d+\\): only a superuser may end a superuser's session`));
    expect((await appSession.client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    expect((await suSession.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);
    // public was pg_database_owner's; the reset rebuilt it as the stack's owner's, with its grants.
    expect(await query(db, "SELECT pg_get_userbyid(nspowner) AS o, has_schema_privilege($1, 'public', 'USAGE') AS u FROM pg_namespace WHERE nspname = 'public'", [app])).toEqual([{ o: owner, u: true }]);
    expect(await query(db, "SELECT datallowconn AS a FROM pg_database WHERE datname = current_database()")).toEqual([{ a: true }]);
  });
});

describe("MAINTAIN (PostgreSQL 17+)", () => {
  const need = { configPath: "pgstack:databases[0].grants[0].tablePrivileges", what: "the MAINTAIN privilege", major: 17, instead: "remove MAINTAIN from it" };

  it("is refused in preview on an older server, naming the config path and the server's version; accepted on 17+", async () => {
    const conn = { ...adminConnection(), database: "postgres" };
    const { failures } = await guard.check(undefined, { connection: conn, stack: "prod", objects: [], needs: [need] });
    if (major() >= 17) expect(failures).toEqual([]);
    else {
      expect(failures).toEqual([
        { property: "", reason: `pgstack:databases[0].grants[0].tablePrivileges: the MAINTAIN privilege exists from PostgreSQL 17 on, and ${conn.host}:${conn.port} runs PostgreSQL ${major()}\n  → remove MAINTAIN from it` },
      ]);
    }
  });

  it("reaches the tables the owner creates after a reset, through the default privileges (17+); an older server has no such privilege", async () => {
    const db = await freshDatabase("mt");
    const owner = `${db.database}_owner`;
    const app = `${db.database}_app`;
    const cl = await connectTo(db);
    await cl.query(`CREATE ROLE ${owner}; CREATE ROLE ${app}`);
    await grantOwnerMembership(cl, owner);
    await query(superuserConnection(), `ALTER DATABASE ${db.database} OWNER TO ${owner}`);
    // public's owner differs by version (the bootstrap superuser on 14, pg_database_owner after): the owner's here.
    await query({ ...superuserConnection(), database: db.database }, `ALTER SCHEMA public OWNER TO ${owner}`);
    const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT", "MAINTAIN"], sequences: [] }] }];
    const reset = resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false, force: true });
    if (major() < 17) {
      // Why the preview refuses it there: the server itself would fail the grant mid-run.
      await expect(reset).rejects.toThrow(/unrecognized privilege type "maintain"/);
      return;
    }
    await reset;
    await cl.query(`SET ROLE ${owner}; CREATE TABLE public.t (id int); RESET ROLE`);
    expect(await query(db, "SELECT has_table_privilege($1, 'public.t', 'MAINTAIN') AS m, has_table_privilege($1, 'public.t', 'UPDATE') AS u", [app])).toEqual([{ m: true, u: false }]);
  });
});
