/**
 * The report as GitHub-flavoured Markdown for a pull-request comment: only `<details>` and
 * `<summary>` as HTML, fenced SQL and Mermaid blocks, and at most {@link GITHUB_COMMENT_LIMIT}
 * characters (long SQL is cut first, then whole sections, always with a notice).
 */
import type { DatabaseReview, Finding, PendingMigration, ReviewReport } from "./model.js";
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

/** GitHub refuses a comment body above 65,536 characters. */
export const GITHUB_COMMENT_LIMIT = 65_536;

/** Options of {@link renderMarkdown}. */
export interface MarkdownOptions {
  /** The size cap, in UTF-16 code units (never fewer than characters). Default {@link GITHUB_COMMENT_LIMIT}. */
  maxChars?: number;
}

/** Text that must not become HTML or break a table row. */
export function mdText(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\r?\n/g, " ");
}

/** A table cell. */
function cell(s: string): string {
  return mdText(s).replace(/\|/g, "\\|");
}

/** Inline code that survives backticks inside. */
export function code(s: string): string {
  const longest = Math.max(0, ...[...s.matchAll(/`+/g)].map((m) => m[0].length));
  const ticks = "`".repeat(longest + 1);
  const pad = s.startsWith("`") || s.endsWith("`") ? " " : "";
  return `${ticks}${pad}${s.replace(/\r?\n/g, " ")}${pad}${ticks}`;
}

/** A fenced block whose fence is longer than any backtick run inside. */
export function fence(lang: string, body: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const f = "`".repeat(longest + 1);
  return `${f}${lang}\n${body.replace(/\s+$/, "")}\n${f}`;
}

/** A collapsible block; `summary` is plain text. */
function details(summary: string, body: string): string {
  return `<details><summary>${mdText(summary)}</summary>\n\n${body}\n\n</details>`;
}

function findingLine(db: DatabaseReview, f: Finding): string {
  const ack = f.acknowledged ? ` — acknowledged: ${mdText(f.acknowledged.reason)}` : "";
  const extra = findingExtra(f);
  return `- ${findingMark(db, f)} ${code(`${f.file}:${f.line}:${f.column}`)} **${mdText(f.rule)}** (${f.class}${f.table ? `, ${code(f.table)}` : ""}${f.subject ? `, ${code(f.subject)}` : ""}): ${mdText(f.message)}${extra ? ` (${mdText(extra)})` : ""}${f.safeAlternative ? ` — safer: ${mdText(f.safeAlternative)}` : ""}${ack}`;
}

function migrationBlock(db: DatabaseReview, m: PendingMigration, sqlLines: number | undefined): string {
  const lines = m.sql.replace(/\s+$/, "").split("\n");
  const cut = sqlLines !== undefined && lines.length > sqlLines;
  const body = cut ? `${lines.slice(0, sqlLines).join("\n")}\n-- … ${lines.length - sqlLines} more line(s): see ${m.file}` : lines.join("\n");
  const findings = db.safety?.findings.filter((f) => f.file === m.file) ?? [];
  const lint = db.safety ? (findings.length ? findings.map((f) => findingLine(db, f)).join("\n") : "No findings.") : `_Lint: ${mdText(safetySkippedLine(db))}._`;
  const head = `**${code(m.name)}** — ${code(m.file)}${m.inTransaction ? "" : " (runs outside a transaction)"}`;
  return `${head}\n\n${lint}\n\n${details(`SQL of ${m.name} (${lines.length} line(s)${cut ? ", cut for the comment size" : ""})`, fence("sql", body))}`;
}

function safetyBlock(db: DatabaseReview): string {
  const atRisk = db.safety?.findings.filter((f) => f.class !== "lint") ?? [];
  const unused = db.safety?.unusedAcknowledgements?.map((u) => `- ℹ️ ${code(u)}: this acknowledgement matches no finding`) ?? [];
  const list = [...atRisk.map((f) => findingLine(db, f)), ...unused];
  return `**Data at risk:** ${mdText(safetyLine(db))}.${list.length ? `\n\n${list.join("\n")}` : ""}`;
}

function rehearsalBlock(db: DatabaseReview): string {
  const r = db.rehearsal;
  if (!r || !rehearsalRan(r)) return `**Rehearsal:** _${mdText(r?.skipped ?? "not run")}._`;
  const rows = r.steps.map((s) => `| ${cell(s.name)} | ${cell(stepStatus(s))} | ${Math.round(s.durationMs)} ms | ${stepRows(s)} | ${cell(s.schemaChange.join("; ") || "none")} |`);
  return [
    `**Rehearsal:** ${mdText(rehearsalLine(r))}.`,
    "",
    "| Migration | Status | Time | Rows | Schema change |",
    "|---|---|---|---|---|",
    ...rows,
  ].join("\n");
}

/** The blocks of one database, in order; each is balanced Markdown on its own. */
function databaseBlocks(db: DatabaseReview, sqlLines: number | undefined): string[] {
  const blocks = [`### Database ${code(db.database)}`, `**Migrations:** ${mdText(migrationsLine(db))}`];
  for (const p of db.historyProblems) blocks.push(`- ⛔ history: ${mdText(p)}`);
  for (const m of db.pending) blocks.push(migrationBlock(db, m, sqlLines));
  blocks.push(safetyBlock(db), rehearsalBlock(db));
  const reset = resetLine(db);
  if (reset) {
    const table = db.reset?.tables.length
      ? `\n\n| Table | Rows lost |\n|---|---|\n${db.reset.tables.map((t) => `| ${cell(t.table)} | ${t.rows} |`).join("\n")}`
      : "";
    blocks.push(`**Reset:** ${db.reset?.guard === "refused" ? "⛔ " : "⚠️ "}${mdText(reset)}${table}`);
  } else blocks.push("**Reset:** none pending.");
  blocks.push(`**Drift:** ${mdText(driftLine(db))}${db.drift?.length ? `\n\n${db.drift.map((d) => `- ${mdText(d)}`).join("\n")}` : ""}`);
  blocks.push(
    db.access.length === 0
      ? "**Roles and grants:** no changes."
      : ["**Roles and grants:**", "", "| Op | Kind | Resource | Change |", "|---|---|---|---|", ...db.access.map((c) => `| ${accessCells(c).map(cell).join(" | ")} |`)].join("\n"),
  );
  if (db.schemaChanges) blocks.push(`**Schema changes:** ${schemaChangesLine(db.schemaChanges)}${db.schemaChanges.length ? `\n\n${db.schemaChanges.map((d) => `- ${code(d)}`).join("\n")}` : ""}`);
  if (db.diagram) {
    const removed = db.diagram.removed.length ? `\n\nRemoved: ${db.diagram.removed.map(code).join(", ")}.` : "";
    // Without the class lines: older Mermaid builds (as a host may run) reject them in an
    // erDiagram; the labels already say which tables are added or changed.
    const source = db.diagram.mermaid.split("\n").filter((l) => !/^\s+class(Def)?\s/.test(l)).join("\n");
    const diagram = source ? `\n\n${fence("mermaid", source)}` : "\n\n_No table changes; the diagram is left out._";
    blocks.push(`**Schema after the PR:** ${mdText(diagramLegend(db))}${removed}${diagram}`);
  } else blocks.push(`**Schema after the PR:** not available${db.schemaError ? `: ${mdText(db.schemaError)}` : "."}`);
  return blocks;
}

function allBlocks(report: ReviewReport, sqlLines: number | undefined): string[] {
  const head = [`## ${verdictLine(report.verdict)} — ${title(report)}`];
  if (report.verdict.reasons.length) head.push(report.verdict.reasons.map((r) => `- ${mdText(r)}`).join("\n"));
  head.push(`Pulumi preview: ${changeSummaryText(report.changeSummary)}.`);
  if (report.previewError) head.push(details("pulumi preview failed: its diagnostics", fence("text", report.previewError)));
  return [...head, ...report.databases.flatMap((db) => databaseBlocks(db, sqlLines)), `_pgstack review, ${mdText(report.generatedAt)}_`];
}

/**
 * Renders the report. When the whole text is over the cap, each migration's SQL is cut to 40
 * lines; when it is still over, blocks are dropped from the end and a notice says so.
 */
export function renderMarkdown(report: ReviewReport, options: MarkdownOptions = {}): string {
  const max = options.maxChars ?? GITHUB_COMMENT_LIMIT;
  const full = allBlocks(report, undefined).join("\n\n") + "\n";
  if (full.length <= max) return full;
  const blocks = allBlocks(report, 40);
  const shortened = blocks.join("\n\n") + "\n";
  if (shortened.length <= max) return shortened;
  const notice = (n: number) =>
    `> ✂️ **Report truncated** to fit a GitHub comment (${max} characters): ${n} more block(s) left out. Run \`npm run review -- -s ${report.stack} --html report.html\` for the whole report.\n`;
  const kept: string[] = [];
  let size = 0;
  for (const [i, b] of blocks.entries()) {
    const reserve = notice(blocks.length - i).length + 4;
    if (size + b.length + 2 + reserve > max) {
      if (kept.length === 0) kept.push(b.slice(0, Math.max(0, max - reserve - 2)));
      return `${kept.join("\n\n")}\n\n${notice(blocks.length - kept.length)}`;
    }
    kept.push(b);
    size += b.length + 2;
  }
  return shortened;
}
