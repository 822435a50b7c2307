/**
 * The data-safety analysis' and the rehearsal's result types, from the core
 * (`infra/lifecycle/safety`, `infra/lifecycle/rehearsal.ts`), and the review's view of the
 * rehearsal: the core keeps it as `unknown` in its report, the review as a real report or the
 * reason it did not run.
 */
import type { RehearsalReport } from "../lifecycle/rehearsal.js";

export type { Finding, FindingClass, RowCount, SafetyReport } from "../lifecycle/safety/types.js";
export type { RehearsalReport, RehearsalStep } from "../lifecycle/rehearsal.js";

/** The rehearsal as the review shows it: the report per migration, or why it did not run. */
export type ReviewRehearsal = RehearsalReport | { skipped: string };

/** True when the rehearsal ran (it has steps), false when it carries a skip reason. */
export function rehearsalRan(r: ReviewRehearsal): r is RehearsalReport {
  return "steps" in r && Array.isArray(r.steps);
}

/**
 * The core report's `rehearsal` slot (`unknown`) as the review's type: a report with steps, a
 * skip reason, or undefined for anything else.
 */
export function reviewRehearsalOf(r: unknown): ReviewRehearsal | undefined {
  if (!r || typeof r !== "object") return undefined;
  if ("steps" in r && Array.isArray((r as { steps: unknown }).steps)) return r as RehearsalReport;
  if ("skipped" in r) return { skipped: String((r as { skipped: unknown }).skipped) };
  return undefined;
}
