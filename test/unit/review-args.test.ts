/** `npm run review` arguments: the stack is required, numbers are checked, the usage is shown. */
import { describe, expect, it } from "vitest";
import { parseReviewArgs } from "../../scripts/review/args.js";

describe("npm run review arguments", () => {
  it("reads the stack and the outputs", () => {
    expect(parseReviewArgs(["-s", "dev", "--out", "r.md", "--html", "r.html", "--max-chars", "32000"])).toEqual({
      stack: "dev",
      out: "r.md",
      html: "r.html",
      json: undefined,
      maxDiagramTables: undefined,
      maxChars: 32000,
    });
    expect(parseReviewArgs(["--stack", "prod", "--max-diagram-tables", "12"])).toMatchObject({ stack: "prod", maxDiagramTables: 12 });
  });

  it("refuses a missing stack, unknown flags and bad numbers, with the usage", () => {
    expect(() => parseReviewArgs([])).toThrow(/the stack is missing: pass -s <stack>[\s\S]*usage: npm run review/);
    expect(() => parseReviewArgs(["-s", "dev", "--ouput", "x"])).toThrow(/--ouput[\s\S]*usage: npm run review/);
    expect(() => parseReviewArgs(["-s", "dev", "--max-chars", "10"])).toThrow('--max-chars must be a whole number of at least 1000, got "10"');
    expect(() => parseReviewArgs(["-s", "dev", "--max-diagram-tables", "0"])).toThrow('--max-diagram-tables must be a whole number of at least 1, got "0"');
  });
});
