/**
 * The verdict: `safe`, `warn` (needs review) or `refuse`, with one reason per finding, and the
 * exit code `npm run review` ends with. The data-safety findings are judged by the analysis
 * itself, under the stack's policy: its refusals refuse, the rest it warns about need review.
 */
import { atRisk } from "../lifecycle/safety/policy.js";
import type { DatabaseReview, Finding, Verdict, VerdictLevel } from "./model.js";
import { rehearsalRan } from "./safety-types.js";

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
    if (db.adoption?.status === "refused") refusals.push(at(db.adoption.text));
    if (db.adoption?.status === "deferred") warnings.push(at(db.adoption.text));
    if (db.reset?.guard === "refused") refusals.push(at(`reset refused: ${db.reset.reason}`));
    if (db.safety) {
      const refused = new Set(db.safety.refusals.map(findingKey));
      for (const f of db.safety.refusals) refusals.push(at(`${findingReason(f)} (${db.safety.profile ?? "stack"} policy: refuse)`));
      // As the analysis' own verdict: unacknowledged findings that put something at risk.
      for (const f of db.safety.findings) {
        if (!refused.has(findingKey(f)) && !f.acknowledged && atRisk(f)) warnings.push(at(findingReason(f)));
      }
    } else if (db.pending.length > 0) {
      warnings.push(at(`${db.pending.length} pending migration(s) not checked${db.safetySkipped ? `: ${db.safetySkipped}` : ""}`));
    }
    // A failing migration is not a policy class: `pulumi up` would stop there, so it needs review.
    if (db.rehearsal && rehearsalRan(db.rehearsal)) {
      for (const step of db.rehearsal.steps) {
        if (step.status === "failed") warnings.push(at(`rehearsal: ${step.name} failed: ${step.error ?? "no error message"}`));
      }
      if (!db.rehearsal.cloneDropped) warnings.push(at(`the rehearsal copy ${db.rehearsal.clone ?? ""} could not be dropped: drop it by hand`));
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

/** `file:line:col message` (the analysis' message already names the table and the rows), and the rule for lint. */
function findingReason(f: Finding): string {
  return `${f.file}:${f.line}:${f.column} ${f.message}${f.class === "lint" ? ` [${f.rule}]` : ""}`;
}

/** Identity of a finding that survives a JSON round trip. */
function findingKey(f: Finding): string {
  return `${f.rule}|${f.file}|${f.line}|${f.column}|${f.table ?? ""}|${f.subject ?? ""}`;
}

/** The verdict line at the top of the report. */
export function verdictLine(v: Verdict): string {
  if (v.level === "safe") return "✅ safe";
  if (v.level === "warn") return `⚠️ needs review (${v.reasons.length} finding${v.reasons.length === 1 ? "" : "s"})`;
  return "⛔ refused by policy";
}
