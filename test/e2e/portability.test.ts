/**
 * State that works from any checkout, and objects that are never taken over silently, through the
 * plain Pulumi CLI: a stack brought up in one folder is refreshed, migrated, reset and destroyed
 * from a copy in another after the first is deleted; a state written by an older pgstack (whose
 * providers captured absolute paths) is upgraded by the next `up`; an existing role or database is
 * refused in preview, and adopted only when the config says so.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliProject, copyProjectForCli, exportState, resourceSummary, setDatabases, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, query, superuserConnection, testServerConfig } from "../support/db.js";
import { renamedDatabases } from "../support/stack-config.js";

const admin = adminConnection();
const conn = (database: string) => ({ ...admin, database });
const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh project copy with stack `stack` on the test server. */
function projectWithStack(stack: string, databases: unknown, prefix: string): CliProject {
  const p = copyProjectForCli(prefix);
  made.push(p.dir);
  p.ok(["stack", "init", stack]);
  setStackConfig(p, stack, { server: testServerConfig(), databases });
  setSecret(p, stack, "pgstack:adminPassword", admin.password ?? "");
  return p;
}

type Databases = { name: string; roles: { name: string; adopt?: boolean }[]; reset: { generation: number; acceptDataLoss?: number }; adopt?: boolean }[];

describe("state that works from any checkout", () => {
  it("up in folder A; copy project and state to B; delete A; in B refresh, a new migration, a reset and destroy all pass", async () => {
    const dbs = renamedDatabases("dev", "_m") as Databases;
    const a = projectWithStack("move", dbs, "pgstack-a-");
    a.ok(["up", "--stack", "move", "--yes"]);
    expect(await query(conn("fltr_m"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);

    const bDir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-b-")), "moved checkout");
    made.push(path.dirname(bDir));
    fs.cpSync(a.dir, bDir, { recursive: true, verbatimSymlinks: true });
    fs.rmSync(a.dir, { recursive: true, force: true });
    expect(fs.existsSync(a.dir)).toBe(false);
    const b = cliProject(bDir);

    // refresh runs the providers stored in the state: they must not need folder A.
    const refresh = b.ok(["refresh", "--stack", "move", "--yes"]);
    expect(refresh.output).not.toContain(a.dir);
    expect(resourceSummary(b.ok(["preview", "--stack", "move", "--expect-no-changes"]).stdout)["unchanged"]).toBe(2 * 19 + 1);

    fs.writeFileSync(path.join(bDir, "migrations", "fltr", "0005_add_tags.sql"), "CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL);\n");
    b.ok(["up", "--stack", "move", "--yes"]);
    expect(await query(conn("fltr_m"), "SELECT to_regclass('public.tags')::text AS t")).toEqual([{ t: "tags" }]);

    await query(conn("fltr_m"), "INSERT INTO datasets (name, created_by) VALUES ('moved', 'ops')");
    dbs[0]!.reset.generation = 2;
    dbs[0]!.reset.acceptDataLoss = 2;
    setDatabases(b, "move", dbs);
    const reset = b.ok(["up", "--stack", "move", "--yes"]);
    expect(resourceSummary(reset.stdout)["replaced"]).toBeGreaterThanOrEqual(1);
    expect(await query(conn("fltr_m"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 0 }]);
    expect(fs.readdirSync(path.join(bDir, "backups", "move", "fltr_m")).filter((f) => f.includes("-g2-"))).toHaveLength(1);

    const destroy = b.ok(["destroy", "--stack", "move", "--yes"]);
    expect(resourceSummary(destroy.stdout)["deleted"]).toBe(2 * 19 + 1);
    expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname LIKE '%\\_m'")).toEqual([]);
    expect(await query(conn("postgres"), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fltr%\\_m'")).toEqual([]);
    expect(b.transcript.join("")).not.toContain(a.dir);
  });

  it("a state written by an older pgstack (providers that captured a checkout's absolute path) is upgraded by the next up", async () => {
    const p = projectWithStack("upgrade", renamedDatabases("dev", "_u"), "pgstack-upgrade-");
    p.ok(["up", "--stack", "upgrade", "--yes"]);
    // Rewrite every stored provider as the old code did: tied to a checkout that no longer exists.
    const exported = exportState(p, "upgrade");
    let dynamic = 0;
    const current = new Set<string>();
    for (const r of exported.deployment.resources) {
      for (const props of [r.inputs, r.outputs]) {
        if (typeof props?.["__provider"] === "string") {
          current.add(props["__provider"] as string);
          props["__provider"] = (props["__provider"] as string).split("process.cwd()").join('"/gone/old-checkout"');
          expect(props["__provider"]).toContain("/gone/old-checkout");
          if (props === r.outputs) dynamic++;
        }
      }
    }
    expect(dynamic).toBe(2 * 7); // safety, guard, password, membership, reset, migrations, verification per database
    const file = path.join(p.dir, "old-state.json");
    fs.writeFileSync(file, JSON.stringify(exported));
    p.ok(["stack", "import", "--stack", "upgrade", "--file", file]);

    // As with a real old state, refresh cannot run the stored providers...
    const broken = p.run(["refresh", "--stack", "upgrade", "--yes"]);
    expect(broken.status).not.toBe(0);
    expect(broken.output).toContain("/gone/old-checkout");
    // ...preview shows the provider change as an update of each dynamic resource...
    const preview = p.ok(["preview", "--stack", "upgrade", "--diff"]);
    const updated = [...preview.stdout.matchAll(/^\s*~ (\S+): \(update\)/gm)].map((m) => m[1]);
    expect(updated.filter((t) => t?.startsWith("pulumi-nodejs:dynamic/pgstack:"))).toHaveLength(2 * 7);
    // The login roles follow their GeneratedPassword, whose value preview cannot see (it stays the same).
    expect(updated.filter((t) => !t?.startsWith("pulumi-nodejs:dynamic/pgstack:"))).toEqual(["postgresql:index/role:Role", "postgresql:index/role:Role"]);
    // ...and up writes the new providers: refresh works again, nothing else changed.
    p.ok(["up", "--stack", "upgrade", "--yes"]);
    const after = exportState(p, "upgrade").deployment.resources.flatMap((r) => [r.inputs?.["__provider"], r.outputs?.["__provider"]]).filter((x) => typeof x === "string");
    expect(after).toHaveLength(2 * 2 * 7);
    for (const provider of after) expect(current.has(provider as string)).toBe(true);
    p.ok(["refresh", "--stack", "upgrade", "--yes"]);
    expect(resourceSummary(p.ok(["preview", "--stack", "upgrade", "--expect-no-changes"]).stdout)["unchanged"]).toBe(2 * 19 + 1);
    p.ok(["destroy", "--stack", "upgrade", "--yes"]);
  });
});

describe("existing objects are never taken over silently", () => {
  it("refuses an existing role and database in preview, naming each and how to adopt it; adopts on request and keeps them on destroy", async () => {
    const su = superuserConnection();
    await query(su, "CREATE ROLE fltr_owner_x NOLOGIN");
    await query(su, "CREATE DATABASE fltr_x OWNER fltr_owner_x");
    await query({ ...su, database: "fltr_x" }, "SET ROLE fltr_owner_x; CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1)");
    const dbs = (renamedDatabases("dev", "_x") as Databases).slice(0, 1);
    const p = projectWithStack("adopt", dbs, "pgstack-adopt-");

    const preview = p.run(["preview", "--stack", "adopt"]);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain('stack "adopt" would create 2 objects that already exist');
    expect(preview.output).toContain('role "fltr_owner_x" (pgstack:databases[0].roles[0]): to adopt it, set pgstack:databases[0].roles[0].adopt: true');
    expect(preview.output).toContain("pulumi import postgresql:index/database:Database fltr_x fltr_x -s adopt");
    const up = p.run(["up", "--stack", "adopt", "--yes"]);
    expect(up.status).not.toBe(0);
    // Nothing was created: not even the role that did not exist.
    expect(await query(conn("postgres"), "SELECT rolname FROM pg_roles WHERE rolname = 'fltr_app_x'")).toEqual([]);

    dbs[0]!.adopt = true;
    dbs[0]!.roles[0]!.adopt = true;
    setDatabases(p, "adopt", dbs);
    p.ok(["up", "--stack", "adopt", "--yes"]);
    expect(await query(conn("fltr_x"), "SELECT count(*)::int AS n FROM keep_me")).toEqual([{ n: 1 }]);
    expect(await query(conn("fltr_x"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);

    p.ok(["destroy", "--stack", "adopt", "--yes"]);
    // Adopted objects stay; what the stack created itself goes.
    expect(await query(su, "SELECT datname FROM pg_database WHERE datname = 'fltr_x'")).toEqual([{ datname: "fltr_x" }]);
    expect(await query(su, "SELECT rolname FROM pg_roles WHERE rolname IN ('fltr_owner_x', 'fltr_app_x') ORDER BY 1")).toEqual([{ rolname: "fltr_owner_x" }]);
  });
});
