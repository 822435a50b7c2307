/** Config keys of adoption and ephemeral stacks: `baseline`, role attributes (`validUntil`'s spelling), `reset.mode: every-deploy`, `backup`. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../../infra/config.js";
import { acceptsDataLoss } from "../../infra/lifecycle/reset-policy.js";
import { normalizeValidUntil } from "../../infra/lifecycle/roles.js";

function config(db: Record<string, unknown> = {}, reset: Record<string, unknown> = { generation: 1, allowed: true }) {
  return {
    server: { embedded: true, port: 54329 },
    databases: [{ name: "fltr", owner: "fltr_owner", roles: [{ name: "fltr_owner" }], reset, ...db }],
  };
}

function issuesOf(raw: unknown, stack = "prod"): string[] {
  try {
    parseStackConfig(raw, stack);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected the config to be rejected");
}

describe("reset.mode every-deploy and backup", () => {
  it("defaults: generation mode, backups on", () => {
    const db = parseStackConfig(config(), "dev").databases[0]!;
    expect([db.reset.mode, db.backup, db.baseline]).toEqual(["generation", true, undefined]);
  });

  it("every-deploy in a stack that allows resets: accepted, and it accepts the data loss of every deploy", () => {
    const db = parseStackConfig(config({ backup: false }, { mode: "every-deploy", allowed: true }), "preview").databases[0]!;
    expect([db.reset.mode, db.backup, acceptsDataLoss(db.reset)]).toEqual(["every-deploy", false, true]);
  });

  it("every-deploy in a stack that does not allow resets is a config error naming the path and what to do", () => {
    expect(issuesOf(config({}, { mode: "every-deploy" }))).toEqual([
      'pgstack:databases[0].reset.mode: "every-deploy" resets this database on every `pulumi up`, but this stack does not allow resets: ' +
        "set pgstack:databases[0].reset.allowed: true (only in a stack whose data is throwaway), or remove reset.mode",
    ]);
    expect(issuesOf(config({}, { mode: "every-deploy", allowed: false }))).toHaveLength(1);
    const err = (() => {
      try {
        parseStackConfig(config({}, { mode: "every-deploy" }), "prod");
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toContain("→ fix them in Pulumi.prod.yaml");
  });

  it("every-deploy with acceptDataLoss, an unknown mode, or backup as a string are refused with their paths", () => {
    expect(issuesOf(config({}, { mode: "every-deploy", allowed: true, generation: 2, acceptDataLoss: 2 }))).toEqual([
      'pgstack:databases[0].reset.acceptDataLoss: does not apply with reset.mode "every-deploy", which accepts losing the data on every deploy: remove it',
    ]);
    expect(issuesOf(config({}, { mode: "always", allowed: true }))).toEqual(['pgstack:databases[0].reset.mode: Invalid option: expected one of "generation"|"every-deploy"']);
    expect(issuesOf(config({ backup: "no" }))).toEqual(["pgstack:databases[0].backup: Invalid input: expected boolean, received string"]);
  });
});

describe("baseline", () => {
  it("is a positive integer version, up to 2^53 - 1", () => {
    expect(parseStackConfig(config({ baseline: 3 }), "dev").databases[0]!.baseline).toBe(3);
    expect(parseStackConfig(config({ baseline: 20240101120000 }), "dev").databases[0]!.baseline).toBe(20240101120000);
    expect(issuesOf(config({ baseline: 0 }))).toEqual(["pgstack:databases[0].baseline: Too small: expected number to be >=1"]);
    expect(issuesOf(config({ baseline: 2.5 }))[0]).toMatch(/^pgstack:databases\[0\]\.baseline: /);
    expect(issuesOf(config({ baseline: "3" }))[0]).toMatch(/^pgstack:databases\[0\]\.baseline: /);
  });
});

/** A database whose owner is declared, plus `roles`. */
function rolesConfig(roles: Record<string, unknown>[]) {
  return { server: { embedded: true, port: 54329 }, databases: [{ name: "app", owner: "app_owner", roles: [{ name: "app_owner" }, ...roles] }] };
}

describe("role attributes", () => {
  it("accepts every attribute, and leaves out what is not set (an adopted role keeps it)", () => {
    const roles = parseStackConfig(
      rolesConfig([
        { name: "app_rw", login: true, createRole: false, createDb: true, inherit: false, bypassRls: false, connectionLimit: 20, validUntil: "2031-06-30" },
        { name: "app_legacy", adopt: true },
      ]),
      "prod",
    ).databases[0]!.roles;
    expect(roles[1]).toEqual({ name: "app_rw", login: true, createRole: false, createDb: true, inherit: false, bypassRls: false, connectionLimit: 20, validUntil: "2031-06-30 00:00:00+00", adopt: false });
    expect(roles[2]).toEqual({ name: "app_legacy", adopt: true });
    expect(roles[0]!.login).toBeUndefined();
  });

  it("reports every bad value at once, each with its config path", () => {
    expect(
      issuesOf(
        rolesConfig([
          { name: "app_a", createRole: "yes", connectionLimit: -2 },
          { name: "app_b", inherit: 1, connectionLimit: 2.5, validUntil: "next year" },
          { name: "app_c", bypassRls: null, createDb: "false", superuser: true },
        ]),
      ),
    ).toEqual([
      "pgstack:databases[0].roles[1].createRole: Invalid input: expected boolean, received string",
      "pgstack:databases[0].roles[1].connectionLimit: must be -1 (no limit) or a number of connections",
      "pgstack:databases[0].roles[2].inherit: Invalid input: expected boolean, received number",
      "pgstack:databases[0].roles[2].connectionLimit: Invalid input: expected int, received number",
      'pgstack:databases[0].roles[2].validUntil: "next year" is not "infinity", a date (2030-01-01) or a date and time with its zone (2030-01-01T12:00:00Z)',
      "pgstack:databases[0].roles[3].createDb: Invalid input: expected boolean, received string",
      "pgstack:databases[0].roles[3].bypassRls: Invalid input: expected boolean, received null",
      // superuser and replication are left to the server's administrators, not to a stack.
      'pgstack:databases[0].roles[3].superuser: unknown key (known keys here: `name`, `login`, `createRole`, `createDb`, `inherit`, `bypassRls`, `connectionLimit`, `validUntil`, `passwordSecret`, `adopt`)',
    ]);
  });

  it("passwordSecret needs a login role; an adopted role that leaves login out keeps its own", () => {
    expect(issuesOf(rolesConfig([{ name: "app_a", passwordSecret: "appA" }, { name: "app_b", login: false, adopt: true, passwordSecret: "appB" }]))).toEqual([
      "pgstack:databases[0].roles[1].passwordSecret: only login roles have a password; set login: true or remove it",
      "pgstack:databases[0].roles[2].passwordSecret: only login roles have a password; set login: true or remove it",
    ]);
    const adopted = parseStackConfig(rolesConfig([{ name: "app_c", adopt: true, passwordSecret: "appC" }]), "prod").databases[0]!.roles[1];
    expect(adopted).toEqual({ name: "app_c", adopt: true, passwordSecret: "appC" });
  });
});

describe("validUntil", () => {
  it("is written as Postgres prints it in a UTC session, which is what the provider reads back", () => {
    expect(normalizeValidUntil("infinity")).toBe("infinity");
    expect(normalizeValidUntil("2030-01-01")).toBe("2030-01-01 00:00:00+00");
    expect(normalizeValidUntil("2030-01-01T12:00:00Z")).toBe("2030-01-01 12:00:00+00");
    expect(normalizeValidUntil("2030-01-01 12:00+02:00")).toBe("2030-01-01 10:00:00+00");
    expect(normalizeValidUntil("2030-01-01T00:30:00-0130")).toBe("2030-01-01 02:00:00+00");
    expect(normalizeValidUntil("2030-01-01T12:00:00.250Z")).toBe("2030-01-01 12:00:00.25+00");
  });

  it("refuses dates that do not exist and times without a zone", () => {
    for (const bad of ["2030-02-31", "2030-01-01T24:00Z", "2030-01-01 12:00", "tomorrow", ""]) expect(normalizeValidUntil(bad), bad).toBeUndefined();
  });
});
