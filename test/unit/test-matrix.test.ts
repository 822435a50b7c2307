import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { E2E_ON_EVERY_MAJOR, E2E_ON_NEWEST, E2E_PROJECT_COPIES, INTEGRATION_NOT_ON_MIDDLE, INTEGRATION_ON_DEFAULT_ONLY, failuresOf, parseArgs, plan, summary } from "../../scripts/test-matrix.js";

/** A part as `suite@major:files` (or `all`, with `-excluded` files), for comparing plans. */
function name(p: { suite: string; major?: number; files: string[]; exclude?: string[] }): string {
  const short = (f: string) => f.replace(/^test\/(e2e|integration)\/|\.test\.ts$/g, "");
  return `${p.suite}@${p.major ?? "-"}:${p.files.length ? p.files.map(short).join("+") : "all"}${(p.exclude ?? []).map((f) => `-${short(f)}`).join("")}`;
}

describe("npm test: the version matrix", () => {
  it("runs unit once, integration on every major (the major-free files on 15), the lifecycle/safety/adoption e2e files on 15, safety/adoption on 18, the project-copying e2e files and every other e2e file on 15 as parts of their own", () => {
    const parts = plan(parseArgs([]).versions, parseArgs([]).only);
    const middle = "-apply-apply-reliability-bad-input-baseline-memo-connection-history-bigint-importers-migration-state-quoted-identifiers-review-plan-state-tls";
    expect(parts.map(name)).toEqual([
      "typecheck@-:all",
      "unit@-:all",
      "integration@14:all-devdb-crash-concurrency-pg14-public",
      "integration@15:all",
      "e2e@15:lifecycle+safety+adoption",
      "e2e@15:adopt-real-tools+portability+team-state+consumer",
      "e2e@15:all-lifecycle-safety-adoption-adopt-real-tools-portability-team-state-consumer",
      `integration@16:all-devdb-crash-concurrency-pg14-public${middle}`,
      `integration@17:all-devdb-crash-concurrency-pg14-public${middle}`,
      "integration@18:all-devdb-crash-concurrency-pg14-public",
      "e2e@18:safety+adoption",
    ]);
    expect(INTEGRATION_ON_DEFAULT_ONLY).toEqual(["test/integration/devdb.test.ts", "test/integration/crash-concurrency.test.ts", "test/integration/pg14-public.test.ts"]);
    // A renamed file would silently run everywhere (or nowhere): every listed file exists.
    expect([...INTEGRATION_NOT_ON_MIDDLE, ...INTEGRATION_ON_DEFAULT_ONLY, ...E2E_ON_EVERY_MAJOR, ...E2E_ON_NEWEST, ...E2E_PROJECT_COPIES].filter((f) => !fs.existsSync(f))).toEqual([]);
    expect(E2E_ON_NEWEST).toEqual(["test/e2e/safety.test.ts", "test/e2e/adoption.test.ts"]);
  });

  it("--full runs the lifecycle/safety/adoption e2e files on every major, and every integration file on every major", () => {
    const a = parseArgs(["--full"]);
    const parts = plan(a.versions, a.only, a.full);
    expect(parts.map(name)).toEqual([
      "typecheck@-:all",
      "unit@-:all",
      ...[14, 15, 16, 17, 18].flatMap((m) => [
        `integration@${m}:all`,
        "e2e@" + m + ":lifecycle+safety+adoption",
        ...(m === 15 ? ["e2e@15:adopt-real-tools+portability+team-state+consumer", "e2e@15:all-lifecycle-safety-adoption-adopt-real-tools-portability-team-state-consumer"] : []),
      ]),
    ]);
    expect(E2E_ON_EVERY_MAJOR).toEqual(["test/e2e/lifecycle.test.ts", "test/e2e/safety.test.ts", "test/e2e/adoption.test.ts"]);
  });

  it("--versions and --only narrow the plan; anything else is refused naming what is accepted", () => {
    const a = parseArgs(["--versions", "18", "--only=integration,e2e"]);
    expect(plan(a.versions, a.only).map(name)).toEqual(["integration@18:all-devdb-crash-concurrency-pg14-public", "e2e@18:safety+adoption"]);
    expect(() => parseArgs(["--versions", "13"])).toThrow(/--versions: 13 is not one the harness can start; use some of 14,15,16,17,18/);
    expect(() => parseArgs(["--only", "bench"])).toThrow(/--only: bench is not a suite; use some of typecheck,unit,integration,e2e/);
    expect(() => parseArgs(["--fast"])).toThrow(/unknown argument --fast: use --versions .*, --only .* and\/or --full/);
    expect(() => parseArgs(["--versions"])).toThrow(/unknown argument --versions/);
  });

  it("the closing table gives pass counts and times per part and version, and says which parts failed", () => {
    const [unit, int18] = plan([18], ["unit", "integration"]);
    const table = summary(
      [
        { part: unit!, seconds: 65, ok: true, passed: 400, failed: 0, skipped: 0 },
        { part: int18!, seconds: 181.4, ok: false, passed: 250, failed: 2, skipped: 0 },
      ],
      246.4,
    );
    const lines = table.split("\n");
    expect(lines[0]).toMatch(/^part\s+server\s+passed\s+failed\s+skipped\s+time\s+result$/);
    expect(lines[1]).toMatch(/^unit\s+-\s+400\s+0\s+0\s+1:05\s+ok$/);
    expect(lines[2]).toMatch(/^integration \(major-dependent files\)\s+PostgreSQL 18\s+250\s+2\s+0\s+3:01\s+FAILED$/);
    expect(lines.at(-1)).toBe("total 4:06: 1 of 2 parts FAILED");
  });

  it("names each failed test with its file and the first line of its error, after the table", () => {
    const root = "/ci/main";
    const failures = failuresOf(
      {
        numPassedTests: 1,
        numFailedTests: 1,
        numPendingTests: 0,
        numTodoTests: 0,
        numFailedTestSuites: 1,
        testResults: [
          { name: "/ci/main/test/integration/a.test.ts", assertionResults: [{ fullName: "a passes", status: "passed" }, { fullName: "a > drops", status: "failed", failureMessages: ["\nAssertionError: expected 1 to be 2\n    at a.test.ts:9"] }] },
          { name: "/ci/main/test/integration/b.test.ts", message: "Hook timed out in 10000ms.\nmore", assertionResults: [] },
        ],
      },
      root,
    );
    expect(failures).toEqual(["test/integration/a.test.ts > a > drops: AssertionError: expected 1 to be 2", "test/integration/b.test.ts: Hook timed out in 10000ms."]);
    const [int15] = plan([15], ["integration"]);
    const lines = summary([{ part: int15!, seconds: 60, ok: false, passed: 1, failed: 1, skipped: 0, failures }], 60).split("\n");
    expect(lines.slice(-6)).toEqual(["", "failed in integration on PostgreSQL 15:", `  ${failures[0]}`, `  ${failures[1]}`, "", "total 1:00: 1 of 1 parts FAILED"]);
  });
});
