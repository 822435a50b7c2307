/**
 * Data safety of pending migrations: lint (squawk and pgstack's own rules), the data at risk
 * counted on the live database, acknowledgements, the policy's verdict, and the rehearsal slot.
 */
import type pg from "pg";
import { errorMessage } from "../errors.js";
import type { Migration } from "../source.js";
import { loadSqlParser } from "../sql.js";
import { lineColumnAt } from "../text.js";
import { covers, parseAcknowledgements } from "./acknowledgements.js";
import { findingsOf, LiveCounter } from "./measure.js";
import { planChecks, type PlannedStatement } from "./plan.js";
import { judge } from "./policy.js";
import { lintWithSquawk } from "./squawk.js";
import type { Finding, SafetyPolicy, SafetyReport } from "./types.js";

export * from "./types.js";
export { PROFILES, judge, atRisk, modeOf } from "./policy.js";
export { parseAcknowledgements, acknowledgementFor, type Acknowledgement } from "./acknowledgements.js";
export { formatSafetyReport, formatRefusal } from "./format.js";
export { lintWithSquawk, squawkBinary } from "./squawk.js";

/** Options of {@link analyzeSafety}. */
export interface AnalyzeOptions {
  /** Runs the rehearsal (when the policy asks for it); its result goes into the report as is. */
  rehearse?: () => Promise<unknown>;
  /** Why there is no rehearsal when `rehearse` is absent (default "not available"). */
  rehearsalUnavailable?: string;
  /** Progress for long runs. */
  logger?: (msg: string) => void;
}

/**
 * Analyses the pending migrations of one database, in order: squawk's lint and pgstack's rules,
 * the rows at risk counted read-only on `client` (null: the database does not exist yet, so all
 * tables are empty), the acknowledgements in the files, and the policy's verdict.
 */
export async function analyzeSafety(client: pg.ClientBase | null, database: string, pending: Migration[], policy: SafetyPolicy, opts: AnalyzeOptions = {}): Promise<SafetyReport> {
  await loadSqlParser();
  const started = performance.now();
  const notes: string[] = [];
  // squawk runs in its own process while the rules and the counts run here.
  const ms = { rules: 0, counts: 0, lint: 0 };
  const since = (t: number) => Math.round(performance.now() - t);
  const linting: Promise<Finding[]> =
    policy.lint === "off"
      ? Promise.resolve([])
      : lintWithSquawk(pending)
          .catch((err: unknown) => {
            notes.push(`lint: ${errorMessage(err)}`);
            return [];
          })
          .finally(() => (ms.lint = since(started)));
  let measured: Finding[];
  let statements: PlannedStatement[];
  try {
    const t = performance.now();
    // Counting starts with the first file's checks and runs while the later files are parsed.
    const counter = client ? new LiveCounter(client, { exactCountBelow: policy.exactCountBelow, statementTimeout: policy.statementTimeout }) : undefined;
    const plan = await planChecks(pending, counter ? (cs) => cs.forEach((c) => counter.add(c)) : undefined);
    ms.rules = since(t);
    statements = plan.statements;
    measured = findingsOf(plan.checks, await counter?.finish());
    ms.counts = since(t) - ms.rules;
  } finally {
    await linting.catch(() => undefined);
  }
  const lint = await linting;
  const order = new Map(pending.map((m, i) => [m.file, i]));
  const all = [...measured, ...lint].sort((a, b) => (order.get(a.file) ?? 0) - (order.get(b.file) ?? 0) || a.line - b.line || a.column - b.column);
  const unused = acknowledge(all, pending, statements);
  const judged = judge(all, policy);
  const report: SafetyReport = {
    database,
    pending: pending.map((m) => ({ name: m.name, file: m.file })),
    findings: judged.findings,
    verdict: judged.verdict,
    refusals: judged.refusals,
    profile: policy.profile,
    target: client ? "live" : "empty",
    ...(unused.length ? { unusedAcknowledgements: unused } : {}),
  };
  opts.logger?.(
    `${database}: safety analysis of ${pending.length} pending migration(s) in ${since(started)} ms (rules ${ms.rules} ms with counts alongside, ${ms.counts} ms more for the counts, squawk ${ms.lint} ms alongside)`,
  );
  for (const n of notes) opts.logger?.(`${database}: ${n}`);
  if (!policy.rehearsal) report.rehearsal = { skipped: "off (pgstack:safety.rehearsal)" };
  else if (pending.length === 0) report.rehearsal = { skipped: "nothing pending" };
  else if (!opts.rehearse) report.rehearsal = { skipped: opts.rehearsalUnavailable ?? "not available" };
  else {
    try {
      report.rehearsal = await opts.rehearse();
    } catch (err) {
      report.rehearsal = { skipped: `failed to run: ${errorMessage(err).split("\n")[0]}` };
    }
  }
  return report;
}

/**
 * Marks findings covered by an acknowledgement on the lines before their statement. Returns the
 * acknowledgements that covered nothing, as `file:line`.
 */
function acknowledge(findings: Finding[], pending: readonly Migration[], statements: readonly PlannedStatement[]): string[] {
  const unused: string[] = [];
  for (const m of pending) {
    const acks = parseAcknowledgements(m.sql, m.file);
    if (acks.length === 0) continue;
    const own = statements.filter((s) => s.migration === m);
    const statementOf = (offset: number) => own.findLast((s) => s.start <= offset)?.index ?? -1;
    const offsetOf = (f: Finding) => {
      const lines = m.sql.split("\n");
      return lines.slice(0, f.line - 1).reduce((n, l) => n + l.length + 1, 0) + f.column - 1;
    };
    for (const ack of acks) {
      const target = own.find((s) => s.previousEnd <= ack.offset && ack.offset < s.start);
      let used = false;
      for (const f of findings) {
        if (f.file !== m.file || !target || statementOf(offsetOf(f)) !== target.index || !covers(ack, f)) continue;
        f.acknowledged = { reason: ack.reason };
        used = true;
      }
      if (!used) unused.push(`${m.file}:${lineColumnAt(m.sql, ack.offset).line}`);
    }
  }
  return unused;
}
