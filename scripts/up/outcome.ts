/**
 * The outcome of a `pulumi up` per database, from the engine's events: applied, unchanged,
 * failed (with the error), stopped part-way, or not started. Pulumi stops starting new steps
 * after the first failure and lets running ones finish, so with many databases some are done,
 * one failed and the rest never began; its own summary counts resources, not databases.
 */

/** The few fields of Pulumi's engine events (apitype.EngineEvent) read here. */
export interface EngineEvent {
  resourcePreEvent?: { metadata: { op: string; urn: string }; planning?: boolean };
  resOutputsEvent?: { metadata: { op: string; urn: string }; planning?: boolean };
  resOpFailedEvent?: { metadata: { op: string; urn: string } };
  diagnosticEvent?: { urn?: string; message: string; severity: string };
}

/** One database's outcome. */
export interface DatabaseOutcome {
  database: string;
  outcome: "applied" | "unchanged" | "failed" | "stopped part-way" | "not started";
  /** Changes the preview planned for it, and those done. */
  planned: number;
  done: number;
  /** The error, for a failed database: its first line. */
  error?: string;
  /** The resources whose planned change was not done (by name, e.g. `shop-verification`). */
  notDone: string[];
}

/** Steps that change nothing. */
const NO_CHANGE = new Set(["same", "read", "refresh"]);

/** Collects events (in any order of arrival) and tells each database's outcome. */
export class OutcomeTracker {
  private readonly planned = new Map<string, Set<string>>();
  private readonly done = new Map<string, Set<string>>();
  private readonly failed = new Map<string, string>();

  constructor(private readonly databases: readonly string[]) {}

  /**
   * The database a resource belongs to: every resource of a database is named `<db>` or
   * `<db>-…`, and database names hold no hyphen, so the prefix is unambiguous.
   */
  private databaseOf(urn: string): string | undefined {
    const name = urn.split("::").at(-1) ?? "";
    return this.databases.find((d) => name === d || name.startsWith(`${d}-`));
  }

  /** Counts a step, except the component's own: it groups the others and changes nothing. */
  private note(map: Map<string, Set<string>>, urn: string): void {
    const db = this.databaseOf(urn);
    if (db && urn.split("::").at(-1) !== db) map.set(db, (map.get(db) ?? new Set()).add(urn));
  }

  /** Takes one engine event. */
  add(e: EngineEvent): void {
    const pre = e.resourcePreEvent;
    if (pre && !NO_CHANGE.has(pre.metadata.op)) this.note(this.planned, pre.metadata.urn);
    const out = e.resOutputsEvent;
    if (out && !out.planning && !NO_CHANGE.has(out.metadata.op)) this.note(this.done, out.metadata.urn);
    const failed = e.resOpFailedEvent?.metadata.urn;
    if (failed) {
      const db = this.databaseOf(failed);
      if (db && !this.failed.has(db)) this.failed.set(db, "");
    }
    const diag = e.diagnosticEvent;
    if (diag?.severity === "error" && diag.urn) {
      const db = this.databaseOf(diag.urn);
      // The first error of a database is its cause; the engine repeats it in later lines.
      if (db && !this.failed.get(db)) this.failed.set(db, firstLine(diag.message));
    }
  }

  /** Every database's outcome, in the stack's order. */
  outcomes(): DatabaseOutcome[] {
    return this.databases.map((database) => {
      const doneUrns = this.done.get(database) ?? new Set<string>();
      const plannedUrns = new Set([...(this.planned.get(database) ?? []), ...doneUrns]);
      const notDone = [...plannedUrns].filter((u) => !doneUrns.has(u)).map((u) => u.split("::").at(-1) ?? u);
      const planned = plannedUrns.size;
      const done = doneUrns.size;
      const base = { database, planned, done, notDone };
      if (this.failed.has(database)) return { ...base, outcome: "failed", error: this.failed.get(database) || "a step failed (see above)" };
      if (planned === 0) return { ...base, outcome: "unchanged" };
      if (done >= planned) return { ...base, outcome: "applied" };
      return { ...base, outcome: done === 0 ? ("not started" as const) : ("stopped part-way" as const) };
    });
  }
}

/** A diagnostic's first meaningful line, without Pulumi's ANSI colour codes. */
function firstLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  const plain = message.replace(/\u001b\[[0-9;]*m|<\{%[^%]*%\}>/g, "");
  return plain.split("\n").map((l) => l.trim()).find((l) => l.length > 0) ?? "";
}

/** The lines `npm run up` prints: one per database, then what to do when some did not finish. */
export function formatOutcomes(outcomes: readonly DatabaseOutcome[]): string[] {
  const changes = (n: number) => `${n} change${n === 1 ? "" : "s"}`;
  const width = Math.max(...outcomes.map((o) => o.database.length));
  const lines = outcomes.map((o) => {
    const name = o.database.padEnd(width);
    switch (o.outcome) {
      case "failed":
        return `  ${name}  FAILED (${o.done} of ${o.planned} ${o.planned === 1 ? "change" : "changes"} done): ${o.error}`;
      case "applied":
        return `  ${name}  applied (${changes(o.planned)})`;
      case "unchanged":
        return `  ${name}  unchanged`;
      case "not started":
        return `  ${name}  not started (${changes(o.planned)} pending)`;
      default:
        return `  ${name}  stopped part-way (${o.done} of ${o.planned} ${o.planned === 1 ? "change" : "changes"} done; not done: ${o.notDone.join(", ")})`;
    }
  });
  const failed = outcomes.filter((o) => o.outcome === "failed").length;
  const pending = outcomes.filter((o) => o.outcome === "not started" || o.outcome === "stopped part-way").length;
  const head = `per database: ${outcomes.length - failed - pending} done, ${failed} failed, ${pending} not finished`;
  const tail = failed + pending > 0 ? ["  Fix the failure and run `npm run up` again: what is done stays done, the rest resumes."] : [];
  return [head, ...lines, ...tail];
}
