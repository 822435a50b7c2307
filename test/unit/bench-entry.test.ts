import { describe, expect, it } from "vitest";
import { mergeSummary, parseArgs, plan } from "../../scripts/bench.js";
import { BenchArgumentError, MODULE_SIZES, MODULES } from "../../scripts/bench/options.js";
import { resourcesIn } from "../../scripts/bench/dev-preview.js";

describe("npm run bench: one options parser for every module", () => {
  it("defaults are the issue's sizes; --quick shrinks them; explicit flags win", () => {
    expect(parseArgs([])).toMatchObject({ rounds: 3, migrations: 500, tables: 2000, previewDatabases: 4, previewMigrations: 500, stateMigrations: 2000, safetyMigrations: 500, driftMigrations: 500, scaleDatabases: 50, quick: false, only: [] });
    expect(parseArgs(["--quick"])).toMatchObject({ rounds: 1, migrations: 100, safetyMigrations: 100, driftMigrations: 50, scaleDatabases: 5, quick: true });
    expect(parseArgs(["--quick", "--migrations=250", "--only", "apply,state"])).toMatchObject({ migrations: 250, only: ["apply", "state"] });
    expect(parseArgs(["--safety-migrations", "20", "--drift-migrations=10", "--tables", "40"])).toMatchObject({ safetyMigrations: 20, driftMigrations: 10, tables: 40, rounds: 3 });
  });

  it("refuses unknown flags with a message that names the accepted ones", () => {
    for (const bad of [["--fast"], ["--quick", "--verbose"], ["extra"], ["--rounds=2", "-q"]]) {
      let err: unknown;
      try {
        parseArgs(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BenchArgumentError);
      const message = (err as Error).message;
      expect(message).toMatch(/^unknown argument "/);
      for (const flag of ["--quick", "--only", "--rounds N", "--safety-migrations N", "--drift-migrations N"]) expect(message).toContain(flag);
    }
    expect(() => parseArgs(["--rounds", "0"])).toThrow(/--rounds needs a positive integer, got "0"/);
    expect(() => parseArgs(["--safety-migrations"])).toThrow(/--safety-migrations needs a positive integer, got ""/);
    expect(() => parseArgs(["--only", "drift", "--drift-migrations", "600", "--tables", "500"])).toThrow(/--tables \(500\) must be at least --drift-migrations \(600\)/);
  });

  it("--only picks any module, and refuses an unknown one naming the known ones", () => {
    for (const m of MODULES) expect(plan(parseArgs(["--only", m])).map((p) => p.module)).toEqual([m]);
    expect(plan(parseArgs(["--only", "drift,safety"])).map((p) => p.module)).toEqual(["safety", "drift"]);
    expect(plan(parseArgs([])).map((p) => p.module)).toEqual([...MODULES]);
    let message = "";
    try {
      parseArgs(["--only", "safety,extra"]);
    } catch (e) {
      expect(e).toBeInstanceOf(BenchArgumentError);
      message = (e as Error).message;
    }
    expect(message).toBe(`--only: unknown module "extra" (known modules: ${MODULES.join(", ")})`);
    expect(MODULES).toEqual(["apply", "introspect", "engine", "preview", "devpreview", "state", "safety", "drift", "adopt", "scale"]);
    expect(() => parseArgs(["--only"])).toThrow(/--only needs one or more of apply, introspect/);
  });

  it("--quick reaches every module's options: each size a module reads is smaller than the full run's", () => {
    const full = new Map(plan(parseArgs([])).map((p) => [p.module, p.sizes]));
    const quick = plan(parseArgs(["--quick"]));
    expect(quick.map((p) => p.module)).toEqual([...MODULES]);
    for (const { module, sizes } of quick) {
      expect(Object.keys(sizes), module).toEqual([...MODULE_SIZES[module]]);
      expect(Object.keys(sizes).length, module).toBeGreaterThan(0);
      for (const [key, value] of Object.entries(sizes)) {
        expect(value, `${module}.${key}`).toBeLessThan(full.get(module)?.[key] ?? 0);
        if (key === "rounds") expect(value, module).toBe(1);
      }
    }
    // The safety and drift modules, which once ignored --quick, get the small sizes.
    expect(quick.find((p) => p.module === "safety")?.sizes).toEqual({ rounds: 1, safetyMigrations: 100 });
    expect(quick.find((p) => p.module === "drift")?.sizes).toEqual({ rounds: 1, driftMigrations: 50, tables: 300 });
    expect(quick.find((p) => p.module === "adopt")?.sizes).toEqual({ rounds: 1, adoptMigrations: 30 });
    expect(parseArgs(["--only", "adopt,devpreview", "--adopt-migrations", "7"])).toMatchObject({ only: ["adopt", "devpreview"], adoptMigrations: 7 });
  });

  it("merges every module's keys into one JSON object and refuses a key two modules report", () => {
    const summary: Record<string, unknown> = { quick: true };
    mergeSummary(summary, "safety", { safetyRatio: 0.2, safetyMet: true });
    mergeSummary(summary, "drift", { driftColdRatio: 1.1, driftWarmRatio: 0.1 });
    expect(summary).toEqual({ quick: true, safetyRatio: 0.2, safetyMet: true, driftColdRatio: 1.1, driftWarmRatio: 0.1 });
    expect(() => mergeSummary(summary, "drift", { safetyRatio: 1 })).toThrow(/bench module drift reports "safetyRatio", which is reported already/);
  });

  it("counts every resource of an up's summary, and refuses output without one", () => {
    const out = "Updating (dev):\n ~ pgstack:MigrationSet fltr updated\n\nResources:\n    ~ 2 updated\n    37 unchanged\n\nDuration: 4s\n";
    expect(resourcesIn(out)).toBe(39);
    expect(resourcesIn("Resources:\n    + 12 created\n\nDuration: 1s\n")).toBe(12);
    expect(() => resourcesIn("error: boom\n")).toThrow(/no "Resources:" summary/);
  });
});
