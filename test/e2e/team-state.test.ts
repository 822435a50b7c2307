/**
 * Team state: Pulumi's PostgreSQL backend (`PULUMI_BACKEND_URL=postgres://…`) in a database of the
 * harness server, and two checkouts of one stack, as two people (or a person and CI) have them.
 * Concurrent `pulumi up`s of the same new migration: one applies it, the other is refused by the
 * stack's lock (or, arriving later, finds nothing to do), and the migration runs once, as the
 * history table says. Then a refresh and a no-op preview from the second checkout, and the PR
 * workflow's review step, run as written in .github/workflows/pgstack-preview.yml, against that state.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProjectForCli, E2E_PASSPHRASE, resourceSummary, setSecret, setStackConfig, toolchainBin, type CliProject, type CliResult } from "../support/cli.js";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const STATE_DB = "pgstack_team_state";
const STACK = "team";
const S = "_tm";
const FLTR = `fltr${S}`;
const NEW_MIGRATION = "0005_add_tags.sql";
const backendUrl = `postgres://${encodeURIComponent(admin.user)}:${encodeURIComponent(admin.password ?? "")}@${admin.host}:${admin.port}/${STATE_DB}?sslmode=disable`;
const LOCKED = /the stack is currently locked by \d+ lock\(s\)/;

let alice: CliProject;
let bob: CliProject;

/** What `git pull` brings: the committed stack file (with the team's salt and secrets) and the migrations. */
function pull(from: CliProject, to: CliProject): void {
  fs.copyFileSync(path.join(from.dir, `Pulumi.${STACK}.yaml`), path.join(to.dir, `Pulumi.${STACK}.yaml`));
  fs.cpSync(path.join(from.dir, "migrations"), path.join(to.dir, "migrations"), { recursive: true });
}

/** Each applied migration of fltr_tm and how many history rows it has. */
async function history(): Promise<{ id: string; name: string; n: number }[]> {
  return query<{ id: string; name: string; n: number }>(
    { ...admin, database: FLTR },
    "SELECT id::text AS id, min(name) AS name, count(*)::int AS n FROM pgstack.migrations GROUP BY id ORDER BY id",
  );
}

beforeAll(async () => {
  await query(admin, `DROP DATABASE IF EXISTS ${STATE_DB}`);
  await query(admin, `CREATE DATABASE ${STATE_DB}`);
  alice = copyProjectForCli("pgstack-team-alice-", { backendUrl });
  bob = copyProjectForCli("pgstack-team-bob-", { backendUrl });
  alice.ok(["stack", "init", STACK]);
  setStackConfig(alice, STACK, { server: testServerConfig(), databases: renamedDatabases("dev", S) });
  setSecret(alice, STACK, "pgstack:adminPassword", admin.password ?? "");
  pull(alice, bob);
});

afterAll(async () => {
  alice?.run(["destroy", "--stack", STACK, "--yes"]);
  for (const p of [alice, bob]) if (p) fs.rmSync(p.dir, { recursive: true, force: true });
  // The CLI's backend sessions may still be closing (FORCE cannot end another role's session
  // for a non-superuser admin): retry for up to 15 s before giving up.
  for (let attempt = 1; ; attempt++) {
    try {
      await query(admin, `DROP DATABASE IF EXISTS ${STATE_DB} WITH (FORCE)`);
      break;
    } catch (err) {
      if (attempt >= 30) throw err;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
});

describe("one stack, its state in PostgreSQL, two checkouts", () => {
  it("1. the state lives in the PostgreSQL backend, not in either checkout", async () => {
    const up = alice.ok(["up", "--stack", STACK, "--yes"]);
    expect(resourceSummary(up.stdout).created).toBeGreaterThan(30);
    const rows = await query<{ n: number }>({ ...admin, database: STATE_DB }, "SELECT count(*)::int AS n FROM pulumi_state WHERE key LIKE '%stacks/pgstack/team%'");
    expect(rows[0]?.n).toBeGreaterThan(0);
    for (const p of [alice, bob]) expect(fs.readdirSync(path.join(p.dir, ".pgstack", "state"))).toEqual([]);
    // Bob sees the stack and its outputs without ever running it.
    expect(JSON.parse(bob.ok(["stack", "ls", "--json"]).stdout).map((s: { name: string }) => s.name)).toContain(STACK);
    expect(Object.keys(JSON.parse(bob.ok(["stack", "output", "--stack", STACK, "--json"]).stdout)).sort()).toEqual([`fltr_auth${S}`, FLTR]);
    expect((await history()).map((h) => h.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status"]);
  });

  it("2. concurrent ups of one new migration: one applies it, the other is refused by the lock; it runs once", async () => {
    for (const p of [alice, bob]) fs.copyFileSync(path.join("test", "fixtures", "review", NEW_MIGRATION), path.join(p.dir, "migrations", "fltr", NEW_MIGRATION));
    let results: CliResult[] = [];
    // The lock is written, then checked: two runs starting in the same instant may both see the
    // other's lock and both stop. Each such round changes nothing; race again.
    for (let round = 0; round < 3; round++) {
      results = await Promise.all([alice, bob].map((p) => p.runAsync(["up", "--stack", STACK, "--yes"])));
      for (const r of results) if (r.status !== 0) expect(r.output).toMatch(LOCKED);
      if (results.some((r) => r.status === 0)) break;
      expect((await history()).map((h) => h.name)).not.toContain("0005_add_tags");
    }
    const applied = results.filter((r) => r.status === 0);
    process.stderr.write(`[team-state] concurrent ups: ${results.map((r, i) => `${["alice", "bob"][i]} ${r.status === 0 ? `ok ${JSON.stringify(resourceSummary(r.stdout))}` : "refused by the lock"}`).join("; ")}\n`);
    expect(applied.length).toBeGreaterThanOrEqual(1);
    // A run that won the lock after the other finished found the migration applied: nothing to do.
    const withChanges = applied.filter((r) => (resourceSummary(r.stdout).updated ?? 0) > 0);
    expect(withChanges).toHaveLength(1);
    const h = await history();
    expect(h.map((x) => x.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status", "0005_add_tags"]);
    expect(h.every((x) => x.n === 1)).toBe(true);
    // The lock message names the lock's place, never the backend's password.
    for (const r of results) expect(r.output).not.toContain(admin.password ?? "");
  });

  it("3. the checkout that was refused runs up again and finds nothing to do", async () => {
    const up = bob.ok(["up", "--stack", STACK, "--yes"]);
    expect(Object.keys(resourceSummary(up.stdout))).toEqual(["unchanged"]);
    expect((await history()).every((x) => x.n === 1)).toBe(true);
  });

  it("4. refresh and a no-op preview from the second checkout", () => {
    const refresh = bob.ok(["refresh", "--stack", STACK, "--yes"]);
    expect(Object.keys(resourceSummary(refresh.stdout))).toEqual(["unchanged"]);
    const preview = bob.ok(["preview", "--stack", STACK, "--expect-no-changes"]);
    expect(Object.keys(resourceSummary(preview.stdout))).toEqual(["unchanged"]);
  });

  it("5. the PR workflow's review step, as written, reviews a PR against the PostgreSQL-backed state", () => {
    const workflow = yaml.load(fs.readFileSync(path.join(".github", "workflows", "pgstack-preview.yml"), "utf8")) as {
      env: Record<string, string>;
      jobs: Record<string, { steps: { id?: string; env?: Record<string, string>; run?: string }[] }>;
    };
    const step = workflow.jobs["review"]?.steps.find((s) => s.id === "review");
    expect(step?.run).toBeDefined();
    // The repository's variables and secrets, as GitHub substitutes them; the backend is one variable.
    const context: Record<string, string> = {
      "vars.PULUMI_BACKEND_URL": backendUrl,
      "secrets.PULUMI_CONFIG_PASSPHRASE": E2E_PASSPHRASE,
      "matrix.stack": STACK,
    };
    const substitute = (v: string) => v.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, key: string) => context[key] ?? "");
    expect(Object.entries(workflow.env).filter(([, v]) => v.includes("vars."))).toEqual([["PULUMI_BACKEND_URL", "${{ vars.PULUMI_BACKEND_URL }}"]]);
    const env = Object.fromEntries(Object.entries({ ...workflow.env, ...step!.env }).map(([k, v]) => [k, substitute(String(v))]));

    // The PR: a migration in Bob's checkout. The step runs there as on a runner, with the pulumi
    // CLI on PATH (pulumi/actions installs it) and nothing of this machine's own backend.
    fs.writeFileSync(path.join(bob.dir, "migrations", "fltr", "0006_add_dataset_notes.sql"), "ALTER TABLE datasets ADD COLUMN notes text;\n");
    const outputs = path.join(bob.dir, ".pgstack", "github-output");
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PULUMI_") && !k.startsWith("PGSTACK_")));
    const r = spawnSync("bash", ["-e", "-c", step!.run!], {
      cwd: bob.dir,
      env: {
        ...base,
        ...env,
        PATH: `${toolchainBin()}${path.delimiter}${process.env["PATH"] ?? ""}`,
        PULUMI_HOME: bob.env["PULUMI_HOME"],
        GITHUB_OUTPUT: outputs,
        GITHUB_SERVER_URL: "https://github.com",
        GITHUB_REPOSITORY: "example/pgstack",
        GITHUB_RUN_ID: "1",
        HOME: os.homedir(),
      },
      encoding: "utf8",
      timeout: 300_000,
    });
    const log = `${r.stdout}${r.stderr}`;
    expect(r.status, log).toBe(0);
    // 1: needs review (a pending migration on a database with no rows to lose is safe or needs review, never refused).
    expect(fs.readFileSync(outputs, "utf8")).toMatch(/^exit=[01]$/m);
    const report = fs.readFileSync(path.join(bob.dir, `review-${STACK}.md`), "utf8");
    expect(report).not.toContain("❌ pgstack review");
    expect(report).toMatch(/^## (✅ safe|⚠️ needs review)/);
    expect(report).toContain("0006_add_dataset_notes");
    expect(report).toContain("ALTER TABLE datasets ADD COLUMN notes text");
    expect(report).not.toContain("0005_add_tags.sql"); // applied by the concurrent ups: not pending
    expect(log).toContain(`the stack's state (postgres://${admin.user}:***@`);
    expect(log).not.toContain(admin.password ?? "");
    // The review read the shared state and changed nothing: the migration is still pending.
    const pending = bob.ok(["preview", "--stack", STACK]).stdout;
    expect(pending).toMatch(/fltr_tm-migrations/);
    expect(resourceSummary(pending).update).toBeGreaterThanOrEqual(1);
  });
});
