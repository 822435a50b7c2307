/**
 * Adopted roles under the mocked engine: what the program asks Pulumi to import, to set and to
 * leave alone. An adopted role keeps every attribute the config does not set (they are in
 * `ignoreChanges`, so neither the import nor a later update touches them) and its password
 * unless `passwordSecret` gives one; a role the stack creates gets exactly the config.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { isSecret, runProgram, unwrapSecret, type MockRun } from "../support/mocks.js";
import { rawStackConfig } from "../support/stack-config.js";

const ROLE = "postgresql:index/role:Role";
/** Every attribute the provider would otherwise reset on an adopted role. */
const ALL_ATTRIBUTES = ["login", "createRole", "createDatabase", "inherit", "bypassRowLevelSecurity", "connectionLimit", "validUntil"];
const UNMANAGED = ["superuser", "replication", "searchPaths", "statementTimeout", "idleInTransactionSessionTimeout", "assumeRole", "roles", "encryptedPassword"];

describe("adopted and created roles (mocked engine, prod stack)", () => {
  let run: MockRun;
  beforeAll(async () => {
    const [fltr] = structuredClone(rawStackConfig("prod").databases) as Record<string, unknown>[];
    fltr!["adopt"] = true;
    fltr!["roles"] = [
      { name: "fltr_owner", adopt: true },
      { name: "fltr_app", login: true, adopt: true },
      { name: "fltr_ops", login: true, adopt: true, passwordSecret: "fltrOpsPassword", createDb: true, connectionLimit: 3 },
      { name: "fltr_reader", login: true, createRole: true, validUntil: "2030-01-01T12:00:00+02:00" },
      { name: "fltr_group" },
    ];
    fltr!["grants"] = [];
    run = await runProgram("prod", { adminPassword: "admin-pw", fltrOpsPassword: "ops-pw" }, [fltr]);
  }, 60_000);

  it("imports each adopted role and keeps it on destroy; created roles are neither", () => {
    for (const name of ["fltr_owner", "fltr_app", "fltr_ops"]) {
      expect(run.byName(`fltr-role-${name}`, ROLE)).toMatchObject({ importId: name, retainOnDelete: true });
    }
    for (const name of ["fltr_reader", "fltr_group"]) {
      expect(run.byName(`fltr-role-${name}`, ROLE)).toMatchObject({ importId: "", retainOnDelete: false, ignoreChanges: [] });
    }
  });

  it("imports the adopted database, keeps it on destroy and leaves its settings alone (only the owner is declared)", () => {
    const database = run.byName("fltr", "postgresql:index/database:Database");
    expect(database).toMatchObject({ importId: "fltr", retainOnDelete: true, protect: true });
    expect([...database.ignoreChanges].sort()).toEqual(
      ["allowConnections", "alterObjectOwnership", "connectionLimit", "encoding", "isTemplate", "lcCollate", "lcCtype", "tablespaceName", "template"].sort(),
    );
    expect(database.inputs).toMatchObject({ name: "fltr", owner: "fltr_owner" });
  });

  it("an adopted owner with no attributes in the config sets none and ignores them all (CREATEROLE is kept)", () => {
    const owner = run.byName("fltr-role-fltr_owner", ROLE);
    expect(Object.keys(owner.inputs).filter((k) => !k.startsWith("__"))).toEqual(["name"]);
    expect([...owner.ignoreChanges].sort()).toEqual([...ALL_ATTRIBUTES, "password", ...UNMANAGED].sort());
  });

  it("an adopted login role without passwordSecret gets no generated password and keeps its own", () => {
    const app = run.byName("fltr-role-fltr_app", ROLE);
    expect(app.inputs["password"]).toBeUndefined();
    expect(app.inputs["login"]).toBe(true);
    expect(app.ignoreChanges).toContain("password");
    expect(app.ignoreChanges).not.toContain("login");
    expect(app.ignoreChanges).toEqual(expect.arrayContaining(["createRole", "createDatabase", "connectionLimit", "validUntil"]));
    const generated = run.registrations.filter((r) => r.type.endsWith("GeneratedPassword")).map((r) => r.name);
    expect(generated).toEqual(["fltr-fltr_reader-password"]);
  });

  it("an adopted role with passwordSecret and attributes gets exactly those, the rest ignored", () => {
    const ops = run.byName("fltr-role-fltr_ops", ROLE);
    expect(ops.inputs).toMatchObject({ name: "fltr_ops", login: true, createDatabase: true, connectionLimit: 3 });
    expect(isSecret(ops.inputs["password"])).toBe(true);
    expect(unwrapSecret(ops.inputs["password"])).toBe("ops-pw");
    expect([...ops.ignoreChanges].sort()).toEqual(["bypassRowLevelSecurity", "createRole", "inherit", "validUntil", ...UNMANAGED].sort());
  });

  it("a created role gets the config and Postgres' defaults for the rest (login false), validUntil in Postgres' UTC spelling", () => {
    expect(run.byName("fltr-role-fltr_reader", ROLE).inputs).toMatchObject({ name: "fltr_reader", login: true, createRole: true, validUntil: "2030-01-01 10:00:00+00" });
    expect(isSecret(run.byName("fltr-role-fltr_reader", ROLE).inputs["password"])).toBe(true);
    const group = run.byName("fltr-role-fltr_group", ROLE).inputs;
    expect(group["login"]).toBe(false);
    expect(group["createRole"]).toBeUndefined();
    expect(group["password"]).toBeUndefined();
  });
});
