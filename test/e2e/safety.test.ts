/**
 * Data safety through the plain Pulumi CLI on a prod-like stack (a real server, resets not
 * allowed, so the prod policy): a pending DROP of a table holding 621 rows is refused by
 * `pulumi preview` and by `pulumi up` before anything runs, naming file, line, table, rows and
 * the acknowledgement to write; with the acknowledgement, `up` applies it. The dev policy on the
 * same migration warns and lets the preview pass.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { backupSetting } from "../support/backups.js";
import { copyProjectForCli, exportState, resourceSummary, setSecret, setStackConfig, type CliProject } from "../support/cli.js";

const admin = adminConnection();
const DB = "shop_p";
const conn = { ...admin, database: DB };
const FIXTURES = "test/fixtures/safety";
const DROP = "migrations/shop/0002_drop_unused.sql";
const ACK = '-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: unused since 2024';
const show = (label: string, text: string) => {
  if (process.env["PGSTACK_SHOW_PREVIEW"]) console.log(`----- ${label} -----\n${text}`);
};

let p: CliProject;
const database = { name: DB, owner: "shop_owner_p", roles: [{ name: "shop_owner_p" }], migrations: "migrations/shop", reset: { generation: 1, allowed: false } };

beforeAll(async () => {
  // No backup where the local pg_dump cannot take one (test/support/backups.ts; lifecycle.test.ts asserts that refusal).
  const databases = [{ ...database, ...(await backupSetting()) }];
  p = copyProjectForCli("pgstack-safety-");
  fs.mkdirSync(path.join(p.dir, "migrations", "shop"), { recursive: true });
  fs.copyFileSync(path.join(p.dir, FIXTURES, "migrations", "0001_tables.sql"), path.join(p.dir, "migrations", "shop", "0001_tables.sql"));
  p.ok(["stack", "init", "prodlike"]);
  setStackConfig(p, "prodlike", { server: testServerConfig(), databases });
  setSecret(p, "prodlike", "pgstack:adminPassword", admin.password ?? "");
});

afterAll(() => {
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

const history = async () => (await query<{ name: string }>(conn, "SELECT name FROM pgstack.migrations ORDER BY id")).map((r) => r.name);
const errorRows = async () => (await query<{ n: number }>(conn, 'SELECT count(*)::int AS n FROM "bazaar-vid_component_error"'))[0]?.n;

describe("the safety check in preview and up (prod-like stack)", () => {
  it("1. the first up: the database does not exist yet, so the pending migrations run on an empty database and are safe", async () => {
    const up = p.ok(["up", "--stack", "prodlike", "--yes"]);
    show("first up", up.output);
    // Empty tables put nothing at risk; squawk's style lint (int columns) only warns, once per rule and file.
    expect(up.output).toContain(`safety ${DB}, prod policy: 1 pending migration(s) (database not created yet: empty) → warn`);
    expect(up.output).toMatch(/warn\s+lint\s+migrations\/shop\/0001_tables\.sql:6:25 .*\[squawk\/prefer-bigint-over-int\] \(also at 7:24, 8:25, 8:54, 9:27, … \(2 more\)\)/);
    expect(await history()).toEqual(["0001_tables"]);
    await query(conn, fs.readFileSync(path.join(FIXTURES, "seed.sql"), "utf8"));
    expect(await errorRows()).toBe(621);
  });

  it("2. preview refuses the DROP of a table holding 621 rows, naming file, line, table, rows and the line to write; nothing changes", async () => {
    fs.copyFileSync(path.join(p.dir, FIXTURES, "migrations", "0004_drop_unused.sql"), path.join(p.dir, DROP));
    const before = exportState(p, "prodlike").deployment.resources.length;
    const preview = p.run(["preview", "--stack", "prodlike"]);
    show("prod-like preview (refused)", preview.output);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain(`${DROP}:2:1: DROP TABLE "bazaar-vid_component_error" deletes 621 rows`);
    expect(preview.output).toContain(`or write on the line before it: -- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: <why this is fine>`);
    expect(preview.output).toContain(`database "${DB}": 1 pending change(s) refused by the prod safety policy; nothing was run`);
    // The empty table is reported but not refused.
    expect(preview.output).toMatch(/ok\s+data-loss\s+migrations\/shop\/0002_drop_unused\.sql:3:1 DROP TABLE old_logs deletes 0 rows/);
    // No dump of the inputs: the SQL of the migrations is not in the failure.
    expect(preview.output).not.toContain("CREATE TABLE profiles");
    expect(exportState(p, "prodlike").deployment.resources.length).toBe(before);
  });

  it("3. up refuses too, before anything runs (even without its own preview): rows and history stay", async () => {
    const up = p.run(["up", "--stack", "prodlike", "--yes", "--skip-preview"]);
    expect(up.status).not.toBe(0);
    expect(up.output).toContain("deletes 621 rows");
    expect(resourceSummary(up.stdout)["updated"] ?? 0).toBe(0);
    expect(await errorRows()).toBe(621);
    expect(await history()).toEqual(["0001_tables"]);
  });

  it("4. the dev policy on the same stack warns and lets the preview pass", () => {
    setStackConfig(p, "prodlike", {});
    const file = path.join(p.dir, "Pulumi.prodlike.yaml");
    fs.appendFileSync(file, "  pgstack:safety:\n    profile: dev\n");
    const preview = p.ok(["preview", "--stack", "prodlike"]);
    show("dev-policy preview", preview.output);
    expect(preview.output).toContain(`safety ${DB}, dev policy: 1 pending migration(s) → warn`);
    expect(preview.output).toMatch(/warn\s+data-loss\s+migrations\/shop\/0002_drop_unused\.sql:2:1 DROP TABLE "bazaar-vid_component_error" deletes 621 rows/);
    // The dev profile rehearses on a throwaway copy: the drop runs there, per migration, and the copy goes.
    expect(preview.output).toContain("rehearsal of 1 pending migration(s) on a full copy (CREATE DATABASE … TEMPLATE)");
    expect(preview.output).toMatch(/ok +0002_drop_unused +\(\d+ ms, 0 rows\)/);
    expect(preview.output).toContain('- table public."bazaar-vid_component_error"');
    expect(preview.output).toContain("the copy was dropped");
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("  pgstack:safety:\n    profile: dev\n", ""));
  });

  it("5. with the acknowledgement, preview shows it accepted and up applies the drop", async () => {
    const sql = fs.readFileSync(path.join(p.dir, DROP), "utf8").replace('DROP TABLE "bazaar-vid_component_error"', `${ACK}\nDROP TABLE "bazaar-vid_component_error"`);
    fs.writeFileSync(path.join(p.dir, DROP), sql);
    const preview = p.ok(["preview", "--stack", "prodlike"]);
    show("prod-like preview (acknowledged)", preview.output);
    expect(preview.output).toContain(`safety ${DB}, prod policy: 1 pending migration(s) → safe`);
    expect(preview.output).toMatch(/accepted\s+data-loss\s+migrations\/shop\/0002_drop_unused\.sql:3:1 DROP TABLE "bazaar-vid_component_error" deletes 621 rows/);
    expect(preview.output).toContain("reason: unused since 2024");
    p.ok(["up", "--stack", "prodlike", "--yes"]);
    expect(await history()).toEqual(["0001_tables", "0002_drop_unused"]);
    expect(await query(conn, "SELECT to_regclass('\"bazaar-vid_component_error\"') AS t")).toEqual([{ t: null }]);
    // Settled: nothing pending, nothing to change, and the state holds no SQL for the check.
    const again = p.ok(["preview", "--stack", "prodlike", "--expect-no-changes"]);
    expect(again.output).toContain(`safety ${DB}, prod policy: 0 pending migration(s) → safe`);
    const safety = exportState(p, "prodlike", true).deployment.resources.find((r) => r.urn.endsWith("::shop_p-safety"));
    expect(JSON.stringify(safety)).not.toContain("DROP TABLE");
    expect(JSON.stringify(safety)).not.toContain(admin.password ?? "\u0000");
  });
});
