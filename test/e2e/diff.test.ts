/**
 * `npm run diff -- <stackA> <stackB>` on a copy of the project: two stacks (their config in
 * Pulumi.<stack>.yaml, the admin password a secret in the local backend) whose databases were
 * built by the same migrations, compared before and after a column (then a view, a function and
 * an enum) is added by hand to one.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, loadMigrations, loadSqlParser } from "../../infra/lifecycle/index.js";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { copyProjectForCli, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { connect } from "../../infra/lifecycle/connection.js";

const admin = adminConnection();
const tag = randomBytes(4).toString("hex");
const owner = `diff_owner_${tag}`;
const dbs = { stage_a: `diff_a_${tag}`, stage_b: `diff_b_${tag}` };
let p: CliProject;
/** Each side's migration state, as the state model reads it: every file applied, nothing pending. */
const state = "4 applied (head 0004_index_jobs_by_status), 0 pending";

/** Runs the script as `npm run diff` does (tsx), from the project copy. */
function diff(...args: string[]) {
  const r = spawnSync(path.join(p.dir, "node_modules", ".bin", "tsx"), ["scripts/diff.ts", ...args], { cwd: p.dir, encoding: "utf8", env: { ...process.env, PULUMI_HOME: p.env["PULUMI_HOME"] } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  await loadSqlParser();
  p = copyProjectForCli("pgstack-diff-");
  await query(admin, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER`);
  const migrations = await loadMigrations(path.join(p.dir, "migrations", "fltr"));
  for (const [stack, db] of Object.entries(dbs)) {
    await query(admin, `CREATE DATABASE ${db} OWNER ${owner}`);
    const client = await connect({ ...admin, database: db });
    try {
      await client.query(`ALTER SCHEMA public OWNER TO ${owner}`);
      expect((await applyMigrations(client, migrations, { database: db, role: owner })).error).toBeUndefined();
    } finally {
      await client.end();
    }
    p.ok(["stack", "init", stack]);
    setStackConfig(p, stack, { server: testServerConfig(), databases: [{ name: db, owner, roles: [{ name: owner }], migrations: "migrations/fltr" }] });
    setSecret(p, stack, "pgstack:adminPassword", admin.password ?? "");
  }
});

afterAll(() => {
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

describe("npm run diff", () => {
  it("exits 0 and says so when both stacks' declared and live schemas are equal", () => {
    const r = diff("stage_a", "stage_b");
    expect(r.stderr).not.toContain("error:");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(
      `database ${dbs.stage_a} (stage_a: ${dbs.stage_a}, stage_b: ${dbs.stage_b}; migrations/fltr)\n` +
        "  declared schemas: equal\n" +
        `  migrations: stage_a ${state}; stage_b ${state}\n` +
        "  live schemas: equal\n" +
        'stacks "stage_a" and "stage_b" are equal\n',
    );
  });

  it("exits 1 and prints the one column that differs", async () => {
    await query({ ...admin, database: dbs.stage_b }, "ALTER TABLE datasets ADD COLUMN archived_at timestamptz");
    const r = diff("stage_a", "stage_b", "--db", dbs.stage_b);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(`  declared schemas: equal\n  migrations: stage_a ${state}; stage_b ${state}\n  live schemas: 1 difference(s)\n    ~ public.datasets: + column archived_at timestamp with time zone (only in stage_b)\n`);
    expect(r.stdout).toMatch(/stacks "stage_a" and "stage_b" differ\n$/);
    // The reverse direction names the other side.
    expect(diff("stage_b", "stage_a").stdout).toContain("~ public.datasets: - column archived_at timestamp with time zone (only in stage_b)");
    // The secret never shows.
    expect(`${r.stdout}${r.stderr}`).not.toContain(admin.password);
  });

  it("names a view, a function and an enum that only one stack has, one line each", async () => {
    await query(
      { ...admin, database: dbs.stage_b },
      `SET ROLE ${owner};
       CREATE TYPE job_state AS ENUM ('queued', 'done');
       CREATE VIEW recent_datasets AS SELECT id FROM datasets ORDER BY id DESC LIMIT 10;
       CREATE FUNCTION dataset_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM datasets $$;
       RESET ROLE`,
    );
    const r = diff("stage_a", "stage_b", "--db", dbs.stage_b);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain(
      "  live schemas: 4 difference(s)\n" +
        "    + enum public.job_state (only in stage_b)\n" +
        "    ~ public.datasets: + column archived_at timestamp with time zone (only in stage_b)\n" +
        "    + view public.recent_datasets (only in stage_b)\n" +
        "    + function public.dataset_count() (only in stage_b)\n",
    );
  });

  it("exits 2 on usage errors, saying what is wrong", () => {
    const one = diff("stage_a");
    expect(one.status).toBe(2);
    expect(one.stderr).toContain("error: expected two stacks, got 1\nusage: npm run diff -- <stackA> <stackB> [--db <database>]");
    const unknown = diff("stage_a", "nope");
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('error: no stack "nope": Pulumi.nope.yaml does not exist');
    const db = diff("stage_a", "stage_b", "--db", "missing");
    expect(db.status).toBe(2);
    expect(db.stderr).toContain(`error: --db missing: neither stack "stage_a" nor "stage_b" has a database of that name (they have: ${dbs.stage_a}, ${dbs.stage_b})`);
  });
});
