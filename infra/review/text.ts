/** Wording both renderers share, so the Markdown comment and the HTML page say the same things. */
import { atRisk } from "../lifecycle/safety/policy.js";
import { describeCopy } from "../lifecycle/rehearsal-format.js";
import type { AccessChange, DatabaseReview, Finding, RehearsalReport, RehearsalStep, ReviewReport } from "./model.js";

/** Why a database's pending migrations have no analysis (only when none ran). */
export function safetySkippedLine(db: DatabaseReview): string {
  return db.safetySkipped ?? "not run";
}

/** The data-at-risk headline: the policy, and what "none" means on an empty database. */
export function safetyLine(db: DatabaseReview): string {
  const s = db.safety;
  if (!s) return safetySkippedLine(db);
  const n = s.findings.filter((f) => f.class !== "lint").length;
  const empty = s.target === "empty" ? "; counted on empty tables: the database does not exist yet or the reset empties it first" : "";
  const verdict = s.verdict === "refuse" ? "refused" : s.verdict === "warn" ? "warn" : "safe";
  return `${n === 0 ? "none found" : `${n} finding(s)`} (${s.profile ?? "stack"} policy: ${verdict}${empty})`;
}

/** The marker of a finding: refused by the policy, acknowledged, a warning, or nothing at risk. */
export function findingMark(db: DatabaseReview, f: Finding): string {
  if (f.acknowledged) return "☑️";
  const refused = db.safety?.refusals.some((r) => r.rule === f.rule && r.file === f.file && r.line === f.line && r.column === f.column && r.table === f.table && r.subject === f.subject);
  if (refused) return "⛔";
  return atRisk(f) ? "⚠️" : "ℹ️";
}

/** What a finding adds after its message: the note, and that the count is only a guide. */
export function findingExtra(f: Finding): string {
  return [f.note, f.stale ? "counted before an earlier statement of the batch changes the table: a guide only" : undefined].filter(Boolean).join("; ");
}

/** How the rehearsal's copy was made, and whether it was dropped. */
export function rehearsalLine(r: RehearsalReport): string {
  const how = describeCopy(r);
  const dropped = r.cloneDropped ? "the copy was dropped" : `the copy ${r.clone ?? ""} could NOT be dropped: drop it by hand`;
  return `${r.steps.length} pending migration(s) on ${how}, ${Math.round(r.durationMs)} ms; ${dropped}`;
}

/** One rehearsal step's status cell: ok, FAILED with the error at file:line:col, or not run. */
export function stepStatus(s: RehearsalStep): string {
  if (s.status === "ok") return "✅ ok";
  if (s.status === "skipped") return "not run (an earlier migration failed)";
  return `⛔ failed: ${s.error ?? "no error message"}`;
}

/** A step's rows: written, or written then rolled back for a failed one. */
export function stepRows(s: RehearsalStep): string {
  return s.status === "failed" && s.rowsAffected > 0 ? `${s.rowsAffected} (rolled back)` : String(s.rowsAffected);
}

/** `2 to update, 35 unchanged` from Pulumi's change summary. */
export function changeSummaryText(summary: Record<string, number>): string {
  const words: Record<string, string> = { same: "unchanged", create: "to create", update: "to update", delete: "to delete", replace: "to replace" };
  const parts = Object.entries(summary)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => (a === "same" ? 1 : b === "same" ? -1 : a < b ? -1 : 1))
    .map(([op, n]) => `${n} ${words[op] ?? op}`);
  return parts.length ? parts.join(", ") : "no resources";
}

/** `4 applied, 1 pending` (or that the database is new). */
export function migrationsLine(db: DatabaseReview): string {
  const pending = `${db.pending.length} pending`;
  if (!db.exists) return `the database does not exist yet: \`pulumi up\` creates it; ${pending}`;
  const adoption = db.adoption ? `; ${db.adoption.text}` : "";
  return `${db.applied} applied, ${pending}${db.reset?.guard === "allowed" ? " (the reset rebuilds the database, so every migration runs again)" : ""}${adoption}`;
}

/** The reset's headline. */
export function resetLine(db: DatabaseReview): string | undefined {
  const r = db.reset;
  if (!r) return undefined;
  const from = r.fromGeneration === undefined ? "none recorded" : String(r.fromGeneration);
  const rows = r.tables.reduce((n, t) => n + t.rows, 0);
  return `generation ${from} → ${r.toGeneration}; guard: ${r.guard === "allowed" ? "allowed" : "refused"} — ${r.reason}; ${rows} row(s) in ${r.tables.length} table(s) would be dropped`;
}

/** The drift sentence: unknown, in sync, or the list. */
export function driftLine(db: DatabaseReview): string {
  if (db.drift === undefined) return "unknown: no verified state to compare with yet (a new stack or database)";
  return db.drift.length === 0 ? "in sync with the migrations" : `${db.drift.length} difference(s) from what the migrations declare`;
}

/** Row of the roles-and-grants table. */
export function accessCells(c: AccessChange): [string, string, string, string] {
  return [c.op, c.kind, c.resource, c.summary];
}

/** The count of tables per diagram status, for the legend. */
export function diagramLegend(db: DatabaseReview): string {
  const d = db.diagram;
  if (!d) return "";
  const n = (s: string) => d.tables.filter((t) => t.status === s).length;
  const parts = [`${n("added")} added`, `${n("changed")} changed`, `${d.removed.length} removed`];
  const partial = d.partial ? `; only the ${d.partial.shown} touched tables and their neighbours of ${d.partial.total} are drawn` : "";
  return `Tables: ${parts.join(", ")}${partial}. Key columns only (PK, FK).`;
}

/** The report's title. */
export function title(report: ReviewReport): string {
  return `pgstack review of stack \`${report.stack}\``;
}

/** The headline of the schema changes (the schema after the PR against the live one, every kind). */
export function schemaChangesLine(changes: readonly string[]): string {
  return changes.length === 0 ? "none (the schema after the PR equals the live one)." : `${changes.length} object(s) differ from the live schema (+ added, - removed, ~ changed):`;
}
