import { describe, expect, it } from "vitest";
import { parseDiffArgs } from "../../scripts/diff.js";

describe("npm run diff's command line", () => {
  it("takes two stacks and an optional --db", () => {
    expect(parseDiffArgs(["dev", "prod"])).toEqual({ stacks: ["dev", "prod"] });
    expect(parseDiffArgs(["dev", "--db", "fltr", "prod"])).toEqual({ stacks: ["dev", "prod"], db: "fltr" });
    expect(parseDiffArgs(["--db=fltr_auth", "dev", "prod"])).toEqual({ stacks: ["dev", "prod"], db: "fltr_auth" });
  });
  it("refuses anything else with the usage line", () => {
    expect(() => parseDiffArgs(["dev"])).toThrow("expected two stacks, got 1\nusage: npm run diff -- <stackA> <stackB> [--db <database>]");
    expect(() => parseDiffArgs(["dev", "dev"])).toThrow('both stacks are "dev"');
    expect(() => parseDiffArgs(["dev", "prod", "--db"])).toThrow("--db needs a database name");
    expect(() => parseDiffArgs(["dev", "prod", "--verbose"])).toThrow("unknown option --verbose");
  });
});
