/** The review report's pure parts: the Mermaid builder, the verdict, the preview reader, the Markdown. */
import { describe, expect, it } from "vitest";
import { renderMarkdown, GITHUB_COMMENT_LIMIT } from "../../infra/review/markdown.js";
import { buildDiagram } from "../../infra/review/mermaid.js";
import type { Finding } from "../../infra/review/model.js";
import { accessChanges, changeSummary, previewErrors, type PreviewJson } from "../../infra/review/preview.js";
import { computeVerdict, EXIT_CODES, verdictLine } from "../../infra/review/verdict.js";
import { AFTER, BEFORE, SAMPLE_REHEARSAL, SQL, sampleDatabase, sampleReport, sampleSafety as safety, table } from "../fixtures/review/sample.js";

/** The Markdown with fenced blocks removed (what GitHub could read as HTML). */
function outsideFences(md: string): string {
  return md.replace(/^(`{3,})[^\n]*\n[\s\S]*?\n\1$/gm, "");
}

/** Tags other than `<details>`/`<summary>` outside code. */
function rawHtml(md: string): string[] {
  return (outsideFences(md).match(/<\/?[a-zA-Z][^>]*>/g) ?? []).filter((t) => !/^<\/?(details|summary)>$/.test(t));
}

function finding(over: Partial<Finding> = {}): Finding {
  return { rule: "require-concurrent-index-creation", class: "lint", file: "migrations/fltr/0005_add_tags.sql", line: 4, column: 1, message: "CREATE INDEX blocks writes", safeAlternative: "CREATE INDEX CONCURRENTLY", ...over };
}

const LINT_REASON = "fltr: migrations/fltr/0005_add_tags.sql:4:1 During normal index creation, table updates are blocked, but reads are still allowed. [squawk/require-concurrent-index-creation]";

describe("the ER diagram", () => {
  const d = buildDiagram(BEFORE, AFTER);
  it("marks added, changed and unchanged tables, lists removed ones, keeps key columns only", () => {
    expect(Object.fromEntries(d.tables.map((t) => [t.id, t.status]))).toEqual({
      "public.datasets": "unchanged",
      "public.documents": "changed",
      "public.document_tags": "added",
      "public.tags": "added",
      "audit.audit log": "added",
    });
    expect(d.removed).toEqual(["public.old_notes"]);
    // Another tool's history table that no migration creates is not removed by the PR.
    const history = { ...BEFORE[2]!, name: "schema_migrations" };
    expect(buildDiagram([...BEFORE, history], AFTER).removed).toEqual(["public.old_notes"]);
    expect(buildDiagram([...BEFORE, history], [...AFTER, history]).tables.find((t) => t.id === "public.schema_migrations")?.status).toBe("unchanged");
    expect(d.tables.find((t) => t.id === "public.documents")?.columns).toEqual([
      { name: "id", type: "bigint", key: ["PK"] },
      { name: "dataset_id", type: "bigint", key: ["FK"] },
    ]);
    expect(d.tables.find((t) => t.id === "public.document_tags")?.columns.map((c) => c.key)).toEqual([["PK", "FK"], ["PK", "FK"]]);
  });

  it("draws FKs with their optionality, names entities safely and labels them with the real names", () => {
    expect(d.relations).toContainEqual({ from: "public.document_tags", to: "public.tags", columns: ["tag_id"], required: true });
    expect(d.relations).toContainEqual({ from: "public.tags", to: "public.tags", columns: ["parent_id"], required: false });
    const lines = d.mermaid.split("\n");
    expect(lines[0]).toBe("erDiagram");
    expect(lines).toContain('  audit__audit_log["audit.audit log (added)"] {');
    expect(lines).toContain('  documents["documents (changed)"] {');
    expect(lines).toContain('  datasets["datasets"] {');
    expect(lines).toContain("    bigint document_id PK, FK");
    expect(lines).toContain('  tags ||--o{ document_tags : "tag_id"');
    expect(lines).toContain('  tags |o--o{ tags : "parent_id"');
    expect(lines).toContain('  documents |o--o{ audit__audit_log : "doc_id"');
    expect(lines).toContain("  class document_tags,tags,audit__audit_log added");
    expect(lines).toContain("  class documents changed");
  });

  it("keeps names that differ only in punctuation apart", () => {
    const m = buildDiagram([], [table("a-b", ["id int"], ["id"]), table("a_b", ["id int"], ["id"]), table("1st", ["id int"], ["id"])]).mermaid;
    expect(m).toContain('a_b["a-b (added)"]');
    expect(m).toContain('a_b_2["a_b (added)"]');
    expect(m).toContain('t_1st["1st (added)"]');
  });

  it("draws only touched tables and their neighbours when the schema is large", () => {
    const chain = (n: number, changedAt: number, prefix = "") =>
      Array.from({ length: n }, (_, i) => table(`t${i}`, [`id int`, ...(i > 0 ? ["prev int"] : []), ...(i === changedAt && prefix ? [`${prefix} int`] : [])], ["id"], i > 0 ? [`prev -> t${i - 1}.id`] : []));
    const big = buildDiagram(chain(40, 10), chain(40, 10, "extra"), { maxTables: 30 });
    expect(big.partial).toEqual({ shown: 3, total: 40 });
    expect(big.tables.map((t) => `${t.id}:${t.status}`)).toEqual(["public.t9:unchanged", "public.t10:changed", "public.t11:unchanged"]);
    expect(big.relations).toHaveLength(2);
    const untouched = buildDiagram(chain(40, -1), chain(40, -1), { maxTables: 30 });
    expect(untouched.tables).toEqual([]);
    expect(untouched.mermaid).toBe("");
    expect(buildDiagram(chain(40, -1), chain(40, -1), { maxTables: 50 }).tables).toHaveLength(40);
  });
});

describe("enum columns and schema changes", () => {
  it("draws an enum column with its labels beside the keys; the same type name that is no enum stays out", () => {
    const jobs = table("jobs", ["id bigint", "state public.job_state", "kind public.kind", "note text"], ["id"]);
    const types = { "public.job_state": { kind: "enum" as const, labels: ["queued", "done"] }, "public.kind": { kind: "domain" as const, base: "text" } };
    const d = buildDiagram([], [jobs], { types });
    expect(d.tables[0]?.columns).toEqual([
      { name: "id", type: "bigint", key: ["PK"] },
      { name: "state", type: "public.job_state", key: [], labels: ["queued", "done"] },
    ]);
    expect(d.mermaid).toContain('    job_state state "enum: queued, done"');
  });

  it("lists the schema changes in the Markdown, each as code, or says there are none", () => {
    const changes = ["+ view public.v", "~ function public.f(): body changed"];
    const md = renderMarkdown(sampleReport([sampleDatabase({ schemaChanges: changes })]));
    expect(md).toContain("**Schema changes:** 2 object(s) differ from the live schema (+ added, - removed, ~ changed):\n\n- `+ view public.v`\n- `~ function public.f(): body changed`");
    expect(renderMarkdown(sampleReport([sampleDatabase({ schemaChanges: [] })]))).toContain("**Schema changes:** none (the schema after the PR equals the live one).");
  });
});

describe("the verdict", () => {
  it("is safe when nothing needs a look, and the exit code follows", () => {
    const v = computeVerdict([sampleDatabase({ pending: [], safety: undefined, safetySkipped: "nothing pending", rehearsal: { skipped: "nothing pending" }, reset: undefined, drift: [], access: [] })]);
    expect(v).toEqual({ level: "safe", reasons: [] });
    expect(verdictLine(v)).toBe("✅ safe");
    expect(EXIT_CODES[v.level]).toBe(0);
  });

  it("counts one finding per reason: the analysis' warnings, rows a reset drops, drift, removed grants", () => {
    const v = computeVerdict([sampleDatabase({ access: [{ op: "delete", kind: "Grant", resource: "g", summary: "" }, { op: "create", kind: "Role", resource: "r", summary: "" }] })]);
    expect(v.reasons).toEqual([LINT_REASON, "fltr: the reset drops 2 row(s) in 1 table(s)", "fltr: drift: table public.scratch appeared", "fltr: Grant g is removed"]);
    expect(verdictLine(v)).toBe("⚠️ needs review (4 findings)");
    expect(EXIT_CODES[v.level]).toBe(1);
    // Pending migrations without an analysis are never taken as safe.
    const unchecked = computeVerdict([sampleDatabase({ safety: undefined, safetySkipped: "not run: why", reset: undefined, drift: [], access: [] })]);
    expect(unchecked).toEqual({ level: "warn", reasons: ["fltr: 1 pending migration(s) not checked: not run: why"] });
  });

  it("uses the safety findings when present; acknowledged ones do not count; refusals refuse", () => {
    const clean = { reset: undefined, drift: [], access: [] };
    expect(computeVerdict([sampleDatabase({ ...clean, safety: safety([]) })]).level).toBe("safe");
    expect(computeVerdict([sampleDatabase({ ...clean, safety: safety([finding({ acknowledged: { reason: "small table" } })]) })]).level).toBe("safe");
    expect(computeVerdict([sampleDatabase({ ...clean, safety: safety([finding()]) })]).reasons).toEqual(["fltr: migrations/fltr/0005_add_tags.sql:4:1 CREATE INDEX blocks writes [require-concurrent-index-creation]"]);
    // As the analysis judges it: a DROP of an empty table puts nothing at risk.
    const empty = finding({ rule: "pgstack/drop-table", class: "data-loss", message: "DROP TABLE old loses 0 rows", rows: { count: 0, exact: true } });
    expect(computeVerdict([sampleDatabase({ ...clean, safety: safety([empty]) })]).level).toBe("safe");
    const bad = finding({ rule: "pgstack/drop-column", class: "data-loss", message: "DROP COLUMN loses 10 rows", rows: { count: 10, exact: true } });
    // The refusal may come back from JSON (other objects): it is matched by rule and place.
    const v = computeVerdict([sampleDatabase({ ...clean, safety: safety([bad], [{ ...bad }]) })]);
    expect(v).toEqual({ level: "refuse", reasons: ["fltr: migrations/fltr/0005_add_tags.sql:4:1 DROP COLUMN loses 10 rows (prod policy: refuse)"] });
    expect(verdictLine(v)).toBe("⛔ refused by policy");
    expect(EXIT_CODES[v.level]).toBe(2);
  });

  it("refuses a reset the guard refuses, history problems and a failed preview; a failed rehearsal needs review", () => {
    const reset = { ...sampleDatabase().reset!, guard: "refused" as const, reason: "stack does not allow it" };
    expect(computeVerdict([sampleDatabase({ reset })]).reasons).toEqual(["fltr: reset refused: stack does not allow it"]);
    expect(computeVerdict([sampleDatabase({ historyProblems: ["0002 was edited"] })]).reasons).toEqual(["fltr: history: 0002 was edited"]);
    const failed = { ...SAMPLE_REHEARSAL.steps[0]!, status: "failed" as const, error: "migrations/fltr/0005_add_tags.sql:3:1: boom (SQLSTATE 42P01)", schemaChange: [] };
    const clean = { safety: safety([]), reset: undefined, drift: [], access: [] };
    // Not a policy class: pulumi up would stop at that migration, so a reviewer must look.
    expect(computeVerdict([sampleDatabase({ ...clean, rehearsal: { ...SAMPLE_REHEARSAL, steps: [failed] } })])).toEqual({
      level: "warn",
      reasons: ["fltr: rehearsal: 0005_add_tags failed: migrations/fltr/0005_add_tags.sql:3:1: boom (SQLSTATE 42P01)"],
    });
    expect(computeVerdict([sampleDatabase({ ...clean, rehearsal: { ...SAMPLE_REHEARSAL, cloneDropped: false } })]).reasons).toEqual([
      "fltr: the rehearsal copy pgstack_rehearsal_fltr_1 could not be dropped: drop it by hand",
    ]);
    expect(computeVerdict([sampleDatabase({ ...clean, rehearsal: { skipped: "off (pgstack:safety.rehearsal)" } })]).level).toBe("safe");
    expect(computeVerdict([], "\n  error: the guard said no\nmore").reasons).toEqual(["pulumi preview failed:   error: the guard said no"]);
  });
});

describe("reading pulumi preview --json", () => {
  const comp = (db: string) => `urn:pulumi:dev::pgstack::pgstack:index:PostgresDatabase::${db}`;
  const preview: PreviewJson = {
    steps: [
      { op: "same", urn: "urn:x::fltr-role-fltr_app", newState: { type: "postgresql:index/role:Role", parent: comp("fltr") } },
      { op: "create", urn: "urn:x::fltr-role-fltr_reader", newState: { type: "postgresql:index/role:Role", inputs: { name: "fltr_reader", login: true, password: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "x" } }, parent: comp("fltr") } },
      {
        op: "update",
        urn: "urn:x::fltr_auth-grant-app-public-tables",
        oldState: { type: "postgresql:index/grant:Grant", inputs: { privileges: ["SELECT", "DELETE"], objectType: "table", schema: "public", role: "app" } },
        newState: { type: "postgresql:index/grant:Grant", inputs: { privileges: ["SELECT"], objectType: "table", schema: "public", role: "app" }, parent: comp("fltr_auth") },
        diffReasons: ["privileges"],
      },
      { op: "replace", urn: "urn:x::fltr-admin-in-owner", newState: { type: "postgresql:index/grantRole:GrantRole", inputs: { role: "admin", grantRole: "fltr_owner" }, parent: comp("fltr") } },
      { op: "create-replacement", urn: "urn:x::fltr-admin-in-owner", newState: { type: "postgresql:index/grantRole:GrantRole", parent: comp("fltr") } },
      { op: "delete-replaced", urn: "urn:x::fltr-admin-in-owner", oldState: { type: "postgresql:index/grantRole:GrantRole", parent: comp("fltr") } },
      { op: "delete", urn: "urn:x::fltr-grant-old-public-default-tables", oldState: { type: "postgresql:index/defaultPrivileges:DefaultPrivileges", inputs: { privileges: ["SELECT"], objectType: "table", schema: "public", role: "old", owner: "fltr_owner" } } },
      { op: "update", urn: "urn:x::fltr-migrations", newState: { type: "pulumi-nodejs:dynamic:Resource", parent: comp("fltr") } },
      { op: "create", urn: "urn:x::fltr_auth-admin-in-owner", newState: { type: "pulumi-nodejs:dynamic/pgstack:OwnerMembership", inputs: { owner: "fltr_auth_owner" }, parent: comp("fltr_auth") } },
    ],
    changeSummary: { same: 1, create: 1, update: 2, replace: 1, delete: 1 },
    diagnostics: [{ severity: "warning", message: "w" }, { severity: "error", urn: "urn:x::fltr_auth-reset", message: "refused\n" }],
  };
  const changes = accessChanges(preview, ["fltr", "fltr_auth"]);

  it("sorts access changes into databases (by parent, else by name) and describes each", () => {
    expect(changes.get("fltr")).toEqual([
      { op: "replace", kind: "GrantRole", resource: "fltr-admin-in-owner", summary: "admin is a member of fltr_owner" },
      { op: "delete", kind: "DefaultPrivileges", resource: "fltr-grant-old-public-default-tables", summary: "default SELECT on new tables in schema public to old (created by fltr_owner)" },
      { op: "create", kind: "Role", resource: "fltr-role-fltr_reader", summary: "role fltr_reader (login)" },
    ]);
    expect(changes.get("fltr_auth")).toEqual([
      { op: "create", kind: "OwnerMembership", resource: "fltr_auth-admin-in-owner", summary: "the admin is a member of fltr_auth_owner (INHERIT, SET)" },
      { op: "update", kind: "Grant", resource: "fltr_auth-grant-app-public-tables", summary: "SELECT on every table in schema public to app; privileges: DELETE, SELECT → SELECT" },
    ]);
    expect(JSON.stringify([...changes.values()])).not.toContain("ciphertext");
  });

  it("reads the change summary (or counts the steps) and the error diagnostics", () => {
    expect(changeSummary(preview)).toEqual({ same: 1, create: 1, update: 2, replace: 1, delete: 1 });
    expect(changeSummary({ steps: [{ op: "same", urn: "a" }, { op: "same", urn: "b" }, { op: "update", urn: "c" }] })).toEqual({ same: 2, update: 1 });
    expect(previewErrors(preview)).toBe("fltr_auth-reset: refused");
  });
});

describe("the Markdown comment", () => {
  const md = renderMarkdown(sampleReport());

  it("starts with the verdict line and has every section of each database", () => {
    expect(md.split("\n")[0]).toBe("## ⚠️ needs review (3 findings) — pgstack review of stack `dev`");
    expect(md).toContain("Pulumi preview: 3 to create, 2 to update, 30 unchanged.");
    for (const s of ["### Database `fltr`", "**Migrations:** 4 applied, 1 pending", "**Data at risk:**", "**Rehearsal:**", "**Reset:** ⚠️ generation 1 → 2", "**Drift:** 1 difference(s)", "**Roles and grants:**", "**Schema after the PR:**"]) {
      expect(md).toContain(s);
    }
    expect(md).toContain("| create | Role | fltr-role-fltr_reader | role fltr_reader |");
    expect(md).toContain("| public.datasets | 2 |");
    expect(md).toContain("Removed: `public.old_notes`.");
  });

  it("puts the full SQL in a details block with a fence longer than any inside, with its findings before it", () => {
    expect(md).toContain("<details><summary>SQL of 0005_add_tags (4 line(s))</summary>\n\n````sql\n" + SQL.trimEnd() + "\n````\n\n</details>");
    const sqlAt = md.indexOf("<details><summary>SQL of 0005_add_tags");
    const findingAt = md.indexOf(
      "- ⚠️ `migrations/fltr/0005_add_tags.sql:4:1` **squawk/require-concurrent-index-creation** (lint): During normal index creation, table updates are blocked, but reads are still allowed. — safer: Use `CONCURRENTLY` to avoid blocking writes.",
    );
    expect(findingAt).toBeGreaterThan(0);
    expect(findingAt).toBeLessThan(sqlAt);
    expect(md).toContain("**Data at risk:** none found (dev policy: warn).");
    expect(md).toContain("```mermaid\nerDiagram\n");
    expect(md).toContain('  tags["tags (added)"] {');
    expect(md).not.toMatch(/^\s+class(Def)? /m);
    expect(md).not.toContain("not available");
    expect(rawHtml(md)).toEqual([]);
  });

  it("shows the rehearsal per migration: status, time, rows, schema change; or why it did not run", () => {
    expect(md).toContain("**Rehearsal:** 1 pending migration(s) on a full copy (CREATE DATABASE … TEMPLATE), 1234 ms; the copy was dropped.\n\n| Migration | Status | Time | Rows | Schema change |\n|---|---|---|---|---|\n");
    expect(md).toContain("| 0005_add_tags | ✅ ok | 12 ms | 0 | + table public.document_tags; + table public.tags |");
    const failed = { ...SAMPLE_REHEARSAL.steps[0]!, status: "failed" as const, error: "migrations/fltr/0005_add_tags.sql:3:1: relation \"documents\" does not exist (SQLSTATE 42P01)", rowsAffected: 3, schemaChange: [] };
    const skipped = { ...SAMPLE_REHEARSAL.steps[0]!, name: "0006_more", status: "skipped" as const, schemaChange: [] };
    const sample = { ...SAMPLE_REHEARSAL, method: "build-copy" as const, rowLimit: 10_000, built: 4, fallbackReason: "other sessions are connected", steps: [failed, skipped] };
    const out = renderMarkdown(sampleReport([sampleDatabase({ rehearsal: sample })]));
    expect(out).toContain("**Rehearsal:** 2 pending migration(s) on a copy with at most 10000 rows per table (the schema built from 4 applied migration(s), rows by COPY: other sessions are connected), 1234 ms; the copy was dropped.");
    expect(out).toContain('| 0005_add_tags | ⛔ failed: migrations/fltr/0005_add_tags.sql:3:1: relation "documents" does not exist (SQLSTATE 42P01) | 12 ms | 3 (rolled back) | none |');
    expect(out).toContain("| 0006_more | not run (an earlier migration failed) | 12 ms | 0 | none |");
    const off = renderMarkdown(sampleReport([sampleDatabase({ rehearsal: { skipped: "off (pgstack:safety.rehearsal)" } })]));
    expect(off).toContain("**Rehearsal:** _off (pgstack:safety.rehearsal)._");
  });

  it("marks refused, acknowledged and harmless findings, and says why an analysis did not run", () => {
    const drop = { rule: "pgstack/drop-table", class: "data-loss" as const, file: "migrations/fltr/0005_add_tags.sql", line: 2, column: 1, message: "DROP TABLE old_notes loses 621 rows", safeAlternative: "rename it first", table: "old_notes", rows: { count: 621, exact: true } };
    const empty = { ...drop, line: 3, message: "DROP TABLE gone loses 0 rows", table: "gone", rows: { count: 0, exact: true } };
    const acked = { ...drop, line: 4, table: "kept", acknowledged: { reason: "unused since 2024" } };
    const stale = { ...drop, rule: "pgstack/set-not-null", class: "not-null" as const, line: 5, message: "SET NOT NULL blocked by ~1,200 rows", rows: { count: 1200, exact: false }, stale: true, note: "measured before 0004 wrote to it" };
    const out = renderMarkdown(sampleReport([sampleDatabase({ safety: { ...safety([drop, empty, acked, stale], [drop]), unusedAcknowledgements: ["migrations/fltr/0005_add_tags.sql:9"] } })]));
    expect(out.split("\n")[0]).toBe("## ⛔ refused by policy — pgstack review of stack `dev`");
    expect(out).toContain("- fltr: migrations/fltr/0005_add_tags.sql:2:1 DROP TABLE old_notes loses 621 rows (prod policy: refuse)");
    expect(out).toContain("**Data at risk:** 4 finding(s) (prod policy: refused).");
    expect(out).toContain("- ⛔ `migrations/fltr/0005_add_tags.sql:2:1` **pgstack/drop-table** (data-loss, `old_notes`): DROP TABLE old_notes loses 621 rows — safer: rename it first");
    expect(out).toContain("- ℹ️ `migrations/fltr/0005_add_tags.sql:3:1` **pgstack/drop-table** (data-loss, `gone`): DROP TABLE gone loses 0 rows");
    expect(out).toContain("- ☑️ `migrations/fltr/0005_add_tags.sql:4:1` **pgstack/drop-table** (data-loss, `kept`): DROP TABLE old_notes loses 621 rows — safer: rename it first — acknowledged: unused since 2024");
    expect(out).toContain("- ⚠️ `migrations/fltr/0005_add_tags.sql:5:1` **pgstack/set-not-null** (not-null, `old_notes`): SET NOT NULL blocked by ~1,200 rows (measured before 0004 wrote to it; counted before an earlier statement of the batch changes the table: a guide only)");
    expect(out).toContain("- ℹ️ `migrations/fltr/0005_add_tags.sql:9`: this acknowledgement matches no finding");
    const none = renderMarkdown(sampleReport([sampleDatabase({ pending: [], safety: undefined, safetySkipped: "nothing pending", rehearsal: { skipped: "nothing pending" } })]));
    expect(none).toContain("**Data at risk:** nothing pending.");
    expect(none).toContain("**Rehearsal:** _nothing pending._");
    const empty2 = renderMarkdown(sampleReport([sampleDatabase({ safety: { ...safety([]), target: "empty" } })]));
    expect(empty2).toContain("**Data at risk:** none found (dev policy: safe; counted on empty tables: the database does not exist yet or the reset empties it first).");
  });

  it("escapes text that GitHub would read as HTML or as a table cell break", () => {
    const db = sampleDatabase({ drift: ["table <script>x</script> | appeared"], access: [{ op: "create", kind: "Role", resource: "r|x", summary: "<img src=x>" }] });
    const out = renderMarkdown(sampleReport([db]));
    expect(rawHtml(out)).toEqual([]);
    expect(out).toContain("- table &lt;script&gt;x&lt;/script&gt; | appeared");
    expect(out).toContain("| create | Role | r\\|x | &lt;img src=x&gt; |");
  });

  it("cuts long SQL first, then whole blocks, to stay under GitHub's 65,536 characters", () => {
    const longSql = Array.from({ length: 300 }, (_, i) => `INSERT INTO t VALUES (${i}, '${"x".repeat(60)}');`).join("\n");
    const pending = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `${String(i + 5).padStart(4, "0")}_m`, file: `migrations/fltr/${i}.sql`, sql: longSql, inTransaction: true }));
    const cut = renderMarkdown(sampleReport([sampleDatabase({ pending: pending(3) })]));
    expect(cut.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(cut).toContain("(300 line(s), cut for the comment size)");
    expect(cut).toContain("-- … 260 more line(s): see migrations/fltr/0.sql");
    expect(cut).not.toContain("Report truncated");

    const huge = renderMarkdown(sampleReport([sampleDatabase({ pending: pending(60) })]));
    expect(huge.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    expect(huge.split("\n")[0]).toMatch(/^## ⚠️ needs review/);
    expect(huge).toMatch(/> ✂️ \*\*Report truncated\*\* to fit a GitHub comment \(65536 characters\): \d+ more block\(s\) left out\./);
    expect((huge.match(/<details>/g) ?? []).length).toBe((huge.match(/<\/details>/g) ?? []).length);
    expect((outsideFences(huge).match(/^```/gm) ?? []).length).toBe(0);
    expect(renderMarkdown(sampleReport([sampleDatabase({ pending: pending(60) })]), { maxChars: 3000 }).length).toBeLessThanOrEqual(3000);
  });
});
