/**
 * A pending migration that escalates from the owner to the admin (`RESET ROLE; CREATE ROLE …
 * LOGIN CREATEROLE`), through the plain Pulumi CLI on a dev stack (dev safety policy: previews
 * rehearse on a copy). `pulumi preview` leaves pg_roles, pg_auth_members and pg_database exactly
 * as they were; `pulumi up` runs it confined to the owner, so it fails and nothing of it stays.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { copyProjectForCli, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { serverWide } from "../support/server-wide.js";
import { REHEARSAL_NOT_IN_UPDATE } from "../../infra/providers/safety.js";

const admin = adminConnection();
const DB = "esc_dev";
const conn = { ...admin, database: DB };
const ESCALATE = "RESET ROLE;\nCREATE ROLE sneaky_e2e LOGIN CREATEROLE PASSWORD 'sneaky-pw';\nCREATE TABLE escalated (id int PRIMARY KEY);\n";

let p: CliProject;
const databases = [{ name: DB, owner: "esc_owner", roles: [{ name: "esc_owner" }], migrations: "migrations/esc", reset: { generation: 1, allowed: true } }];

beforeAll(() => {
  p = copyProjectForCli("pgstack-escalation-");
  fs.mkdirSync(path.join(p.dir, "migrations", "esc"), { recursive: true });
  fs.writeFileSync(path.join(p.dir, "migrations", "esc", "0001_items.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);\n");
  p.ok(["stack", "init", "devlike"]);
  setStackConfig(p, "devlike", { server: testServerConfig(), databases });
  fs.appendFileSync(path.join(p.dir, "Pulumi.devlike.yaml"), "  pgstack:safety:\n    profile: dev\n");
  setSecret(p, "devlike", "pgstack:adminPassword", admin.password ?? "");
  p.ok(["up", "--stack", "devlike", "--yes"]);
});

afterAll(() => {
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

const history = async () => (await query<{ name: string }>(conn, "SELECT name FROM pgstack.migrations ORDER BY id")).map((r) => r.name);

describe("a pending migration that escalates to the admin (dev stack)", () => {
  it("preview rehearses it confined and changes nothing server-wide; up cannot act as the admin", async () => {
    fs.writeFileSync(path.join(p.dir, "migrations", "esc", "0002_escalate.sql"), ESCALATE);
    const before = await serverWide(DB);
    const preview = p.run(["preview", "--stack", "devlike"]);
    // The rehearsal ran it on its copy as the owner: RESET ROLE reached no CREATEROLE.
    expect(preview.output).toMatch(/0002_escalate\.sql:2:1: permission denied to create role/);
    expect(await serverWide(DB)).toEqual(before);

    const up = p.run(["up", "--stack", "devlike", "--yes", "--skip-preview"]);
    expect(up.status).not.toBe(0);
    expect(up.output).toMatch(/0002_escalate[\s\S]*permission denied to create role/);
    // The update phase does not rehearse (the program's isDryRun() reaches the check): the error is the real apply's.
    expect(up.output).toContain(`rehearsal: ${REHEARSAL_NOT_IN_UPDATE}`);
    expect(up.output).not.toContain("rehearsal of 1 pending migration(s)");
    expect(await serverWide(DB)).toEqual(before);
    expect(await query(conn, "SELECT to_regclass('public.escalated') AS t")).toEqual([{ t: null }]);
    expect(await history()).toEqual(["0001_items"]);
  });
});
