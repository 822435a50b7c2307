/**
 * What a preview says about repeatable migrations (`R__name.sql`, see source.ts): which ones the
 * next `up` runs again, and how each definition changes, as a unified diff of the SQL that last
 * ran (kept in `pgstack.repeatables`) against the file. Unchanged repeatables are not named, so
 * a folder whose repeatables all match their latest run previews as a no-op.
 */
import { createTwoFilesPatch } from "diff";
import type { AppliedRepeatable } from "./history.js";
import { isRepeatable, type Migration } from "./source.js";

/**
 * One block per repeatable in `pending` (the state model's: {@link readDatabaseState}), in run
 * order: `R__views will run again (sha256 3f2a…→9c1b…)` and the diff, or `will run for the first
 * time`. `recorded` is the state's `repeatables` (latest run by name).
 */
export function describeRepeatables(database: string, pending: readonly Migration[], recorded: readonly AppliedRepeatable[]): string[] {
  const last = new Map(recorded.map((r) => [r.name, r]));
  return pending.filter(isRepeatable).flatMap((m) => {
    const before = last.get(m.name);
    if (!before) return [`${database}: repeatable ${m.name} will run for the first time (${m.file})`];
    const head = `${database}: repeatable ${m.name} will run again (sha256 ${before.checksum.slice(0, 12)}… → ${m.checksum.slice(0, 12)}…), its definition changes:`;
    const patch = createTwoFilesPatch(`${m.name} (applied ${before.appliedAt.toISOString()})`, m.file, withNewline(before.sql), withNewline(m.sql), undefined, undefined, { context: 3 });
    // The first line of the patch is the `====` separator; the headers and hunks stay.
    const body = patch.split("\n").filter((l, i) => !(i === 0 && l.startsWith("=")) && l !== "\\ No newline at end of file");
    while (body.at(-1) === "") body.pop();
    return [head, ...body.map((l) => `  ${l}`)];
  });
}

/** A file without a final newline differs from one with it only there: compared as lines. */
function withNewline(s: string): string {
  return s.endsWith("\n") ? s : `${s}\n`;
}
