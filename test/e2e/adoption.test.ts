/**
 * Adoption through the plain Pulumi CLI: a database made `create_all`-style (the tables of fltr's
 * migrations 0001..0003, no pgstack history) is taken over. The preview names the version, `up`
 * records 0001..0003 as baselined without running them and applies only 0004. Bounded: one
 * database, one preview, one up.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProjectForCli, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, query, superuserConnection, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const conn = (database: string) => ({ ...admin, database });
type Db = { name: string; adopt?: boolean; roles: { name: string; adopt?: boolean }[] };
let p: CliProject;

beforeAll(async () => {
  await query(conn("postgres"), "CREATE ROLE fltr_owner_ad; GRANT fltr_owner_ad TO CURRENT_USER");
  await query(conn("postgres"), "CREATE DATABASE fltr_ad OWNER fltr_owner_ad");
  const script = ["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs"].map((f) => fs.readFileSync(`migrations/fltr/${f}.sql`, "utf8")).join("\n");
  await query(conn("fltr_ad"), `SET ROLE fltr_owner_ad;\n${script}\nINSERT INTO datasets (name, created_by) VALUES ('kept', 'ops');`);

  p = copyProjectForCli("pgstack-adopt-");
  p.ok(["stack", "init", "adopting"]);
  const dbs = (renamedDatabases("dev", "_ad") as Db[]).slice(0, 1);
  dbs[0]!.adopt = true;
  dbs[0]!.roles[0]!.adopt = true; // the owner exists; the app role is the stack's own
  setStackConfig(p, "adopting", { server: testServerConfig(), databases: dbs });
  setSecret(p, "adopting", "pgstack:adminPassword", admin.password ?? "");
});

afterAll(async () => {
  if (p) {
    p.run(["destroy", "--stack", "adopting", "--yes"]);
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
  // Adopted objects are kept on destroy; the test removes them (as the superuser: destroy revoked
  // the admin's membership in the owner role).
  await query(superuserConnection(), "DROP DATABASE IF EXISTS fltr_ad WITH (FORCE)");
  await query(superuserConnection(), "DROP ROLE IF EXISTS fltr_owner_ad");
});

describe("adoption of a create_all-style database through the Pulumi CLI", () => {
  it("the preview names the version; up records 0001..0003 as baselined and applies only 0004", async () => {
    const preview = p.ok(["preview", "--stack", "adopting"]);
    expect(preview.output).toContain("[pgstack] fltr_ad: adopting an existing schema at 0003_create_processing_jobs: 0001..0003 will be recorded as applied without running; 0004 will run");
    expect(await query(conn("fltr_ad"), "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);

    const up = p.ok(["up", "--stack", "adopting", "--yes"]);
    expect(up.output).toContain("[pgstack] fltr_ad: adopting an existing schema at 0003_create_processing_jobs: 0001..0003 were recorded as applied without running; 0004 will run");
    expect(up.output).toContain("[pgstack] fltr_ad: applied 0004_index_jobs_by_status (1/1,");
    expect(await query(conn("fltr_ad"), "SELECT name, baselined FROM pgstack.migrations ORDER BY id")).toEqual([
      { name: "0001_create_datasets", baselined: true },
      { name: "0002_create_documents", baselined: true },
      { name: "0003_create_processing_jobs", baselined: true },
      { name: "0004_index_jobs_by_status", baselined: false },
    ]);
    expect(await query(conn("fltr_ad"), "SELECT name FROM datasets")).toEqual([{ name: "kept" }]);
    expect(await query(conn("fltr_ad"), "SELECT to_regclass('public.processing_jobs_status_queued_at_idx')::text AS i")).toEqual([{ i: "processing_jobs_status_queued_at_idx" }]);
  });
});
