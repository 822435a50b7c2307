/** Pure parts of the rehearsal and the inventory: the report text, row estimates (the schema-change lines are the differ's: schema-diff.test.ts). */
import { describe, expect, it } from "vitest";
import { estimateRows, formatRowCount, type Inventory, type TableInfo } from "../../infra/lifecycle/introspect.js";
import { emptySnapshot } from "../../infra/lifecycle/schema/model.js";
import type { RehearsalReport } from "../../infra/lifecycle/rehearsal.js";
import { formatRehearsal } from "../../infra/lifecycle/rehearsal-format.js";

const col = (name: string, type = "text", nullable = true, dflt: string | null = null) => ({ name, type, nullable, default: dflt });
function table(name: string, extra: Partial<TableInfo> = {}): TableInfo {
  return { schema: "public", name, owner: "o", estimatedRows: 0, columns: [col("id", "bigint", false)], primaryKey: ["id"], foreignKeys: [], constraints: [], grants: [], indexes: [], ...extra };
}
const inv = (...tables: TableInfo[]): Inventory => ({ tables, fingerprint: JSON.stringify(tables), snapshot: emptySnapshot() });

describe("formatRehearsal", () => {
  it("shows each migration with its status, time, rows, error at file:line:col and schema change", () => {
    const report: RehearsalReport = {
      database: "bazaar",
      method: "build-copy",
      rowLimit: 10000,
      built: 4,
      fallbackReason: "2 other session(s) are connected to bazaar; a template copy would need them gone",
      durationMs: 2345,
      cloneDropped: true,
      steps: [
        { name: "0005_fold_exports", file: "m/0005_fold_exports.sql", status: "ok", durationMs: 12.4, rowsAffected: 621, schemaChange: ["- table public.bazaar_exports"] },
        { name: "0006_uuid", file: "m/0006_uuid.sql", status: "failed", error: 'm/0006_uuid.sql:3:5: invalid input syntax for type uuid: "x" (SQLSTATE 22P02)', durationMs: 3, rowsAffected: 0, schemaChange: [] },
        { name: "0007_after", file: "m/0007_after.sql", status: "skipped", durationMs: 0, rowsAffected: 0, schemaChange: [] },
      ],
    };
    expect(formatRehearsal(report)).toBe(
      [
        "rehearsal of 3 pending migration(s) on a copy with at most 10000 rows per table (the schema built from 4 applied migration(s), rows by COPY: 2 other session(s) are connected to bazaar; a template copy would need them gone), 2.3 s:",
        "  ok      0005_fold_exports  (12 ms, 621 rows)",
        "            - table public.bazaar_exports",
        "  FAILED  0006_uuid          (3 ms)",
        '            m/0006_uuid.sql:3:5: invalid input syntax for type uuid: "x" (SQLSTATE 22P02)',
        "  skipped 0007_after         (not run: an earlier migration failed)",
        "  the copy was dropped",
      ].join("\n"),
    );
    expect(formatRehearsal({ ...report, steps: [], cloneDropped: false, clone: "pgstack_rehearsal_1_x" })).toContain("pgstack_rehearsal_1_x could NOT be dropped");
  });
});

describe("row estimates", () => {
  it("scale the last ANALYZE's density to the current size", () => {
    expect(estimateRows({ reltuples: 1000, relpages: 10, pages: 20, live: 0, blockSize: 8192 })).toEqual({ rows: 2000, atMost: 2000 });
  });
  it("before any ANALYZE, bound the rows by the pages so a small table is counted", () => {
    // 5 pages can hold at most 5 × 291 tuples, whatever the statistics say.
    expect(estimateRows({ reltuples: -1, relpages: 0, pages: 5, live: 0, blockSize: 8192 })).toEqual({ rows: 0, atMost: 1455 });
    expect(estimateRows({ reltuples: -1, relpages: 0, pages: 0, live: 0, blockSize: 8192 })).toEqual({ rows: 0, atMost: 0 });
    expect(estimateRows({ reltuples: 0, relpages: 0, pages: 3, live: 621, blockSize: 8192 })).toEqual({ rows: 621, atMost: 873 });
  });
  it("format exact counts plainly and estimates with ~", () => {
    expect(formatRowCount({ estimatedRows: 0, exactRows: 621 })).toBe("621");
    expect(formatRowCount({ estimatedRows: 620 })).toBe("~620");
  });
});
