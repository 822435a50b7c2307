/**
 * `npm run review` end to end: the real Pulumi CLI (preview --json) on a copy of the project
 * against the real test Postgres, for a fixture PR: a new migration (with a lint-worthy index),
 * a new role and grant, a pending reset in dev with rows to lose, and a hand-made table (drift).
 * Each section of the report is compared with what the database and the preview say.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ReviewReport } from "../../infra/review/model.js";
import { copyProjectForCli, setDatabases, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const conn = (database: string) => ({ ...admin, database });
const S = "_rv";
const FLTR = `fltr${S}`;
const AUTH = `fltr_auth${S}`;

type Db = { name: string; roles: { name: string; login?: boolean }[]; grants: { role: string; schema: string; tablePrivileges?: string[] }[]; reset: { generation: number; allowed?: boolean; acceptDataLoss?: number } };

let p: CliProject;

/** Runs `npm run review`'s script in the copy; returns its exit code and the three outputs. */
function runReview(name: string): { status: number; stderr: string; md: string; html: string; report: ReviewReport } {
  const out = path.join(p.dir, ".pgstack", "review", name);
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/review.ts", "-s", "dev", "--out", `${out}.md`, "--html", `${out}.html`, "--json", `${out}.json`], {
    cwd: p.dir,
    env: { ...process.env, PULUMI_HOME: p.env["PULUMI_HOME"] },
    encoding: "utf8",
    timeout: 300_000,
  });
  if (r.status === 3 || !fs.existsSync(`${out}.json`)) throw new Error(`review failed (exit ${r.status}):\n${r.stderr}`);
  // Kept for people to read (git-ignored).
  fs.mkdirSync(path.join("test", "artifacts"), { recursive: true });
  for (const ext of ["md", "json"]) fs.copyFileSync(`${out}.${ext}`, path.join("test", "artifacts", `review-e2e-${name}.${ext}`));
  return {
    status: r.status ?? -1,
    stderr: r.stderr,
    md: fs.readFileSync(`${out}.md`, "utf8"),
    html: fs.readFileSync(`${out}.html`, "utf8"),
    report: JSON.parse(fs.readFileSync(`${out}.json`, "utf8")) as ReviewReport,
  };
}

beforeAll(async () => {
  p = copyProjectForCli("pgstack-review-");
  p.ok(["stack", "init", "dev"]);
  setStackConfig(p, "dev", { server: testServerConfig(), databases: renamedDatabases("dev", S) });
  setSecret(p, "dev", "pgstack:adminPassword", admin.password ?? "");
  p.ok(["up", "--stack", "dev", "--yes"]);
  await query(conn(FLTR), "INSERT INTO datasets (name, created_by) VALUES ('a', 'x'), ('b', 'x')");
  await query(conn(AUTH), "INSERT INTO users (id, name, email) VALUES ('u1', 'U', 'u1@example.test'), ('u2', 'V', 'u2@example.test'), ('u3', 'W', 'u3@example.test')");
});

afterAll(async () => {
  if (!p) return;
  p.run(["destroy", "--stack", "dev", "--yes"]);
  fs.rmSync(p.dir, { recursive: true, force: true });
});

describe("npm run review on a fixture PR, through the real CLI", () => {
  let r: ReturnType<typeof runReview>;
  let previewSteps: { op: string; urn: string; newState?: { type?: string }; oldState?: { type?: string } }[];
  let previewSummary: Record<string, number>;

  it("0. the fixture PR: a migration, a role and grant, a reset in dev, and drift", async () => {
    fs.copyFileSync(path.join("test", "fixtures", "review", "0005_add_tags.sql"), path.join(p.dir, "migrations", "fltr", "0005_add_tags.sql"));
    const dbs = renamedDatabases("dev", S) as unknown as Db[];
    dbs[0]!.roles.push({ name: `fltr_reader${S}`, login: false });
    dbs[0]!.grants.push({ role: `fltr_reader${S}`, schema: "public", tablePrivileges: ["SELECT"] });
    dbs[1]!.reset = { ...dbs[1]!.reset, generation: 2, acceptDataLoss: 2 };
    setDatabases(p, "dev", dbs);
    await query(conn(FLTR), "CREATE TABLE scratch_notes (id int)");
    const doc = JSON.parse(p.ok(["preview", "--stack", "dev", "--json"]).stdout) as { steps: typeof previewSteps; changeSummary: Record<string, number> };
    previewSteps = doc.steps;
    previewSummary = doc.changeSummary;
    r = runReview("pr");
    expect(r.stderr).toContain("[review] 3/5 pulumi preview --json --stack dev");
  });

  it("1. verdict: needs review (the dev policy warns), one finding per reason, exit code 1", () => {
    expect(r.report.verdict.level).toBe("warn");
    expect(r.status).toBe(1);
    const n = r.report.verdict.reasons.length;
    expect(r.md.split("\n")[0]).toBe(`## ⚠️ needs review (${n} findings) — pgstack review of stack \`dev\``);
    expect(r.report.verdict.reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^${FLTR}: migrations/fltr/0005_add_tags\\.sql:14:\\d+ .* \\[squawk/require-concurrent-index-creation\\]$`)),
        `${AUTH}: the reset drops 3 row(s) in 1 table(s)`,
        `${FLTR}: drift: + table public.scratch_notes (not in migrations)`,
      ]),
    );
    expect(r.report.verdict.reasons.filter((x) => x.includes("not checked"))).toEqual([]);
  });

  it("2. pending migrations equal the files not in pgstack's history, with their full SQL", async () => {
    const applied = (await query<{ name: string }>(conn(FLTR), "SELECT name FROM pgstack.migrations ORDER BY id")).map((x) => x.name);
    const files = fs.readdirSync(path.join(p.dir, "migrations", "fltr")).filter((f) => f.endsWith(".sql")).sort().map((f) => f.replace(/\.sql$/, ""));
    const fltr = r.report.databases.find((d) => d.database === FLTR)!;
    expect(fltr.applied).toBe(applied.length);
    expect(fltr.pending.map((m) => m.name)).toEqual(files.filter((f) => !applied.includes(f)));
    expect(fltr.pending.map((m) => m.name)).toEqual(["0005_add_tags"]);
    const sql = fs.readFileSync(path.join("test", "fixtures", "review", "0005_add_tags.sql"), "utf8");
    expect(fltr.pending[0]?.sql).toBe(sql);
    // The whole SQL, in a collapsible block.
    expect(r.md).toContain("<details><summary>SQL of 0005_add_tags (14 line(s))</summary>");
    expect(r.md).toContain(sql.trimEnd());
  });

  it("3. lint, data at risk and the rehearsal, from the real analysis under the dev policy", async () => {
    const fltr = r.report.databases.find((d) => d.database === FLTR)!;
    const file = "migrations/fltr/0005_add_tags.sql";
    expect(fltr.safety).toMatchObject({ database: FLTR, profile: "dev", target: "live", pending: [{ name: "0005_add_tags", file }], refusals: [] });
    // Lint: the CREATE INDEX without CONCURRENTLY on line 14, with squawk's rule id, inline under its migration.
    const index = fltr.safety!.findings.find((f) => f.class === "lint" && f.line === 14);
    expect(index).toMatchObject({ rule: "squawk/require-concurrent-index-creation", file, line: 14 });
    expect(fs.readFileSync(path.join(p.dir, file), "utf8").split("\n")[13]).toMatch(/^CREATE INDEX documents_created_at_idx /);
    expect(r.md).toContain(`\`${file}:14:${index!.column}\` **squawk/require-concurrent-index-creation** (lint)`);
    // Data at risk: the fixture only adds tables and an index, so nothing the database holds is at risk.
    const rows = await query<{ n: string }>(conn(FLTR), "SELECT count(*) AS n FROM datasets");
    expect(fltr.safety!.findings.filter((f) => f.class !== "lint")).toEqual([]);
    expect(fltr.safety!.verdict).toBe("warn");
    expect(r.md).toContain("**Data at risk:** none found (dev policy: warn).");
    // The rehearsal (on in dev) ran 0005 on a copy: ok, no rows written, and the schema change the diagram also shows.
    const rh = fltr.rehearsal!;
    expect("steps" in rh).toBe(true);
    if (!("steps" in rh)) return;
    expect(rh).toMatchObject({ database: FLTR, cloneDropped: true });
    expect(rh.steps.map((s) => [s.name, s.file, s.status, s.rowsAffected])).toEqual([["0005_add_tags", file, "ok", 0]]);
    const added = fltr.diagram!.tables.filter((t) => t.status === "added").map((t) => t.id).sort();
    expect(rh.steps[0]!.schemaChange.filter((c) => c.startsWith("+ table ")).map((c) => /^\+ table (\S+)/.exec(c)![1]).sort()).toEqual(added);
    if (rh.method === "build-copy") expect(rh.copied?.find((c) => /(^|\.)datasets$/.test(c.table))?.rows).toBe(Math.min(Number(rows[0]?.n), rh.rowLimit ?? Infinity));
    expect(r.md).toContain(`| 0005_add_tags | ✅ ok | ${Math.round(rh.steps[0]!.durationMs)} ms | 0 | `);
    // The copy is gone, and the live database did not get the PR's tables.
    expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname LIKE 'pgstack\\_rehearsal\\_%'")).toEqual([]);
    expect(await query(conn(FLTR), "SELECT to_regclass('public.tags') AS t")).toEqual([{ t: null }]);
    // fltr_auth is rebuilt by its reset: the analysis counts on empty tables and there is no copy to rehearse on.
    const auth = r.report.databases.find((d) => d.database === AUTH)!;
    expect(auth.safety?.target).toBe("empty");
    expect(auth.safety?.refusals).toEqual([]);
    expect(auth.rehearsal).toEqual({ skipped: "not run: the reset empties the database first, so every migration runs on empty schemas (the schema after the PR below is that run)" });
    expect(r.md).not.toContain("not available");
  });

  it("4. the pending reset: generation from the database, the guard's verdict, exact rows per table", async () => {
    const auth = r.report.databases.find((d) => d.database === AUTH)!;
    const recorded = await query<{ value: string }>(conn(AUTH), "SELECT value FROM pgstack.meta WHERE key = 'reset_generation'");
    expect(auth.reset?.fromGeneration).toBe(Number(recorded[0]?.value));
    expect(auth.reset?.toGeneration).toBe(2);
    expect(auth.reset?.guard).toBe("allowed");
    for (const t of auth.reset!.tables) {
      const [schema, table] = t.table.split(".");
      const [{ n }] = await query<{ n: string }>(conn(AUTH), `SELECT count(*) AS n FROM "${schema}"."${table}"`) as [{ n: string }];
      expect(t.rows, t.table).toBe(Number(n));
    }
    expect(auth.reset!.tables.map((t) => t.table).sort()).toEqual(
      (await query<{ t: string }>(conn(AUTH), "SELECT 'public.' || tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((x) => x.t),
    );
    // The rebuild runs every migration again.
    expect(auth.pending.map((m) => m.name)).toEqual(fs.readdirSync(path.join(p.dir, "migrations", "fltr_auth")).sort().map((f) => f.replace(/\.sql$/, "")));
    expect(r.md).toContain("| public.users | 3 |");
  });

  it("5. drift and the roles and grants changes match the preview's steps", () => {
    const fltr = r.report.databases.find((d) => d.database === FLTR)!;
    // Drift is the live database against what the migrations declare, as `pulumi refresh` reports it.
    expect(fltr.drift).toEqual(["+ table public.scratch_notes (not in migrations)"]);
    expect(r.report.databases.find((d) => d.database === AUTH)!.drift).toEqual([]);
    const accessTypes = /^postgresql:index\/(role:Role|grant:Grant|defaultPrivileges:DefaultPrivileges|grantRole:GrantRole|schema:Schema)$/;
    const fromPreview = previewSteps
      .filter((s) => s.op !== "same" && accessTypes.test(s.newState?.type ?? s.oldState?.type ?? ""))
      .map((s) => `${s.op} ${s.urn.split("::").at(-1)}`)
      .sort();
    expect(fromPreview.length).toBeGreaterThanOrEqual(3);
    const reported = r.report.databases.flatMap((d) => d.access.map((c) => `${c.op} ${c.resource}`)).sort();
    expect(reported).toEqual(fromPreview);
    const role = fltr.access.find((c) => c.kind === "Role");
    expect(role).toMatchObject({ op: "create", resource: `${FLTR}-role-fltr_reader${S}`, summary: `role fltr_reader${S}` });
    expect(fltr.access.find((c) => c.resource === `${FLTR}-grant-fltr_reader${S}-public-tables`)?.summary).toBe(`SELECT on every table in schema public to fltr_reader${S}`);
    expect(r.report.changeSummary).toEqual(previewSummary);
    expect(previewSummary["create"]).toBeGreaterThanOrEqual(3);
  });

  it("6. the ER diagram is the schema after the PR: new tables added, documents changed, the hand-made table removed", async () => {
    const fltr = r.report.databases.find((d) => d.database === FLTR)!;
    const live = (await query<{ t: string }>(conn(FLTR), "SELECT 'public.' || tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).map((x) => x.t);
    const after = [...live.filter((t) => t !== "public.scratch_notes"), "public.document_tags", "public.tags"].sort();
    expect(fltr.diagram!.tables.map((t) => t.id).sort()).toEqual(after);
    const status = Object.fromEntries(fltr.diagram!.tables.map((t) => [t.id, t.status]));
    expect(status).toMatchObject({ "public.tags": "added", "public.document_tags": "added", "public.documents": "changed", "public.datasets": "unchanged" });
    expect(fltr.diagram!.removed).toEqual(["public.scratch_notes"]);
    expect(fltr.diagram!.relations).toContainEqual({ from: "public.document_tags", to: "public.tags", columns: ["tag_id"], required: true });
    // Key columns as the catalog has them, in both databases (fltr_auth is rebuilt by its reset).
    const keyColumns = async (db: string, t: string) =>
      (await query<{ name: string; type: string }>(conn(db), `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) WHERE i.indisprimary AND i.indrelid = $1::regclass ORDER BY a.attnum`, [t])).map((c) => ({ ...c, key: ["PK"] }));
    expect(fltr.diagram!.tables.find((t) => t.id === "public.datasets")!.columns).toEqual(await keyColumns(FLTR, "public.datasets"));
    const auth = r.report.databases.find((d) => d.database === AUTH)!;
    expect(auth.diagram!.tables.find((t) => t.id === "public.users")!.columns).toEqual(await keyColumns(AUTH, "public.users"));
    expect(auth.diagram!.tables.find((t) => t.id === "public.user_credits")!.columns).toEqual([{ name: "user_id", type: "text", key: ["PK", "FK"] }]);
    expect(r.md).toContain('tags["tags (added)"]');
    expect(r.md).toContain("```mermaid\nerDiagram");
    // The throwaway databases of the shadow build are gone.
    expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname LIKE 'pgstack\\_review\\_%'")).toEqual([]);
  });

  it("7. the Markdown is a valid PR comment: under GitHub's cap, no HTML but details and summary", () => {
    expect(r.md.length).toBeLessThanOrEqual(65_536);
    expect(r.md.match(/<\/?[a-zA-Z][^>]*>/g)?.filter((t) => !/^<\/?(details|summary)>$/.test(t)) ?? []).toEqual([]);
    expect((r.md.match(/<details>/g) ?? []).length).toBe((r.md.match(/<\/details>/g) ?? []).length);
    const fltr = r.report.databases.find((d) => d.database === FLTR)!;
    expect(fltr.diagram!.tables).toHaveLength(5);
    expect(r.html).toContain('<pre class="mermaid" data-tables="5">');
    expect(r.html).not.toMatch(/<script src="http/);
  });

  it("8. a reset the stack does not allow: the preview fails, the report says refused, exit code 2", () => {
    const dbs = renamedDatabases("dev", S) as unknown as Db[];
    dbs[1]!.reset = { generation: 2, allowed: false };
    setDatabases(p, "dev", dbs);
    const refused = runReview("refused");
    expect(refused.status).toBe(2);
    expect(refused.report.verdict.level).toBe("refuse");
    expect(refused.md.split("\n")[0]).toBe("## ⛔ refused by policy — pgstack review of stack `dev`");
    const auth = refused.report.databases.find((d) => d.database === AUTH)!;
    expect(auth.reset?.guard).toBe("refused");
    expect(auth.reset?.reason).toContain(`does not allow resetting database "${AUTH}"`);
    expect(refused.report.previewError).toContain(`does not allow resetting database "${AUTH}"`);
  });
});
