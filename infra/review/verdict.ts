/**
 * The verdict: `safe`, `warn` (needs review) or `refuse`, with one reason per finding, and the
 * exit code `npm run review` ends with.
 */
import type { DatabaseReview, Verdict, VerdictLevel } from "./model.js";

/** Exit codes: 0 safe, 1 needs review, 2 refused by policy (3 is left for the tool's own errors). */
export const EXIT_CODES: Record<VerdictLevel, number> = { safe: 0, warn: 1, refuse: 2 };

/** The verdict over every database (and the preview itself). */
export function computeVerdict(databases: readonly DatabaseReview[], previewError?: string): Verdict {
  const refusals: string[] = [];
  const warnings: string[] = [];
  if (previewError) refusals.push(`pulumi preview failed: ${previewError.split("\n").find((l) => l.trim()) ?? "see its output"}`);
  for (const db of databases) {
    const at = (s: string) => `${db.database}: ${s}`;
    for (const p of db.historyProblems) refusals.push(at(`history: ${p}`));
    if (db.reset?.guard === "refused") refusals.push(at(`reset refused: ${db.reset.reason}`));
    if (db.safety) {
      for (const f of db.safety.refusals) refusals.push(at(`${f.file}:${f.line}:${f.column} ${f.message}`));
      const refused = new Set(db.safety.refusals);
      for (const f of db.safety.findings) {
        if (!refused.has(f) && !f.acknowledged) warnings.push(at(`${f.file}:${f.line}:${f.column} ${f.message}`));
      }
    } else if (db.pending.length > 0) {
      warnings.push(at(`${db.pending.length} pending migration(s) not checked: the data-safety analysis is not available`));
    }
    for (const step of db.rehearsal?.steps ?? []) {
      if (step.error) refusals.push(at(`rehearsal: ${step.file} failed: ${step.error}`));
    }
    if (db.reset?.guard === "allowed") {
      const rows = db.reset.tables.reduce((n, t) => n + t.rows, 0);
      if (rows > 0) warnings.push(at(`the reset drops ${rows} row(s) in ${db.reset.tables.filter((t) => t.rows > 0).length} table(s)`));
    }
    for (const d of db.drift ?? []) warnings.push(at(`drift: ${d}`));
    for (const c of db.access) {
      if (c.op === "delete" || c.op === "replace" || c.op.endsWith("-replacement")) warnings.push(at(`${c.kind} ${c.resource} is ${c.op === "delete" ? "removed" : "replaced"}`));
    }
    if (db.schemaError) warnings.push(at(`the schema after the PR could not be built: ${db.schemaError}`));
  }
  if (refusals.length > 0) return { level: "refuse", reasons: refusals };
  if (warnings.length > 0) return { level: "warn", reasons: warnings };
  return { level: "safe", reasons: [] };
}

/** The verdict line at the top of the report. */
export function verdictLine(v: Verdict): string {
  if (v.level === "safe") return "✅ safe";
  if (v.level === "warn") return `⚠️ needs review (${v.reasons.length} finding${v.reasons.length === 1 ? "" : "s"})`;
  return "⛔ refused by policy";
}
