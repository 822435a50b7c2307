/** Role attributes in the config: good values, bad values with their config paths, `validUntil`'s spelling. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../../infra/config.js";
import { normalizeValidUntil } from "../../infra/lifecycle/roles.js";

function config(roles: Record<string, unknown>[]) {
  return { server: { embedded: true, port: 54329 }, databases: [{ name: "app", owner: "app_owner", roles: [{ name: "app_owner" }, ...roles] }] };
}

function issuesOf(raw: unknown): string[] {
  try {
    parseStackConfig(raw, "prod");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected the config to be rejected");
}

describe("role attributes", () => {
  it("accepts every attribute, and leaves out what is not set (an adopted role keeps it)", () => {
    const roles = parseStackConfig(
      config([
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
        config([
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
      'pgstack:databases[0].roles[3]: Unrecognized key: "superuser"',
    ]);
  });

  it("passwordSecret needs a login role; an adopted role that leaves login out keeps its own", () => {
    expect(issuesOf(config([{ name: "app_a", passwordSecret: "appA" }, { name: "app_b", login: false, adopt: true, passwordSecret: "appB" }]))).toEqual([
      "pgstack:databases[0].roles[1].passwordSecret: only login roles have a password; set login: true or remove it",
      "pgstack:databases[0].roles[2].passwordSecret: only login roles have a password; set login: true or remove it",
    ]);
    const adopted = parseStackConfig(config([{ name: "app_c", adopt: true, passwordSecret: "appC" }]), "prod").databases[0]!.roles[1];
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
