/**
 * The admin's roles through the plain Pulumi CLI, as the non-superuser admin of managed Postgres,
 * on the suites' server (PGSTACK_TEST_PG_VERSION=16|18 runs it on PostgreSQL 16+ rules): a stack
 * made by the pgstack before this one (a postgresql.GrantRole for the admin's membership) is
 * upgraded by the next `up` (the membership then has INHERIT and SET, and the next preview is
 * clean: no replacement on every run); a reset while the application and the owner hold sessions
 * ends what the admin may end, names the rest, and completes. Backups are off: the local pg_dump
 * is 15 (test/e2e for backups runs elsewhere).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "../../infra/lifecycle/connection.js";
import { copyProjectForCli, resourceSummary, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, query, serverMajor, superuserConnection, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const APP_PASSWORD = "e2e-roles-app-password";
const made: string[] = [];
afterAll(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** The last commit whose program declared the membership as a postgresql.GrantRole. */
function commitWithGrantRole(): string {
  const removed = execFileSync("git", ["log", "-1", "--format=%H", "-G", "new postgresql\\.GrantRole\\(", "--", "infra/components/database.ts"], { encoding: "utf8" }).trim();
  expect(removed).toMatch(/^[0-9a-f]{40}$/);
  return `${removed}^`;
}

/**
 * Replaces the copy's `infra/` with the one of `ref` (the committed program of that version). Its
 * entry point was `infra/index.ts` (the project's `main` then): the root `index.ts` that Pulumi.yaml
 * names now loads it.
 */
function checkoutInfra(p: CliProject, ref: string): void {
  fs.rmSync(path.join(p.dir, "infra"), { recursive: true, force: true });
  const tar = execFileSync("git", ["archive", ref, "infra"]);
  execFileSync("tar", ["-x", "-C", p.dir], { input: tar });
  fs.writeFileSync(path.join(p.dir, "index.ts"), 'export = require("./infra/index");\n');
}

/** Puts this checkout's program back into the copy: `infra/` and the root entry point. */
function currentProgram(p: CliProject): void {
  fs.cpSync(path.resolve("infra"), path.join(p.dir, "infra"), { recursive: true });
  fs.copyFileSync(path.resolve("index.ts"), path.join(p.dir, "index.ts"));
}

async function membership(owner: string): Promise<Record<string, unknown>[]> {
  const cols = serverMajor() >= 16 ? "bool_or(inherit_option) AS inherit, bool_or(set_option) AS set" : "true AS inherit, true AS set";
  return query(superuserConnection(), `SELECT count(*)::int AS grants, ${cols} FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole AND grantor = $2::regrole`, [owner, admin.user]);
}

describe("the admin's membership and sessions through the Pulumi CLI", () => {
  it("upgrades a GrantRole stack, keeps the membership with INHERIT and SET, and resets while the app and the owner hold sessions", async () => {
    const [db] = renamedDatabases("dev", "_rl") as { name: string; owner: string; backup?: boolean; roles: { name: string; login?: boolean; passwordSecret?: string }[]; reset: { generation: number; acceptDataLoss?: number } }[];
    db!.backup = false;
    db!.roles[1]!.passwordSecret = "rlAppPassword";
    const app = db!.roles[1]!.name;
    const p = copyProjectForCli("pgstack-roles-");
    made.push(p.dir);
    p.ok(["stack", "init", "roles"]);
    setStackConfig(p, "roles", { server: testServerConfig(), databases: [db], safety: { rehearsal: false } });
    setSecret(p, "roles", "pgstack:adminPassword", admin.password ?? "");
    setSecret(p, "roles", "pgstack:rlAppPassword", APP_PASSWORD);

    // The stack as the previous pgstack made it.
    checkoutInfra(p, commitWithGrantRole());
    p.ok(["up", "--stack", "roles", "--yes"]);
    const oldTypes = JSON.parse(p.ok(["stack", "export", "--stack", "roles"]).stdout).deployment.resources.map((r: { type: string }) => r.type) as string[];
    expect(oldTypes).toContain("postgresql:index/grantRole:GrantRole");

    // This pgstack: the GrantRole is replaced by the OwnerMembership (deleted first, so its REVOKE cannot undo the new grant).
    currentProgram(p);
    p.ok(["up", "--stack", "roles", "--yes"]);
    const newTypes = JSON.parse(p.ok(["stack", "export", "--stack", "roles"]).stdout).deployment.resources.map((r: { type: string }) => r.type) as string[];
    expect(newTypes).toContain("pulumi-nodejs:dynamic/pgstack:OwnerMembership");
    expect(newTypes).not.toContain("postgresql:index/grantRole:GrantRole");
    expect(await membership(db!.owner)).toEqual([{ grants: 1, inherit: true, set: true }]);
    // No replacement on every run (what GrantRole did on PostgreSQL 16+).
    expect(resourceSummary(p.ok(["preview", "--stack", "roles", "--expect-no-changes"]).stdout)["unchanged"]).toBeGreaterThan(10);

    // The application and the owner hold sessions; a reset with accepted data loss runs.
    const target = { ...admin, database: db!.name };
    const appSession = await connect({ ...target, user: app, password: APP_PASSWORD, applicationName: "the app" });
    await query(superuserConnection(), `ALTER ROLE ${db!.owner} LOGIN PASSWORD 'owner-pw'`);
    const ownerSession = await connect({ ...target, user: db!.owner, password: "owner-pw", applicationName: "a worker" });
    try {
      const appPid = (await appSession.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      db!.reset = { ...db!.reset, generation: 2, acceptDataLoss: 2 };
      setStackConfig(p, "roles", { databases: [db] });
      const preview = p.ok(["preview", "--stack", "roles"]);
      expect(preview.output).toMatch(new RegExp(`${db!.name}: the reset will end \\d+ other session\\(s\\); it cannot end the sessions of ${app} \\(pid ${appPid}\\): the admin "${admin.user}" has neither the privileges of their role`));
      const up = p.ok(["up", "--stack", "roles", "--yes"]);
      expect(up.output).toMatch(new RegExp(`${db!.name}: terminated \\d+ other connection\\(s\\)`));
      expect(up.output).toContain(`cannot end the sessions of ${app} (pid ${appPid})`);
      expect(up.output).not.toContain("permission denied to terminate process");
      expect(await query(target, "SELECT value FROM pgstack.meta WHERE key = 'reset_generation'")).toEqual([{ value: "2" }]);
      await expect(ownerSession.query("SELECT 1")).rejects.toThrow();
      expect((await appSession.query("SELECT count(*)::int AS n FROM datasets")).rows).toEqual([{ n: 0 }]);
    } finally {
      await appSession.end().catch(() => undefined);
      await ownerSession.end().catch(() => undefined);
    }
    expect(resourceSummary(p.ok(["preview", "--stack", "roles", "--expect-no-changes"]).stdout)["unchanged"]).toBeGreaterThan(10);
    p.ok(["destroy", "--stack", "roles", "--yes"]);
    expect(await query(superuserConnection(), "SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1", [db!.owner])).toEqual([{ n: 0 }]);
  });
});
