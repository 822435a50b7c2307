/** Wording both renderers share, so the Markdown comment and the HTML page say the same things. */
import type { AccessChange, DatabaseReview, ReviewReport } from "./model.js";

/** The sentence for a section whose data comes from the "data safety" work when it is absent. */
export const NOT_AVAILABLE = {
  lint: "Lint findings: not available (pgstack's data-safety analysis is not installed in this checkout).",
  safety: "not available (pgstack's data-safety analysis is not installed in this checkout).",
  rehearsal: "not available (pgstack's rehearsal is not installed in this checkout).",
} as const;

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
  return `${db.applied} applied, ${pending}${db.reset?.guard === "allowed" ? " (the reset rebuilds the database, so every migration runs again)" : ""}`;
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
  return db.drift.length === 0 ? "in sync with the last `pulumi up`" : `${db.drift.length} difference(s) since the last \`pulumi up\``;
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
