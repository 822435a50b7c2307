/** Config keys of adoption and ephemeral stacks: `baseline`, `reset.mode: every-deploy`, `backup`. */
import { describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../../infra/config.js";
import { acceptsDataLoss } from "../../infra/lifecycle/reset-policy.js";

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
