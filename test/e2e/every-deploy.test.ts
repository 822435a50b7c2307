/**
 * `reset.mode: every-deploy` through the plain Pulumi CLI, for ephemeral stacks: each `pulumi up`
 * backs up, resets and re-applies (twice in a row here), the preview says so, `backup: false`
 * skips the dump, and a stack that does not allow resets refuses the mode as a config error.
 * Bounded: one database, four ups, one preview.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProjectForCli, exportState, resourceSummary, setDatabases, setSecret, setStackConfig, stackOutputs, type CliProject } from "../support/cli.js";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const conn = (database: string) => ({ ...admin, database });
/** component, provider, safety, guard, 2 roles, password, membership, database, schema, 5 grants, trigger, backup, reset, migrations, verification */
const RESOURCES = 20 + 1;

type Db = { name: string; reset: Record<string, unknown>; backup?: boolean };
let p: CliProject;
let dbs: Db[];

beforeAll(() => {
  p = copyProjectForCli("pgstack-every-");
  p.ok(["stack", "init", "ephemeral"]);
  dbs = (renamedDatabases("dev", "_e") as Db[]).slice(0, 1);
  dbs[0]!.reset = { generation: 1, allowed: true, mode: "every-deploy" };
  setStackConfig(p, "ephemeral", { server: testServerConfig(), databases: dbs });
  setSecret(p, "ephemeral", "pgstack:adminPassword", admin.password ?? "");
});

afterAll(() => {
  if (!p) return;
  p.run(["destroy", "--stack", "ephemeral", "--yes"]);
  fs.rmSync(p.dir, { recursive: true, force: true });
});

const history = () => query<{ name: string; at: Date }>(conn("fltr_e"), "SELECT name, applied_at AS at FROM pgstack.migrations ORDER BY id");
const backups = () => fs.readdirSync(path.join(p.dir, "backups", "ephemeral", "fltr_e")).sort();

describe("reset.mode every-deploy through the Pulumi CLI", () => {
  it("1. the first up creates the database and applies every migration", async () => {
    const up = p.ok(["up", "--stack", "ephemeral", "--yes"]);
    expect(resourceSummary(up.stdout)).toEqual({ created: RESOURCES });
    expect((await history()).map((h) => h.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status"]);
    expect(backups()).toHaveLength(1);
  });

  it("2. the preview says the next up resets: the trigger and the reset are replaced, the migrations re-apply", async () => {
    await query(conn("fltr_e"), "INSERT INTO datasets (name, created_by) VALUES ('throwaway', 'ci')");
    const preview = p.ok(["preview", "--stack", "ephemeral", "--diff"]);
    const out = preview.stdout;
    expect(out).toMatch(/\+-pulumi-nodejs:dynamic\/pgstack:EveryDeployTrigger: \(replace\)[\s\S]*::fltr_e-every-deploy\]/);
    expect(out).toContain("pgstack:databases[0].reset.mode is every-deploy: each pulumi up backs up, resets and re-applies this database");
    expect(preview.output).toContain("[pgstack] fltr_e: pgstack:databases[0].reset.mode is every-deploy: this deploy drops and rebuilds the database, then re-applies every migration");
    expect(out).toMatch(/\+-pulumi-nodejs:dynamic\/pgstack:DatabaseReset: \(replace\)[\s\S]*::fltr_e-reset\]/);
    expect(out).toMatch(/\+-command:local:Command: \(replace\)[\s\S]*::fltr_e-backup\]/);
    expect(out).toMatch(/~ pulumi-nodejs:dynamic\/pgstack:MigrationSet: \(update\)[\s\S]*::fltr_e-migrations\]/);
    expect(resourceSummary(out)["replace"]).toBe(3);
    // The preview changed nothing.
    expect(await query(conn("fltr_e"), "SELECT name FROM datasets")).toEqual([{ name: "throwaway" }]);
  });

  it("3. two ups in a row each back up, reset and re-apply", async () => {
    for (const round of [1, 2]) {
      const before = await history();
      await query(conn("fltr_e"), `INSERT INTO datasets (name, created_by) VALUES ('round-${round}', 'ci')`);
      const up = p.ok(["up", "--stack", "ephemeral", "--yes"]);
      expect(resourceSummary(up.stdout)).toMatchObject({ replaced: 3 });
      // The reset dropped the rows; every migration ran again (new applied_at), none baselined.
      expect(await query(conn("fltr_e"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 0 }]);
      const after = await history();
      expect(after.map((h) => h.name)).toEqual(before.map((h) => h.name));
      after.forEach((h, i) => expect(h.at.getTime()).toBeGreaterThan(before[i]!.at.getTime()));
      expect(backups()).toHaveLength(1 + round);
      expect(stackOutputs(p, "ephemeral")["fltr_e"]?.["migrationHead"]).toBe("0004_index_jobs_by_status");
    }
  });

  it("4. with backup: false the up still resets, and takes no dump", async () => {
    dbs[0]!.backup = false;
    setDatabases(p, "ephemeral", dbs);
    await query(conn("fltr_e"), "INSERT INTO datasets (name, created_by) VALUES ('no-dump', 'ci')");
    const up = p.ok(["up", "--stack", "ephemeral", "--yes"]);
    // The trigger and the reset are replaced; no backup is replaced, and the backup resource is gone.
    expect(resourceSummary(up.stdout)).toMatchObject({ replaced: 2 });
    expect(exportState(p, "ephemeral").deployment.resources.filter((r) => r.urn.endsWith("::fltr_e-backup"))).toEqual([]);
    expect(await query(conn("fltr_e"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 0 }]);
    expect(backups()).toHaveLength(3);
    expect(stackOutputs(p, "ephemeral")["fltr_e"]?.["lastBackup"]).toBe("none (backup: false)");
  });

  it("5. every-deploy in a stack that does not allow resets is refused as a config error, before anything runs", () => {
    p.ok(["stack", "init", "prodlike"]);
    const prod = (renamedDatabases("prod", "_e2") as Db[]).slice(0, 1);
    prod[0]!.reset = { generation: 1, allowed: false, mode: "every-deploy" };
    setStackConfig(p, "prodlike", { server: testServerConfig(), databases: prod });
    setSecret(p, "prodlike", "pgstack:adminPassword", admin.password ?? "");
    const preview = p.run(["preview", "--stack", "prodlike"]);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain(
      'pgstack:databases[0].reset.mode: "every-deploy" resets this database on every `pulumi up`, but this stack does not allow resets: ' +
        "set pgstack:databases[0].reset.allowed: true (only in a stack whose data is throwaway), or remove reset.mode",
    );
    expect(p.run(["up", "--stack", "prodlike", "--yes"]).output).toContain("pgstack:databases[0].reset.mode");
  });
});
