import { describe, expect, it } from "vitest";
import { ConfigError, expectationsOf, parseStackConfig } from "../../infra/config.js";
import { acceptsDataLoss } from "../../infra/lifecycle/reset-policy.js";
import { rawStackConfig } from "../support/stack-config.js";

/** A small valid config; each bad case below breaks one thing in a copy of it. */
function valid() {
  return {
    server: { embedded: true, port: 54329 },
    databases: [
      {
        name: "fltr",
        owner: "fltr_owner",
        roles: [{ name: "fltr_owner" }, { name: "fltr_app", login: true }],
        schemas: ["public"],
        grants: [{ role: "fltr_app", schema: "public", tablePrivileges: ["SELECT"] }],
        reset: { generation: 1, allowed: true },
        expect: { tables: ["datasets"], foreignKeys: ["documents.dataset_id -> datasets.id"] },
      },
    ],
  } as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function issuesOf(raw: unknown): string[] {
  try {
    parseStackConfig(raw, "dev");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected the config to be rejected");
}

describe("stack config", () => {
  it("accepts the committed dev and prod stacks with the field case's databases", () => {
    const dev = parseStackConfig(rawStackConfig("dev"), "dev");
    const prod = parseStackConfig(rawStackConfig("prod"), "prod");
    expect(dev.databases.map((d) => d.name)).toEqual(["fltr", "fltr_auth"]);
    expect(dev.server.embedded).toBe(true);
    expect(prod.server.embedded).toBe(false);
    expect(prod.databases.every((d) => !d.reset.allowed)).toBe(true);
    const auth = dev.databases[1]!;
    expect(auth.expect.tables).toHaveLength(9);
    expect(expectationsOf(auth).foreignKeys.map((f) => `${f.from.table}.${f.from.column}->${f.to.table}.${f.to.column}`)).toEqual([
      "user_credits.user_id->users.id",
      "credit_transactions.user_id->users.id",
      "api_key_credits.user_id->users.id",
    ]);
  });

  it("applies defaults", () => {
    const cfg = parseStackConfig({ databases: [{ name: "a", owner: "a_owner", roles: [{ name: "a_owner" }] }] }, "dev");
    expect(cfg.server).toMatchObject({ embedded: false, host: "127.0.0.1", port: 5432, adminUser: "postgres", sslmode: "disable" });
    expect(cfg.databases[0]).toMatchObject({ schemas: ["public"], reset: { generation: 0, allowed: false } });
  });

  const bad: [string, (c: ReturnType<typeof valid>) => void, string][] = [
    ["an identifier over 63 bytes", (c) => (c.databases[0].name = "x".repeat(64)), "pgstack:databases[0].name: \"xxxx"],
    ["an uppercase identifier", (c) => (c.databases[0].roles[1].name = "FltrApp"), "pgstack:databases[0].roles[1].name"],
    ["an identifier with a quote", (c) => (c.databases[0].schemas = ['pub"lic']), "pgstack:databases[0].schemas[0]"],
    ["a pg_ prefix", (c) => (c.databases[0].schemas = ["pg_mine"]), 'pgstack:databases[0].schemas[0]: "pg_mine" must not start with "pg_"'],
    ["an owner that is not a declared role", (c) => (c.databases[0].owner = "nobody"), "pgstack:databases[0].owner: owner \"nobody\" is not declared"],
    ["a grant to an undeclared role", (c) => (c.databases[0].grants[0].role = "ghost"), "pgstack:databases[0].grants[0].role"],
    ["a grant on an unmanaged schema", (c) => (c.databases[0].grants[0].schema = "other"), "pgstack:databases[0].grants[0].schema"],
    ["an unknown privilege", (c) => (c.databases[0].grants[0].tablePrivileges = ["SELEKT"]), "pgstack:databases[0].grants[0].tablePrivileges[0]"],
    ["a port out of range", (c) => (c.server.port = 70000), "pgstack:server.port"],
    ["a bad sslmode", (c) => (c.server.sslmode = "maybe"), "pgstack:server.sslmode"],
    ["a misspelt key", (c) => (c.databases[0].resett = {}), "pgstack:databases[0].resett: unknown key; did you mean `reset`?"],
    ["a malformed foreign key", (c) => (c.databases[0].expect.foreignKeys = ["documents.dataset_id => datasets.id"]), "pgstack:databases[0].expect.foreignKeys[0]"],
    ["a generation that is not an integer", (c) => (c.databases[0].reset.generation = 1.5), "pgstack:databases[0].reset.generation"],
    ["data loss accepted for a future generation", (c) => (c.databases[0].reset.acceptDataLoss = 2), "pgstack:databases[0].reset.acceptDataLoss"],
    ["a password on a non-login role", (c) => (c.databases[0].roles[0].passwordSecret = "x"), "pgstack:databases[0].roles[0].passwordSecret"],
    ["a duplicate database", (c) => c.databases.push(structuredClone(c.databases[0])), "pgstack:databases[1].name: database \"fltr\" is already declared"],
    ["no databases", (c) => (c.databases = []), "pgstack:databases: declare at least one database"],
    ["an absolute migrations path", (c) => (c.databases[0].migrations = "/etc"), "pgstack:databases[0].migrations"],
    ["pgstack's own schema", (c) => (c.databases[0].schemas = ["public", "pgstack"]), "pgstack:databases[0].schemas"],
    ["a role managed as the admin user", (c) => (c.databases[0].roles.push({ name: "postgres" })), "pgstack:databases[0].roles[2].name: \"postgres\" is the admin user"],
  ];
  it.each(bad)("rejects %s, naming its config path", (_label, breakIt, expected) => {
    const c = valid();
    breakIt(c);
    const issues = issuesOf(c);
    expect(issues.join("\n")).toContain(expected);
  });

  it("reports every problem at once, each with its path", () => {
    const c = valid();
    c.server.port = "5432";
    c.databases[0].owner = "Bad Owner";
    c.databases[0].grants[0].schema = "nope";
    c.databases[0].reset.generation = -1;
    const issues = issuesOf(c);
    expect(issues.map((i) => i.split(":").slice(0, 2).join(":"))).toEqual(
      expect.arrayContaining(["pgstack:server.port", "pgstack:databases[0].owner", "pgstack:databases[0].reset.generation"]),
    );
    expect(issues.length).toBeGreaterThanOrEqual(3);
    const err = (() => {
      try {
        parseStackConfig(c, "prod");
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err?.message).toContain('stack "prod": the config has');
    expect(err?.message).toContain("Pulumi.prod.yaml");
  });

  it("accepts data loss only for the exact generation", () => {
    const c = parseStackConfig(valid(), "dev");
    expect(acceptsDataLoss(c.databases[0]!.reset)).toBe(false);
    const d = valid();
    d.databases[0].reset.acceptDataLoss = 1;
    expect(acceptsDataLoss(parseStackConfig(d, "dev").databases[0]!.reset)).toBe(true);
    d.databases[0].reset = { generation: 2, acceptDataLoss: 1, allowed: true };
    expect(acceptsDataLoss(parseStackConfig(d, "dev").databases[0]!.reset)).toBe(false);
  });

  it("takes per-database session settings as Postgres durations, with documented defaults", () => {
    expect(parseStackConfig(valid(), "dev").databases[0]!.session).toEqual({ lockTimeout: "10s", statementTimeout: "0" });
    const d = valid();
    d.databases[0].session = { lockTimeout: "500ms", statementTimeout: "2min" };
    expect(parseStackConfig(d, "dev").databases[0]!.session).toEqual({ lockTimeout: "500ms", statementTimeout: "2min" });
    d.databases[0].session = { lockTimeout: "5 seconds; DROP TABLE x", statemntTimeout: "1s" };
    const issues = issuesOf(d);
    expect(issues).toContainEqual(expect.stringMatching(/^pgstack:databases\[0\]\.session\.lockTimeout: must be a Postgres duration such as "10s"/));
    expect(issues).toContainEqual(expect.stringMatching(/^pgstack:databases\[0\]\.session\.statemntTimeout: unknown key; did you mean `statementTimeout`\?/));
  });

  it("adopts roles and databases only when asked", () => {
    expect(parseStackConfig(valid(), "dev").databases[0]!.adopt).toBe(false);
    const d = valid();
    d.databases[0].adopt = true;
    d.databases[0].roles[0].adopt = true;
    const db = parseStackConfig(d, "dev").databases[0]!;
    expect([db.adopt, db.roles[0]!.adopt, db.roles[1]!.adopt]).toEqual([true, true, false]);
  });
});
