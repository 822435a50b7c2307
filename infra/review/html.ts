/**
 * The report as one self-contained HTML page: the same sections as the Markdown comment, the ER
 * diagrams drawn in the page by Mermaid from the pinned npm package (its bundle inlined as a
 * data: script, so no CDN and no file next to the page).
 */
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { DatabaseReview, Finding, ReviewReport } from "./model.js";
import { rehearsalRan } from "./safety-types.js";
import {
  accessCells,
  changeSummaryText,
  diagramLegend,
  driftLine,
  findingExtra,
  findingMark,
  migrationsLine,
  rehearsalLine,
  schemaChangesLine,
  resetLine,
  safetyLine,
  safetySkippedLine,
  stepRows,
  stepStatus,
  title,
} from "./text.js";
import { verdictLine } from "./verdict.js";

/** The pinned Mermaid bundle (`node_modules/mermaid/dist/mermaid.min.js`). */
export function loadMermaidBundle(): string {
  const req = createRequire(path.join(__dirname, "..", "..", "package.json"));
  return fs.readFileSync(req.resolve("mermaid/dist/mermaid.min.js"), "utf8");
}

/** Escapes text for HTML content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const code = (s: string) => `<code>${esc(s)}</code>`;
/** The shared sentences mark code with backticks, as Markdown does. */
const inline = (s: string) => esc(s).replace(/`([^`]+)`/g, "<code>$1</code>");

function finding(db: DatabaseReview, f: Finding): string {
  const extra = findingExtra(f);
  return `<li>${findingMark(db, f)} ${code(`${f.file}:${f.line}:${f.column}`)} <b>${esc(f.rule)}</b> (${esc(f.class)}${f.table ? `, ${code(f.table)}` : ""}${f.subject ? `, ${code(f.subject)}` : ""}): ${esc(f.message)}${extra ? ` (${esc(extra)})` : ""}${f.safeAlternative ? ` — safer: ${esc(f.safeAlternative)}` : ""}${f.acknowledged ? ` — acknowledged: ${esc(f.acknowledged.reason)}` : ""}</li>`;
}

function table(head: string[], rows: string[][]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

function database(db: DatabaseReview): string {
  const out = [`<section class="database" data-database="${esc(db.database)}"><h2>Database ${code(db.database)}</h2>`];
  out.push(`<p><b>Migrations:</b> ${inline(migrationsLine(db))}</p>`);
  if (db.historyProblems.length) out.push(`<ul>${db.historyProblems.map((p) => `<li>⛔ history: ${esc(p)}</li>`).join("")}</ul>`);
  for (const m of db.pending) {
    const findings = db.safety?.findings.filter((f) => f.file === m.file) ?? [];
    const lint = db.safety ? (findings.length ? `<ul>${findings.map((f) => finding(db, f)).join("")}</ul>` : "<p>No findings.</p>") : `<p class="na">Lint: ${inline(safetySkippedLine(db))}.</p>`;
    out.push(
      `<div class="migration"><p><b>${code(m.name)}</b> — ${code(m.file)}${m.inTransaction ? "" : " (runs outside a transaction)"}</p>${lint}` +
        `<details><summary>SQL of ${esc(m.name)} (${m.sql.replace(/\s+$/, "").split("\n").length} line(s))</summary><pre><code class="sql">${esc(m.sql)}</code></pre></details></div>`,
    );
  }
  const atRisk = db.safety?.findings.filter((f) => f.class !== "lint") ?? [];
  const unused = (db.safety?.unusedAcknowledgements ?? []).map((u) => `<li>ℹ️ ${code(u)}: this acknowledgement matches no finding</li>`);
  const items = [...atRisk.map((f) => finding(db, f)), ...unused];
  out.push(`<p${db.safety ? "" : ' class="na"'}><b>Data at risk:</b> ${inline(safetyLine(db))}.</p>${items.length ? `<ul>${items.join("")}</ul>` : ""}`);
  const r = db.rehearsal;
  if (!r || !rehearsalRan(r)) out.push(`<p class="na"><b>Rehearsal:</b> ${esc(r?.skipped ?? "not run")}.</p>`);
  else {
    out.push(`<p><b>Rehearsal:</b> ${esc(rehearsalLine(r))}.</p>`);
    out.push(table(["Migration", "Status", "Time", "Rows", "Schema change"], r.steps.map((s) => [s.name, stepStatus(s), `${Math.round(s.durationMs)} ms`, stepRows(s), s.schemaChange.join("; ") || "none"])));
  }
  const reset = resetLine(db);
  out.push(`<p><b>Reset:</b> ${reset ? `${db.reset?.guard === "refused" ? "⛔" : "⚠️"} ${esc(reset)}` : "none pending."}</p>`);
  if (db.reset?.tables.length) out.push(table(["Table", "Rows lost"], db.reset.tables.map((t) => [t.table, String(t.rows)])));
  out.push(`<p><b>Drift:</b> ${inline(driftLine(db))}</p>${db.drift?.length ? `<ul>${db.drift.map((d) => `<li>${esc(d)}</li>`).join("")}</ul>` : ""}`);
  out.push(db.access.length ? `<p><b>Roles and grants:</b></p>${table(["Op", "Kind", "Resource", "Change"], db.access.map(accessCells))}` : "<p><b>Roles and grants:</b> no changes.</p>");
  if (db.schemaChanges) out.push(`<p><b>Schema changes:</b> ${schemaChangesLine(db.schemaChanges)}</p>${db.schemaChanges.length ? `<ul>${db.schemaChanges.map((d) => `<li>${code(d)}</li>`).join("")}</ul>` : ""}`);
  if (db.diagram) {
    const removed = db.diagram.removed.length ? ` Removed: ${db.diagram.removed.map(code).join(", ")}.` : "";
    out.push(`<p><b>Schema after the PR:</b> ${esc(diagramLegend(db))}${removed}</p>`);
    out.push(db.diagram.mermaid ? `<pre class="mermaid" data-tables="${db.diagram.tables.length}">${esc(db.diagram.mermaid)}</pre>` : "<p>No table changes; the diagram is left out.</p>");
  } else out.push(`<p><b>Schema after the PR:</b> not available${db.schemaError ? `: ${esc(db.schemaError)}` : "."}</p>`);
  out.push("</section>");
  return out.join("\n");
}

const STYLE = `body{font:14px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2rem}
code{background:#f6f8fa;padding:.1rem .3rem;border-radius:4px}pre{background:#f6f8fa;padding:.8rem;overflow:auto}
pre.mermaid{background:none}table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left}
.na{color:#59636e;font-style:italic}.verdict-safe{color:#1a7f37}.verdict-warn{color:#9a6700}.verdict-refuse{color:#cf222e}`;

/**
 * Renders the page. `mermaidJs` is the Mermaid bundle ({@link loadMermaidBundle}). When the
 * diagrams are drawn the body gets `data-mermaid="done"` (or `"error"`, with the error logged).
 */
export function renderHtml(report: ReviewReport, mermaidJs: string): string {
  const v = report.verdict;
  const reasons = v.reasons.length ? `<ul>${v.reasons.map((r) => `<li>${esc(r)}</li>`).join("")}</ul>` : "";
  const previewError = report.previewError ? `<details><summary>pulumi preview failed: its diagnostics</summary><pre>${esc(report.previewError)}</pre></details>` : "";
  const bundle = `data:text/javascript;base64,${Buffer.from(mermaidJs).toString("base64")}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title(report).replace(/`/g, ""))}</title><style>${STYLE}</style></head>
<body>
<h1 class="verdict-${v.level}">${esc(verdictLine(v))} — ${esc(title(report).replace(/`/g, ""))}</h1>
${reasons}
<p>Pulumi preview: ${esc(changeSummaryText(report.changeSummary))}.</p>
${previewError}
${report.databases.map(database).join("\n")}
<p class="na">pgstack review, ${esc(report.generatedAt)}</p>
<script src="${bundle}"></script>
<script>
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
mermaid.run({ querySelector: "pre.mermaid" })
  .then(function () { document.body.dataset.mermaid = "done"; })
  .catch(function (e) { console.error("mermaid: " + (e && e.message ? e.message : e)); document.body.dataset.mermaid = "error"; });
</script>
</body></html>
`;
}
