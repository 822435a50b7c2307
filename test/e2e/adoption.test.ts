/**
 * Adoption through the plain Pulumi CLI, as the README's walk-through does it: a database that
 * golang-migrate's folder built (0001..0003 run as the owner, its `schema_migrations` saying 3,
 * rows written), an owner with CREATEROLE, an application login role with its own password, and
 * an admin that is not a member of the owner yet. The folder is imported with `npm run import`;
 * the first preview succeeds and says in one line what it cannot read yet; the first `up` adopts
 * (0001..0003 baselined, only 0004 runs); the owner keeps CREATEROLE and the application keeps
 * its password. Bounded: one database, one preview, one up, one preview. The real tools'
 * adoption is test/e2e/real-tools (another suite).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backupSetting } from "../support/backups.js";
import { copyProjectForCli, resourceSummary, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, letAdminGrant, query, superuserConnection, testServerConfig } from "../support/db.js";

const FOLDER = "test/fixtures/importers/golang-migrate";
const APP_PASSWORD = "the-app-s-own-password";
const admin = adminConnection();
const su = (database = "postgres") => ({ ...superuserConnection(), database });
let p: CliProject;

beforeAll(async () => {
  await query(su(), `CREATE ROLE gm_owner_ad CREATEROLE; CREATE ROLE gm_app_ad LOGIN PASSWORD '${APP_PASSWORD}' CONNECTION LIMIT 7`);
  // The owner another team created: on 16+ a DBA lets the admin grant it, holding none of its privileges.
  await letAdminGrant("gm_owner_ad");
  await query(su(), "CREATE DATABASE gm_ad OWNER gm_owner_ad");
  // What golang-migrate did, as the owner: 0001..0003, its history table, then the app's rows.
  const ups = ["000001_create_users_table", "000002_create_orders", "000003_index_orders_by_state"].map((f) => fs.readFileSync(`${FOLDER}/${f}.up.sql`, "utf8"));
  await query(su("gm_ad"), `SET ROLE gm_owner_ad;\n${ups.join("\n")}`.replace(/CREATE INDEX CONCURRENTLY/gi, "CREATE INDEX"));
  await query(
    su("gm_ad"),
    `SET ROLE gm_owner_ad;
     CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL);
     INSERT INTO schema_migrations VALUES (3, false);
     INSERT INTO users (username, password, email) VALUES ('ada', 'x', 'ada@example.com')`,
  );

  p = copyProjectForCli("pgstack-adopt-");
  execFileSync("npx", ["tsx", "scripts/import.ts", "--from", "golang-migrate", path.resolve(FOLDER), "--db", "gm_ad"], { cwd: p.dir, stdio: "pipe" });
  p.ok(["stack", "init", "adopting"]);
  setStackConfig(p, "adopting", {
    server: testServerConfig(),
    databases: [
      {
        name: "gm_ad",
        owner: "gm_owner_ad",
        adopt: true,
        roles: [
          { name: "gm_owner_ad", adopt: true },
          { name: "gm_app_ad", login: true, adopt: true },
        ],
        grants: [{ role: "gm_app_ad", schema: "public", tablePrivileges: ["SELECT", "INSERT", "UPDATE", "DELETE"] }],
        // golang-migrate's table is not created by a migration; until drift classifies it as
        // another tool's (the schema model's known objects), it would count as drift.
        drift: { policy: "warn" },
        // No backup where the local pg_dump cannot take one (test/support/backups.ts; lifecycle.test.ts asserts that refusal).
        ...(await backupSetting()),
      },
    ],
  });
  setSecret(p, "adopting", "pgstack:adminPassword", admin.password ?? "");
}, 120_000);

afterAll(async () => {
  if (p) {
    p.run(["destroy", "--stack", "adopting", "--yes"]);
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
  // Adopted objects are kept on destroy; the test removes them.
  await query(su(), "DROP DATABASE IF EXISTS gm_ad WITH (FORCE)");
  await query(su(), "DROP ROLE IF EXISTS gm_app_ad; DROP ROLE IF EXISTS gm_owner_ad");
});

describe("adoption of golang-migrate's database by an admin that is not a member of its owner", () => {
  it("preview succeeds and says what it cannot read yet; up adopts in one go and keeps the roles' attributes and password", async () => {
    // It holds none of the owner's privileges (on 16+ only ADMIN OPTION, which lets up grant them).
    expect(await query(admin, "SELECT pg_has_role('gm_owner_ad', 'USAGE') AS privileges")).toEqual([{ privileges: false }]);
    const preview = p.ok(["preview", "--stack", "adopting"]);
    expect(preview.output).toContain(
      `[pgstack] gm_ad: cannot read public.schema_migrations (golang-migrate's history) yet: the admin "${admin.user}" becomes a member of its owner "gm_owner_ad" during up, and up reads it then`,
    );
    expect(preview.output).not.toMatch(/permission denied|\n\s+at \S+ \(/);

    const up = p.ok(["up", "--stack", "adopting", "--yes"]);
    expect(up.output).toContain(
      "[pgstack] gm_ad: adopting an existing schema at 0003_index_orders_by_state, as golang-migrate's history says (verified): 0001..0003 were recorded as applied without running; 0004 will run",
    );
    expect(up.output).toContain("[pgstack] gm_ad: applied 0004_add_users_phone (1/1,");
    expect(await query(su("gm_ad"), "SELECT name, baselined FROM pgstack.migrations ORDER BY id")).toEqual([
      { name: "0001_create_users_table", baselined: true },
      { name: "0002_create_orders", baselined: true },
      { name: "0003_index_orders_by_state", baselined: true },
      { name: "0004_add_users_phone", baselined: false },
    ]);
    // The owner keeps CREATEROLE (its migrations may create roles); the app keeps its limit and its password.
    expect(await query(su(), "SELECT rolname, rolcreaterole, rolconnlimit, rolcanlogin FROM pg_roles WHERE rolname IN ('gm_owner_ad', 'gm_app_ad') ORDER BY rolname")).toEqual([
      { rolname: "gm_app_ad", rolcreaterole: false, rolconnlimit: 7, rolcanlogin: true },
      { rolname: "gm_owner_ad", rolcreaterole: true, rolconnlimit: -1, rolcanlogin: false },
    ]);
    const asApp = { ...admin, user: "gm_app_ad", password: APP_PASSWORD, database: "gm_ad" };
    expect(await query(asApp, "SELECT username, phone FROM users")).toEqual([{ username: "ada", phone: null }]);
    // golang-migrate's history is left as it was.
    expect(await query(su("gm_ad"), "SELECT version::int AS version, dirty FROM schema_migrations")).toEqual([{ version: 3, dirty: false }]);

    // Nothing left to do for the roles, the database or the migrations.
    const again = p.ok(["preview", "--stack", "adopting", "--diff"]);
    expect(again.output).not.toMatch(/postgresql:index\/role:Role: \(update\)|MigrationSet: \(update\)|cannot read/);
    expect(resourceSummary(again.output)["create"] ?? 0).toBe(0);
  });
});
