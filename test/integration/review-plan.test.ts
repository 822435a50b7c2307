/**
 * The review's own plan against the real Postgres (no Pulumi): pending migrations from the
 * history, the schema after the PR from a throwaway build that is always dropped, the reset's
 * guard and row counts, drift against a verified state.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { parseStackConfig, safetyPolicyOf, type DatabaseConfig } from "../../infra/config.js";
import type { SafetyPolicy } from "../../infra/lifecycle/safety/index.js";
import { writeMeta } from "../../infra/lifecycle/history.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { loadMigrations, type Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { inventoryOf } from "../../infra/lifecycle/inventory.js";
import { planDatabase, type PlanInput } from "../../infra/review/plan.js";
import { computeVerdict } from "../../infra/review/verdict.js";
import { adminConnection, closeClients, letAdminGrant, query, superuserConnection } from "../support/db.js";
import { fltrDatabase, type FltrDatabase } from "../support/fixtures.js";

afterEach(closeClients);

const dirs: string[] = [];
beforeAll(loadSqlParser);
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** fltr's migrations plus the fixture PR's `0005_add_tags.sql` (and any `extra` files). */
async function prMigrations(extra: Record<string, string> = {}): Promise<Migration[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-review-"));
  dirs.push(dir);
  for (const f of fs.readdirSync("migrations/fltr")) fs.copyFileSync(path.join("migrations/fltr", f), path.join(dir, f));
  fs.copyFileSync("test/fixtures/review/0005_add_tags.sql", path.join(dir, "0005_add_tags.sql"));
  for (const [f, sql] of Object.entries(extra)) fs.writeFileSync(path.join(dir, f), sql);
  return loadMigrations(dir);
}

type Reset = { generation: number; allowed: boolean; acceptDataLoss?: number };

/** The database's config and its safety policy as the stack gives them (`allowed` resets: the dev profile, else prod). */
function stackOf(f: FltrDatabase, reset: Reset): { db: DatabaseConfig; policy: SafetyPolicy } {
  const parsed = parseStackConfig(
    { server: { host: "127.0.0.1" }, databases: [{ name: f.db.database, owner: f.owner, roles: [{ name: f.owner }, { name: f.app }], schemas: ["public"], reset }] },
    "test",
  );
  return { db: parsed.databases[0]!, policy: safetyPolicyOf(parsed, parsed.databases[0]!) };
}

function config(f: FltrDatabase, reset: Reset): DatabaseConfig {
  return stackOf(f, reset).db;
}

async function plan(f: FltrDatabase, extra: Partial<PlanInput> & { reset?: Reset } = {}) {
  return planDatabase({ stack: "test", index: 0, ...stackOf(f, extra.reset ?? { generation: 1, allowed: true }), admin: adminConnection(), migrations: await prMigrations(), ...extra });
}

async function rehearsalLeftovers(): Promise<string[]> {
  return (await query<{ datname: string }>({ ...adminConnection(), database: "postgres" }, "SELECT datname FROM pg_database WHERE datname LIKE 'pgstack\\_rehearsal\\_%'")).map((r) => r.datname);
}

async function leftovers(): Promise<string[]> {
  return (await query<{ datname: string }>({ ...adminConnection(), database: "postgres" }, "SELECT datname FROM pg_database WHERE datname LIKE 'pgstack\\_review\\_%'")).map((r) => r.datname);
}

describe("the review's plan", () => {
  it("pending migrations are the files after the history, analysed and rehearsed under the dev policy; the diagram is the schema after them", async () => {
    const f = await fltrDatabase("rv");
    await writeMeta(f.cl, "reset_generation", "1");
    const p = await plan(f);
    const applied = await query<{ name: string }>(f.db, "SELECT name FROM pgstack.migrations ORDER BY id");
    expect(p.exists).toBe(true);
    expect(p.applied).toBe(applied.length);
    expect(p.pending.map((m) => m.name)).toEqual(["0005_add_tags"]);
    expect(p.pending[0]?.sql).toBe(fs.readFileSync("test/fixtures/review/0005_add_tags.sql", "utf8"));
    expect(p.reset).toBeUndefined();
    expect(p.historyProblems).toEqual([]);
    expect(p.drift).toBeUndefined();
    // The data-safety analysis on the live database: squawk's lint of line 14, nothing at risk.
    expect(p.safety).toMatchObject({ database: f.db.database, profile: "dev", target: "live", verdict: "warn", refusals: [], pending: [{ name: "0005_add_tags" }] });
    expect(p.safety!.findings.filter((x) => x.class !== "lint")).toEqual([]);
    expect(p.safety!.findings.find((x) => x.line === 14)).toMatchObject({ rule: "squawk/require-concurrent-index-creation", class: "lint" });
    expect(p.safety).not.toHaveProperty("rehearsal");
    expect(p.safetySkipped).toBeUndefined();
    // The rehearsal (on in dev) ran 0005 on a copy, as the owner.
    const r = p.rehearsal!;
    expect("steps" in r && r.steps.map((s) => [s.name, s.status, s.rowsAffected])).toEqual([["0005_add_tags", "ok", 0]]);
    if (!("steps" in r)) return;
    expect(r.cloneDropped).toBe(true);
    expect(r.steps[0]!.schemaChange.filter((c) => c.startsWith("+ table ")).map((c) => c.split(" ")[2]).sort()).toEqual(["public.document_tags", "public.tags"]);
    expect(computeVerdict([{ ...p, access: [] }]).level).toBe("warn");
    expect(await rehearsalLeftovers()).toEqual([]);
    const status = Object.fromEntries(p.diagram!.tables.map((t) => [t.id, t.status]));
    expect(status).toEqual({
      "public.datasets": "unchanged",
      "public.document_tags": "added",
      "public.documents": "changed",
      "public.processing_jobs": "unchanged",
      "public.tags": "added",
    });
    // The live database is untouched: the PR's tables exist only in the (dropped) throwaway copy.
    expect(await query(f.db, "SELECT to_regclass('public.tags') AS t")).toEqual([{ t: null }]);
    expect(await leftovers()).toEqual([]);
  });

  it("a database being adopted (tables, no pgstack history): what adoption records is neither pending nor judged, one line says so", async () => {
    const f = await fltrDatabase("rv");
    // The tables without pgstack's history: as another tool (or a person) left them.
    await f.cl.query("DROP SCHEMA pgstack CASCADE");
    const files = await prMigrations();
    const p = await plan(f, { reset: { generation: 1, allowed: false } });
    expect(p.adoption).toEqual({
      text: `${files.length - 1} migration(s) will be adopted (recorded as applied without running): ${files[0]!.name}..${files.at(-2)!.name} (the live schema equals that version)`,
      status: "adopts",
    });
    expect(p.pending.map((m) => m.name)).toEqual(["0005_add_tags"]);
    expect(p.safety).toMatchObject({ profile: "prod", refusals: [], pending: [{ name: "0005_add_tags" }] });
    expect(computeVerdict([{ ...p, access: [] }]).level).not.toBe("refuse");
    // The review only read: still no history.
    expect(await query(f.db, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);
  });

  it("an adoption before the first up (the admin not yet a member of the owner role): one line says what it cannot read and why, the report is still made", async () => {
    const f = await fltrDatabase("rvnm");
    await f.cl.query(`DROP SCHEMA pgstack CASCADE; CREATE SCHEMA billing AUTHORIZATION ${f.owner}; SET ROLE ${f.owner}; CREATE TABLE billing.invoices (id int PRIMARY KEY); RESET ROLE`);
    const admin = adminConnection();
    await query(superuserConnection(), `REVOKE ${f.owner} FROM ${admin.user} CASCADE`);
    // On 16+ the admin keeps what lets up grant it the owner (ADMIN OPTION alone, no privileges).
    await letAdminGrant(f.owner);
    const parsed = parseStackConfig({ server: { host: "127.0.0.1" }, databases: [{ name: f.db.database, owner: f.owner, adopt: true, roles: [{ name: f.owner, adopt: true }], schemas: ["public", "billing"], reset: { generation: 1, allowed: false } }] }, "test");
    const p = await planDatabase({ stack: "test", index: 0, db: parsed.databases[0]!, policy: safetyPolicyOf(parsed, parsed.databases[0]!), admin, migrations: await prMigrations() });
    expect(p.adoption?.status).toBe("deferred");
    expect(p.adoption?.text).toMatch(new RegExp(`^database "${f.db.database}": .*permission denied for schema billing.*the admin "${admin.user}" is not yet a member of the owner role "${f.owner}" \\(the first \`pulumi up\` makes it one\\)`));
    expect(p.adoption?.text.split("\n")).toHaveLength(1);
    expect(p.pending).toEqual([]);
    // The rest of the report: the schema after the PR is still built.
    expect(p.schemaError).toBeUndefined();
    expect(p.diagram).toBeDefined();
    expect(computeVerdict([{ ...p, access: [] }]).reasons).toContainEqual(expect.stringContaining("cannot read it yet"));
  });

  it("a pending reset: the guard's verdict and the exact rows per table, as up would judge them", async () => {
    const f = await fltrDatabase("rv");
    await writeMeta(f.cl, "reset_generation", "1");
    await query(f.db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u'), ('b', 'u')");
    const accepted = await plan(f, { reset: { generation: 2, allowed: true, acceptDataLoss: 2 } });
    expect(accepted.reset).toMatchObject({ fromGeneration: 1, toGeneration: 2, guard: "allowed", acceptDataLoss: true });
    expect(accepted.reset?.tables).toEqual([
      { table: "public.datasets", rows: 2 },
      { table: "public.documents", rows: 0 },
      { table: "public.processing_jobs", rows: 0 },
    ]);
    // A rebuild runs every migration again.
    expect(accepted.pending.map((m) => m.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status", "0005_add_tags"]);
    expect(computeVerdict([{ ...accepted, access: [] }]).reasons).toContain(`${f.db.database}: the reset drops 2 row(s) in 1 table(s)`);
    // The reset empties the database first: the analysis counts on empty tables, and there is nothing to copy.
    expect(accepted.safety?.target).toBe("empty");
    expect(accepted.safety?.pending).toHaveLength(5);
    expect(accepted.safety?.refusals).toEqual([]);
    expect(accepted.rehearsal).toEqual({ skipped: "not run: the reset empties the database first, so every migration runs on empty schemas (the schema after the PR below is that run)" });

    const notAccepted = await plan(f, { reset: { generation: 2, allowed: true } });
    expect(notAccepted.reset?.guard).toBe("refused");
    expect(notAccepted.reset?.reason).toContain("public.datasets holds 2 row(s)");
    expect(notAccepted.reset?.reason).toContain("set pgstack:databases[0].reset.acceptDataLoss: 2");
    const notAllowed = await plan(f, { reset: { generation: 2, allowed: false } });
    expect(notAllowed.reset?.guard).toBe("refused");
    expect(notAllowed.reset?.reason).toContain(`stack "test" does not allow resetting database "${f.db.database}" (generation 1 → 2)`);
    expect(computeVerdict([{ ...notAllowed, access: [] }]).level).toBe("refuse");
    expect(await query(f.db, "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 2 }]);
  });

  it("drift of a state from before the declared schema: the structure against the verified fingerprint, as refresh reports it", async () => {
    const f = await fltrDatabase("rv");
    const verified = await introspect(f.cl, { schemas: ["public"] });
    const state = { inventory: inventoryOf(verified), verifiedFingerprint: verified.fingerprint };
    expect((await plan(f, { verified: state })).drift).toEqual([]);
    await query(f.db, `SET ROLE ${f.owner}; ALTER TABLE datasets ADD COLUMN note text; RESET ROLE`);
    expect((await plan(f, { verified: state })).drift).toEqual([
      "the structure changed since the last up (this state predates the comparison with the migrations: run `pulumi up` to measure it)",
    ]);
  });

  it("a migration that fails in the throwaway build: the error is reported, the copy is still dropped", async () => {
    const f = await fltrDatabase("rv");
    const migrations = await prMigrations({ "0006_broken.sql": "CREATE TABLE oops (id int REFERENCES no_such_table (id));\n" });
    const p = await planDatabase({ stack: "test", index: 0, ...stackOf(f, { generation: 1, allowed: true }), admin: adminConnection(), migrations });
    expect(p.diagram).toBeUndefined();
    expect(p.schemaError).toContain("0006_broken");
    expect(p.schemaError).toContain('relation "no_such_table" does not exist');
    expect(await leftovers()).toEqual([]);
  });

  it("a database that does not exist yet: every migration is pending, all tables are added", async () => {
    const f = await fltrDatabase("rv");
    const { db: base, policy } = stackOf(f, { generation: 1, allowed: true });
    const db = { ...base, name: `${f.db.database}_new` };
    const p = await planDatabase({ stack: "test", index: 0, db, policy, admin: adminConnection(), migrations: await prMigrations() });
    expect(p.exists).toBe(false);
    expect(p.pending).toHaveLength(5);
    expect(p.safety).toMatchObject({ target: "empty", profile: "dev", refusals: [] });
    expect(p.safety!.findings.filter((x) => x.rows && x.rows.count > 0)).toEqual([]);
    expect(p.rehearsal).toEqual({ skipped: "not run: the database does not exist yet: `pulumi up` creates it (the schema after the PR below is that run)" });
    expect(p.diagram?.tables.every((t) => t.status === "added")).toBe(true);
    expect(p.diagram?.tables).toHaveLength(5);
  });

  it("the prod policy refuses a pending DROP TABLE of a table with rows: the verdict is refused, with the row count", async () => {
    const f = await fltrDatabase("rv");
    await writeMeta(f.cl, "reset_generation", "1");
    await query(f.db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u')");
    await query(f.db, "INSERT INTO documents (dataset_id, filename, size_bytes, sha256) SELECT id, 'd.pdf', 1, repeat('0', 64) FROM datasets");
    await query(f.db, "INSERT INTO processing_jobs (document_id, kind) SELECT id, k FROM documents, unnest(ARRAY['ocr', 'embed', 'index']) AS k");
    const migrations = await prMigrations({ "0006_drop_jobs.sql": "-- Jobs move to the queue service.\nDROP TABLE processing_jobs;\n" });
    const { db, policy } = stackOf(f, { generation: 1, allowed: false });
    expect(policy.profile).toBe("prod");
    const p = await planDatabase({ stack: "test", index: 0, db, policy, admin: adminConnection(), migrations });
    expect(p.pending.map((m) => m.name)).toEqual(["0005_add_tags", "0006_drop_jobs"]);
    expect(p.safety?.verdict).toBe("refuse");
    expect(p.safety?.refusals).toEqual([
      expect.objectContaining({ class: "data-loss", file: migrations[5]!.file, line: 2, column: 1, table: "processing_jobs", rows: { count: 3, exact: true } }),
    ]);
    // prod does not rehearse unless the stack turns it on.
    expect(p.rehearsal).toEqual({ skipped: "off (pgstack:safety.rehearsal)" });
    const v = computeVerdict([{ ...p, access: [] }]);
    expect(v.level).toBe("refuse");
    const refusal = v.reasons.find((x) => x.includes("0006_drop_jobs.sql:2:1"));
    expect(refusal).toMatch(/^rv\S*: \S*0006_drop_jobs\.sql:2:1 .*\b3 rows\b.* \(prod policy: refuse\)$/);
    // Read-only: the rows are still there.
    expect(await query(f.db, "SELECT count(*)::int AS n FROM processing_jobs")).toEqual([{ n: 3 }]);
  });
});
