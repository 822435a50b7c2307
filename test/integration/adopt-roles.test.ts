/**
 * Adopted roles against the real server, as the guard's preview reads them (`pg_roles`, as the
 * non-superuser admin): the line naming each attribute adopting changes, a missing role and a
 * BYPASSRLS change by a non-superuser refused, and `validUntil` read back in the spelling the
 * config normalizes to, whatever the session's TimeZone.
 */
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { planAdoptedRoles, readRoleAttributes } from "../../infra/lifecycle/roles.js";
import { guard, setLogger } from "../../infra/providers/kinds.js";
import { adminConnection, closeClients, connectTo, query } from "../support/db.js";

afterEach(closeClients);

const unique = (base: string) => `${base}_${randomBytes(4).toString("hex")}`;

describe("adopted roles", () => {
  it("reads the live attributes and names each one the config changes; the rest is kept", async () => {
    const admin = adminConnection();
    const owner = unique("ar_owner");
    const app = unique("ar_app");
    await query(admin, `CREATE ROLE ${owner} CREATEROLE; CREATE ROLE ${app} LOGIN CONNECTION LIMIT 5 VALID UNTIL '2031-06-30 12:00:00+02'`);
    const cl = await connectTo(admin);
    await cl.query("SET TimeZone = 'America/New_York'");
    const live = await readRoleAttributes(cl, [owner, app, "no_such_role_x"]);
    expect(live.get(owner)).toEqual({ login: false, createRole: true, createDb: false, inherit: true, bypassRls: false, connectionLimit: -1, validUntil: "infinity" });
    expect(live.get(app)).toEqual({ login: true, createRole: false, createDb: false, inherit: true, bypassRls: false, connectionLimit: 5, validUntil: "2031-06-30 10:00:00+00" });
    expect(live.has("no_such_role_x")).toBe(false);

    const plan = await planAdoptedRoles(
      cl,
      [
        // Nothing set: nothing changes, no line.
        { name: owner, configPath: "pgstack:databases[0].roles[0]", set: {} },
        { name: app, configPath: "pgstack:databases[0].roles[1]", set: { login: true, createDb: true, connectionLimit: -1, validUntil: "2031-06-30 10:00:00+00" }, passwordSecret: "pgstack:appPassword" },
      ],
      () => true,
    );
    expect(plan).toEqual({
      lines: [
        `role ${app} (adopted, pgstack:databases[0].roles[1]): CREATEDB: no → yes; CONNECTION LIMIT: 5 → no limit; password: replaced by the secret pgstack:appPassword (the role's own password stops working); every other attribute is kept`,
      ],
      problems: [],
    });
    // Once adopted, the password is the stack's: only attribute changes are named.
    expect((await planAdoptedRoles(cl, [{ name: app, configPath: "p", set: {}, passwordSecret: "pgstack:appPassword" }], () => false)).lines).toEqual([]);
  });

  it("refuses a role that does not exist and a BYPASSRLS change the non-superuser admin may not make", async () => {
    const admin = adminConnection();
    const reader = unique("ar_reader");
    await query(admin, `CREATE ROLE ${reader}`);
    const cl = await connectTo(admin);
    const plan = await planAdoptedRoles(
      cl,
      [
        { name: "ar_missing_role", configPath: "pgstack:databases[0].roles[2]", set: {} },
        { name: reader, configPath: "pgstack:databases[0].roles[3]", set: { bypassRls: true } },
        // The value it has already: no change, nothing to refuse.
        { name: reader, configPath: "pgstack:databases[1].roles[0]", set: { bypassRls: false } },
      ],
      () => true,
    );
    expect(plan.lines).toEqual([]);
    expect(plan.problems).toEqual([
      "role ar_missing_role (pgstack:databases[0].roles[2]) has adopt: true but does not exist on the server\n  → remove pgstack:databases[0].roles[2].adopt to let the stack create it, or correct the name",
      `role ${reader} (pgstack:databases[0].roles[3].bypassRls): only a superuser may change BYPASSRLS, and the admin "${admin.user}" is not one\n  → remove bypassRls (the role keeps NOBYPASSRLS), or change it by hand as a superuser`,
    ]);
  });
});

describe("the guard's preview of adopted roles (ExistingObjectsGuard.check, as the engine calls it)", () => {
  it("logs the line for a role whose attributes change, and fails the preview for a role that does not exist", async () => {
    const admin = adminConnection();
    const app = unique("ar_guard_app");
    await query(admin, `CREATE ROLE ${app} LOGIN CONNECTION LIMIT 3`);
    const logs: string[] = [];
    setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) });
    const inputs = { connection: admin, stack: "staging", objects: [], adopted: [{ name: app, configPath: "pgstack:databases[0].roles[1]", set: { login: true, connectionLimit: 20 } }] };
    expect((await guard.check(undefined, inputs)).failures).toEqual([]);
    expect(logs).toEqual([`role ${app} (adopted, pgstack:databases[0].roles[1]): CONNECTION LIMIT: 3 → 20; every other attribute is kept`]);

    const missing = { ...inputs, adopted: [{ name: "ar_guard_missing", configPath: "pgstack:databases[0].roles[2]", set: {} }] };
    expect((await guard.check(undefined, missing)).failures).toEqual([
      {
        property: "",
        reason:
          "role ar_guard_missing (pgstack:databases[0].roles[2]) has adopt: true but does not exist on the server\n  → remove pgstack:databases[0].roles[2].adopt to let the stack create it, or correct the name",
      },
    ]);
  });
});
