/**
 * What each pending statement puts at risk, reasoning over the batch in order: pgstack's own
 * rules over the libpg-query parse tree. The result is a list of planned checks; the live
 * counts are taken afterwards (measure.ts). A table created earlier in the batch starts empty,
 * a renamed one keeps its rows, and a table written earlier in the batch is counted with a note.
 */
import type { Migration } from "../source.js";
import { splitStatements } from "../sql.js";
import { lineColumnAt } from "../text.js";
import { SourceText } from "./source-text.js";
import { keyOf, type Ctx, type PlannedCheck, type PlannedStatement, type TableRef, type TableState } from "./batch.js";
import { privilegeChecks } from "./privilege.js";
import { RULES } from "./rules.js";

export { displayTable, sqlTable, type Measurement, type PlannedCheck, type PlannedStatement, type TableRef } from "./batch.js";

/**
 * Plans the checks of a batch of pending migrations (call `loadSqlParser()` first). `onChecks`
 * receives each file's new checks as soon as the file is planned, and the loop yields to I/O
 * between files, so their counts run on the database while the next files are parsed.
 */
export async function planChecks(
  pending: readonly Migration[],
  onChecks?: (checks: PlannedCheck[]) => void,
): Promise<{ checks: PlannedCheck[]; statements: PlannedStatement[] }> {
  const state = new Map<string, TableState>();
  const checks: PlannedCheck[] = [];
  const statements: PlannedStatement[] = [];
  const stateOf = (t: TableRef): TableState => state.get(keyOf(t)) ?? { kind: "live", live: t };
  const copies = new Map<string, string>();

  for (const m of pending) {
    const before = checks.length;
    const parsed = splitStatements(m.sql, m.file);
    const text = new SourceText(m.sql);
    let previousEnd = 0;
    parsed.forEach((st, index) => {
      const end = st.offset + st.sql.length;
      statements.push({ migration: m, index, start: st.offset, end, previousEnd });
      previousEnd = end;
      const where = `${m.file}:${lineColumnAt(m.sql, st.offset).line}`;
      const ctx: Ctx = { m, st, index, text, where, checks, stateOf, state, copies };
      RULES[st.kind]?.(ctx, st.node);
      privilegeChecks(ctx, st.kind, st.node);
    });
    if (onChecks && checks.length > before) {
      onChecks(checks.slice(before));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { checks, statements };
}

