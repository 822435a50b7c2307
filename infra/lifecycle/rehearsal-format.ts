/** The rehearsal report as the lines a `pulumi preview` shows. */
import type { RehearsalReport } from "./rehearsal.js";

function ms(n: number): string {
  return n < 1000 ? `${Math.round(n)} ms` : `${(n / 1000).toFixed(1)} s`;
}

/** How the copy was made, for the report and the review: `a full copy (…)` or `a copy with at most N rows per table (…)`. */
export function describeCopy(r: Pick<RehearsalReport, "method" | "rowLimit" | "built" | "fallbackReason">): string {
  if (r.method === "template") return "a full copy (CREATE DATABASE … TEMPLATE)";
  const why = r.fallbackReason ? `: ${r.fallbackReason}` : "";
  return `a copy with at most ${r.rowLimit ?? "?"} rows per table (the schema built from ${r.built ?? "?"} applied migration(s), rows by COPY${why})`;
}

/**
 * A compact, indented report: how the copy was made, one line per migration (status, duration,
 * rows affected, error at file:line:col) followed by its schema change, and whether the copy was
 * dropped.
 */
export function formatRehearsal(report: RehearsalReport): string {
  const lines = [`rehearsal of ${report.steps.length} pending migration(s) on ${describeCopy(report)}, ${ms(report.durationMs)}:`];
  if (report.steps.length === 0) lines.push("  nothing pending");
  const width = Math.max(0, ...report.steps.map((s) => s.name.length));
  for (const s of report.steps) {
    const name = s.name.padEnd(width);
    if (s.status === "skipped") {
      lines.push(`  skipped ${name}  (not run: an earlier migration failed)`);
      continue;
    }
    const rows = s.rowsAffected === 1 ? "1 row" : `${s.rowsAffected} rows`;
    const facts = s.status === "ok" ? `${ms(s.durationMs)}, ${rows}` : `${ms(s.durationMs)}${s.rowsAffected > 0 ? `, ${rows} written then rolled back` : ""}`;
    lines.push(`  ${s.status === "ok" ? "ok     " : "FAILED "} ${name}  (${facts})`);
    if (s.error) lines.push(...s.error.split("\n").map((l) => `            ${l}`));
    for (const c of s.schemaChange) lines.push(`            ${c}`);
  }
  lines.push(report.cloneDropped ? "  the copy was dropped" : `  the copy ${report.clone ?? ""} could NOT be dropped: drop it by hand (the next rehearsal also tries)`);
  return lines.join("\n");
}
