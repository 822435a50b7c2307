/** The compact, secret-free report `pulumi preview` prints per database. */
import { acknowledgementFor } from "./acknowledgements.js";
import { atRisk } from "./policy.js";
import { formatRehearsal } from "../rehearsal-format.js";
import type { RehearsalReport } from "../rehearsal.js";
import type { Finding, SafetyReport } from "./types.js";

const LABEL = { refuse: "REFUSE", warn: "warn", safe: "safe" } as const;

/** The report as a few lines: pending migrations, findings with rows, the rehearsal. */
export function formatSafetyReport(report: SafetyReport): string {
  const lines: string[] = [];
  const profile = report.profile ? `, ${report.profile} policy` : "";
  const target = report.target === "empty" ? " (database not created yet: empty)" : "";
  lines.push(`safety ${report.database}${profile}: ${report.pending.length} pending migration(s)${target} → ${LABEL[report.verdict]}`);
  if (report.adoption) lines.push(`  adoption: ${report.adoption}`);
  if (report.pending.length > 0) lines.push(`  pending: ${shortList(report.pending.map((p) => p.name), 8)}`);
  // One line per lint rule and file: a rule that fires on every table would drown the rest.
  const more = new Map<Finding, string[]>();
  const shown = report.findings.filter((f) => {
    if (f.class !== "lint" || f.acknowledged) return true;
    const first = report.findings.find((g) => g.class === "lint" && !g.acknowledged && g.rule === f.rule && g.file === f.file);
    if (first === f || !first) return true;
    more.set(first, [...(more.get(first) ?? []), `${f.line}:${f.column}`]);
    return false;
  });
  for (const f of shown) {
    const also = more.get(f);
    const status = report.refusals.includes(f) ? "REFUSE" : f.acknowledged ? "accepted" : atRisk(f) ? "warn" : "ok";
    const extra = also ? ` (also at ${shortList(also, 4)})` : "";
    const rule = f.class === "lint" ? ` [${f.rule}]` : "";
    lines.push(`  ${status.padEnd(8)} ${f.class.padEnd(12)} ${f.file}:${f.line}:${f.column} ${f.message}${rule}${extra}${f.note ? ` (${f.note})` : ""}`);
    if (f.acknowledged) lines.push(`           reason: ${f.acknowledged.reason}`);
    else if (status === "REFUSE") {
      lines.push(`           → ${f.safeAlternative}`);
      lines.push(`           → or accept it on the line before the statement: ${acknowledgementFor(f)}`);
    } else if (status === "warn" && f.class !== "lint") lines.push(`           → ${f.safeAlternative}`);
  }
  for (const u of report.unusedAcknowledgements ?? []) lines.push(`  note     ${u}: this acknowledgement matches no finding`);
  const r = report.rehearsal;
  // A rehearsal that ran: one line per migration with its time, rows and schema change.
  if (r && typeof r === "object" && "steps" in r) lines.push(...formatRehearsal(r as RehearsalReport).split("\n").map((l) => `  ${l}`));
  else lines.push(`  rehearsal: ${describeRehearsal(r)}`);
  return lines.join("\n");
}

/** The refusal as an error message: file, line, table, rows and the line to write. */
export function formatRefusal(report: SafetyReport, configPath: string): string {
  const items = report.refusals.map((f: Finding) => `  - ${f.file}:${f.line}:${f.column}: ${f.message}${f.note ? ` (${f.note})` : ""}\n    → ${f.safeAlternative}\n    → or write on the line before it: ${acknowledgementFor(f)}`);
  return (
    `database "${report.database}": ${report.refusals.length} pending change(s) refused by the ${report.profile ?? ""} safety policy; nothing was run:\n` +
    items.join("\n") +
    `\n  (policy: ${configPath}; set a class to warn or off there to change it)`
  );
}

function shortList(items: string[], max: number): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")}, … (${items.length - max} more)`;
}

function describeRehearsal(r: SafetyReport["rehearsal"]): string {
  if (r === undefined) return "off";
  if (r && typeof r === "object" && "skipped" in r) return String((r as { skipped: unknown }).skipped);
  const steps = (r as { steps?: { name: string; status: string; error?: string; durationMs?: number }[]; method?: string; durationMs?: number }).steps;
  if (!steps) return "done";
  const failed = steps.find((s) => s.status === "failed");
  const ok = steps.filter((s) => s.status === "ok").length;
  const method = (r as { method?: string }).method;
  return failed ? `${ok}/${steps.length} ok, ${failed.name} failed: ${failed.error ?? ""}` : `${ok}/${steps.length} ok${method ? ` (${method})` : ""}`;
}
