/**
 * The architecture as a test: dependency-cruiser reads every import of the program and the
 * scripts (type-only imports included) and the layering rules below must hold. A failure lists
 * each offending import, `from → to`, under the rule it breaks.
 */
import * as path from "node:path";
import { cruise, type ICruiseResult, type IForbiddenRuleType } from "dependency-cruiser";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..");

/** The layering rules. `from`/`to` paths are relative to the project, as dependency-cruiser reports them. */
const RULES: IForbiddenRuleType[] = [
  { name: "no-cycle", comment: "no import cycle anywhere", severity: "error", from: {}, to: { circular: true } },
  {
    name: "core-imports-no-pulumi",
    comment: "the core (infra/lifecycle) is plain TypeScript plus pg: no Pulumi, even for types",
    severity: "error",
    from: { path: "^infra/lifecycle/" },
    to: { path: "(^|/)node_modules/@pulumi/" },
  },
  {
    name: "core-imports-no-outer-layer",
    comment: "the core imports nothing from the providers, the review, the components or the importers",
    severity: "error",
    from: { path: "^infra/lifecycle/" },
    to: { path: "^infra/(providers|review|components|importers)/" },
  },
  {
    name: "review-imports-no-providers",
    comment: "the review reads the core (and the config), not the providers",
    severity: "error",
    from: { path: "^infra/review/" },
    to: { path: "^infra/providers/" },
  },
];

/** Every import that breaks a rule, one line each: `rule: from → to` (a cycle names its path). */
function violationsOf(result: ICruiseResult): string[] {
  return (result.summary.violations ?? []).map((v) => {
    const cycle = v.cycle?.length ? ` (cycle: ${[v.from, ...v.cycle.map((c) => c.name)].join(" → ")})` : "";
    return `${v.rule.name}: ${v.from} → ${v.to}${cycle}`;
  });
}

async function cruiseProject(): Promise<ICruiseResult> {
  const cwd = process.cwd();
  // dependency-cruiser resolves relative to the working folder.
  process.chdir(root);
  try {
    const { output } = await cruise(
      ["infra", "scripts"],
      {
        validate: true,
        ruleSet: { forbidden: RULES },
        tsPreCompilationDeps: true,
        tsConfig: { fileName: "tsconfig.json" },
        doNotFollow: { path: "node_modules" },
        exclude: { path: "^scripts/bench/fixtures" },
      },
      { extensions: [".ts", ".js", ".mjs", ".cjs", ".json"] },
    );
    if (typeof output === "string") throw new Error(`dependency-cruiser returned text, not a result: ${output.slice(0, 200)}`);
    return output;
  } finally {
    process.chdir(cwd);
  }
}

describe("architecture", () => {
  it("has no import cycle, a Pulumi-free core that imports no outer layer, and a review that does not import the providers", async () => {
    const result = await cruiseProject();
    // The cruise must have seen the layers it judges, or the rules hold vacuously.
    const modules = result.modules.map((m) => m.source);
    for (const layer of ["infra/lifecycle/", "infra/providers/", "infra/review/", "infra/components/", "scripts/"]) {
      expect(modules.some((m) => m.startsWith(layer)), `no module under ${layer} was read`).toBe(true);
    }
    // `.js` specifiers resolve to the `.ts` files: an unresolved relative import would hide an edge.
    const unresolved = result.modules.flatMap((m) => m.dependencies.filter((d) => d.couldNotResolve && d.module.startsWith(".")).map((d) => `${m.source} → ${d.module}`));
    expect(unresolved).toEqual([]);
    expect(violationsOf(result)).toEqual([]);
  }, 120_000);

  it("reports each offending import by name (the rules catch a planted violation)", async () => {
    const result = await cruiseProject();
    // Sanity: the provider layer imports the core, so the cruise sees cross-layer edges at all.
    const providerToCore = result.modules.some((m) => m.source.startsWith("infra/providers/") && m.dependencies.some((d) => d.resolved.startsWith("infra/lifecycle/")));
    expect(providerToCore).toBe(true);
    // And a fabricated violation is listed as `rule: from → to`.
    const planted = { ...result, summary: { ...result.summary, violations: [{ rule: { name: "review-imports-no-providers", severity: "error" as const }, from: "infra/review/plan.ts", to: "infra/providers/reset.ts" }] } } as ICruiseResult;
    expect(violationsOf(planted)).toEqual(["review-imports-no-providers: infra/review/plan.ts → infra/providers/reset.ts"]);
  }, 120_000);
});
