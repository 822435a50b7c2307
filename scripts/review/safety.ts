/**
 * The data-safety analysis, when this checkout has it (`infra/lifecycle/safety/index.ts`, from
 * the "data safety" issue). Absent, the report's lint, data-at-risk and rehearsal sections say
 * "not available"; present, it is loaded and any error it raises propagates.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { AnalyzeSafety } from "../../infra/review/plan.js";

/** The module's path, relative to this folder (a variable, so the typecheck does not need it yet). */
const SAFETY_MODULE = "../../infra/lifecycle/safety/index.js";

/** `analyzeSafety` from the safety module, or undefined when the module is not installed. */
export async function loadAnalyzeSafety(projectRoot: string): Promise<AnalyzeSafety | undefined> {
  if (!fs.existsSync(path.join(projectRoot, "infra", "lifecycle", "safety", "index.ts"))) return undefined;
  const mod = (await import(SAFETY_MODULE)) as { analyzeSafety?: AnalyzeSafety };
  if (typeof mod.analyzeSafety !== "function") throw new Error("infra/lifecycle/safety/index.ts exports no analyzeSafety function");
  return mod.analyzeSafety;
}
