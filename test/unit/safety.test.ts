/** The safety policy in config (zod, config paths) and its place in the program (first, before everything). */
import { beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig, safetyPolicyOf } from "../../infra/config.js";
import { PROFILES } from "../../infra/lifecycle/safety/index.js";
import { runProgram, unwrapSecret, type MockRun } from "../support/mocks.js";

function config(allowed: boolean, safety?: unknown) {
  return {
    server: { embedded: false },
    databases: [{ name: "fltr", owner: "fltr_owner", roles: [{ name: "fltr_owner" }], reset: { generation: 1, allowed } }],
    ...(safety === undefined ? {} : { safety }),
  };
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

describe("pgstack:safety", () => {
  it("defaults by database: resets allowed → dev (warn), otherwise prod (refuse data loss, casts, FK, NOT NULL, duplicates)", () => {
    const prod = parseStackConfig(config(false), "prod");
    expect(safetyPolicyOf(prod, prod.databases[0]!)).toEqual(PROFILES.prod);
    expect(PROFILES.prod).toMatchObject({ dataLoss: "refuse", castFailure: "refuse", fkOrphans: "refuse", notNull: "refuse", duplicates: "refuse", rename: "warn", lint: "warn", rehearsal: false });
    const dev = parseStackConfig(config(true), "dev");
    expect(safetyPolicyOf(dev, dev.databases[0]!)).toEqual(PROFILES.dev);
    expect(Object.entries(PROFILES.dev).filter(([, v]) => v === "refuse")).toEqual([]);
  });

  it("an explicit profile wins, and each class, the rehearsal and the count threshold can be set", () => {
    const c = parseStackConfig(config(true, { profile: "prod", policy: { rename: "refuse", lint: "off" }, rehearsal: true, exactCountBelow: 5000, statementTimeout: "5s" }), "staging");
    expect(safetyPolicyOf(c, c.databases[0]!)).toEqual({ ...PROFILES.prod, rename: "refuse", lint: "off", rehearsal: true, exactCountBelow: 5000, statementTimeout: "5s" });
  });

  it("bad values are refused with their config path", () => {
    expect(issuesOf(config(false, { profile: "production", policy: { dataLoss: "block", drops: "warn" }, exactCountBelow: -1, statementTimeout: "soon" }))).toEqual([
      expect.stringMatching(/^pgstack:safety\.profile: .*"prod".*"dev"/),
      expect.stringMatching(/^pgstack:safety\.policy\.dataLoss: .*"refuse".*"warn".*"off"/),
      expect.stringMatching(/^pgstack:safety\.policy\.drops: unknown key \(known keys here: `dataLoss`/),
      expect.stringMatching(/^pgstack:safety\.exactCountBelow: /),
      expect.stringMatching(/^pgstack:safety\.statementTimeout: must be a Postgres duration/),
    ]);
  });
});

describe("the program registers the safety check first", () => {
  let run: MockRun;
  beforeAll(async () => {
    run = await runProgram("prod", { adminPassword: "a", fltrAppPassword: "b", fltrAuthAppPassword: "c" });
  }, 60_000);

  it("each database's MigrationSafety comes before its guard, which depends on it (so every role, grant and migration waits for it)", () => {
    for (const db of ["fltr", "fltr_auth"]) {
      const names = run.registrations.map((r) => r.name);
      expect(names.indexOf(`${db}-safety`)).toBeLessThan(names.indexOf(`${db}-guard`));
      expect(run.byName(`${db}-guard`).dependencies.some((u) => u.endsWith(`::${db}-safety`))).toBe(true);
      const inputs = run.byName(`${db}-safety`).inputs;
      expect(unwrapSecret(inputs["policy"])).toEqual(PROFILES.prod);
      expect((unwrapSecret(inputs["migrations"]) as { name: string }[]).length).toBeGreaterThan(0);
      expect(run.byName(`${db}-safety`).additionalSecretOutputs).toEqual(["connection"]);
    }
  });
});
