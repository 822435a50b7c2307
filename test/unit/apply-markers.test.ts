/** Markers of no-transaction migrations: which ones block a run, and what the refusal says. */
import { beforeAll, describe, expect, it } from "vitest";
import { MigrationInterruptedError } from "../../infra/lifecycle/errors.js";
import { clearMarkerSql, findInterrupted, writeMarkerSql, type AppliedMigration, type RunningMarker } from "../../infra/lifecycle/history.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { inline } from "../support/migrations.js";

beforeAll(loadSqlParser);

const files = {
  "0001_a.sql": "CREATE TABLE a (id int);",
  "0002_idx.sql": "-- pgstack:no-transaction\nCREATE INDEX CONCURRENTLY a1 ON a (id);\n\nCREATE INDEX CONCURRENTLY a2 ON a (id);\nCREATE INDEX CONCURRENTLY a3 ON a (id);\n",
};

function appliedRow(id: number, name: string): AppliedMigration {
  return { id, name, checksum: "x", appliedAt: new Date(0), durationMs: 1, inTransaction: true };
}

describe("interrupted no-transaction migrations", () => {
  it("ignores markers of applied migrations and blocks on the first one that is not applied", async () => {
    const ms = await inline(files);
    const idx = ms[1]!;
    const markers: RunningMarker[] = [
      { id: 1, name: "0001_a", completed: 0 },
      { id: 2, name: idx.name, file: idx.file, checksum: idx.checksum, statements: 3, completed: 1, startedAt: "2030-01-01T00:00:00.000Z" },
    ];
    expect(findInterrupted("db", markers.slice(0, 1), [appliedRow(1, "0001_a")], ms)).toBeUndefined();
    const err = findInterrupted("db", markers, [appliedRow(1, "0001_a")], ms);
    expect(err).toBeInstanceOf(MigrationInterruptedError);
    expect(err?.code).toBe("MIGRATION_INTERRUPTED");
    expect(err?.migration).toBe("0002_idx");
    expect(err?.message).toContain('database "db": migration mem/0002_idx.sql (0002_idx) was interrupted while running outside a transaction');
    expect(err?.message).toContain("  - statement 1 (mem/0002_idx.sql:2:1) of 3 completed");
    expect(err?.message).toContain("  - statement 2 (mem/0002_idx.sql:4:1) may have run, completely or in part");
    expect(err?.message).toContain("  - statement 3 (mem/0002_idx.sql:5:1) did not run");
    expect(err?.message).toContain("  - it started at 2030-01-01T00:00:00.000Z");
    expect(err?.message).toContain("      `DELETE FROM pgstack.meta WHERE key = 'running:2';`\n");
  });

  it("says when every statement completed but the history row was not written", async () => {
    const ms = await inline(files);
    const idx = ms[1]!;
    const err = findInterrupted("db", [{ id: 2, checksum: idx.checksum, statements: 3, completed: 3 }], [], ms);
    expect(err?.message).toContain("statements 1–3 (mem/0002_idx.sql:2:1 to mem/0002_idx.sql:5:1) of 3 completed");
    expect(err?.message).toContain("every statement completed, but its history row was not written");
    expect(err?.message).not.toContain("did not run");
  });

  it("does not number statements against a file that changed since, and names a marker whose file is gone", async () => {
    const ms = await inline(files);
    const changed = findInterrupted("db", [{ id: 2, checksum: "old", statements: 2, completed: 0 }], [], ms);
    expect(changed?.message).toContain("  - statement 1 may have run, completely or in part");
    expect(changed?.message).toContain("mem/0002_idx.sql has changed since (its checksum differs)");
    const gone = findInterrupted("db", [{ id: 7 }], [], ms);
    expect(gone?.message).toContain("migration version 7 (name unknown) was interrupted");
    expect(gone?.message).toContain("it is unknown how far it got: any of its statements may have run");
    expect(gone?.message).toContain("no migration file has version 7 any more");
    expect(gone?.clearSql).toBe(clearMarkerSql(7));
  });

  it("writes markers as literal SQL, escaping what a file name may contain", () => {
    const sql = writeMarkerSql({ id: 3, file: "it's/0003_x.sql", completed: 0 });
    expect(sql).toContain("VALUES ('running:3', '{\"file\":\"it''s/0003_x.sql\",\"completed\":0}')");
    expect(clearMarkerSql(3)).toBe("DELETE FROM pgstack.meta WHERE key = 'running:3';");
  });
});
