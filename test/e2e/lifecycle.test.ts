/**
 * The full lifecycle through the plain Pulumi CLI (real engine, real language host, real
 * postgresql and command plugins) against a real PostgreSQL, connected as an admin that is not a
 * superuser: up, a no-op preview, a new migration (with a repeatable view, then the view edited), grants, drift through refresh, a reset, the
 * guard refusing, a failing migration, no secret in plain text, and destroy.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { adminConnection, query, superuserConnection, testServerConfig } from "../support/db.js";
import { copyProjectForCli, exportState, previewThenUp, resourceSummary, setDatabases, setSecret, setStackConfig, stackOutputs, type CliProject, type HonestUp } from "../support/cli.js";
import { rawStackConfig, renamedDatabases } from "../support/stack-config.js";
import { backupProblem } from "../support/backups.js";
import { inventoryByTable, inventoryFromState } from "../../infra/lifecycle/inventory.js";

const admin = adminConnection();
const conn = (database: string) => ({ ...admin, database });
/** Per database: component, provider, safety, guard, 2 roles, generated password, membership, database, schema, 5 grants, backup (when on), reset, migrations, verification. */
const perDatabase = () => (noBackups ? 18 : 19);
const devResources = () => 2 * perDatabase() + 1;
/** The repeatable migration steps 3 and 3b add (`R__name.sql`: re-run whenever it changes). */
const TEAM_VIEW = "migrations/fltr_auth/R__team_views.sql";

type Databases = { name: string; owner: string; roles: { name: string; login?: boolean; passwordSecret?: string }[]; grants: { role: string; schema: string; tablePrivileges?: string[] }[]; migrations?: string; reset: { generation: number; acceptDataLoss?: number }; backup?: boolean }[];

/**
 * The guard's refusal when the local pg_dump cannot back up this server (PostgreSQL 16+ with
 * Debian's client 15): scenario 1 asserts it, and the stacks then run with `backup: false`, as it
 * says. Undefined where backups work (14, 15): every backup is checked.
 */
let refusal: string[] | undefined;
let noBackups = false;
/** The dev stack's databases, with `backup: false` once the refusal was seen. */
const devDatabases = (): Databases => withBackupSetting(structuredClone(rawStackConfig("dev").databases) as Databases);
const withBackupSetting = (dbs: Databases): Databases => (noBackups ? dbs.map((d) => ({ ...d, backup: false })) : dbs);

let p: CliProject;
/** Every process list seen while `pulumi up` ran (scenario 1), checked for passwords in scenario 9. */
let processLists: string[] = [];

beforeAll(async () => {
  refusal = await backupProblem();
  p = copyProjectForCli();
  p.ok(["stack", "init", "dev"]);
  setStackConfig(p, "dev", { server: testServerConfig(), databases: rawStackConfig("dev").databases });
  setSecret(p, "dev", "pgstack:adminPassword", admin.password ?? "");
});

afterAll(() => {
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

describe("pgstack through the plain Pulumi CLI, as a non-superuser admin", () => {
  it("0. the engine runs the real plugins: postgresql 3.18.0 and command 1.2.1", () => {
    const plugins = p.ok(["plugin", "ls"]).stdout;
    expect(plugins).toMatch(/postgresql\s+resource\s+3\.18\.0/);
    expect(plugins).toMatch(/command\s+resource\s+1\.2\.1/);
  });

  it("1. up creates both databases; fltr_auth has its nine tables and three foreign keys to users.id", async () => {
    if (refusal) {
      // No pg_dump here can back up this server: preview refuses in three lines, and up creates nothing.
      const preview = p.run(["preview", "--stack", "dev"]);
      expect(preview.status).not.toBe(0);
      // The first guard to refuse names its own database's config path in the fix.
      const [serverLine, clientLine, fixLine] = refusal as [string, string, string];
      expect(preview.output).toContain(serverLine);
      expect(preview.output).toContain(clientLine);
      const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      expect(preview.output).toMatch(new RegExp(escape(fixLine).replace(escape("pgstack:databases[0]"), "pgstack:databases\\[[01]\\]")));
      expect(refusal[0]).toMatch(/^the server \S+ runs PostgreSQL (1[6-9])\./);
      const up = p.run(["up", "--stack", "dev", "--yes"]);
      expect(up.status).not.toBe(0);
      expect(up.output).toContain(refusal[1]);
      expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname IN ('fltr', 'fltr_auth')")).toEqual([]);
      expect(await query(conn("postgres"), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fltr%'")).toEqual([]);
      noBackups = true;
      setDatabases(p, "dev", devDatabases());
    }
    const watched = await p.okWatchingProcesses(["up", "--stack", "dev", "--yes"]);
    const up = watched.result;
    processLists = watched.processLists;
    expect(processLists.length).toBeGreaterThan(5);
    expect(processLists.join("\n")).toContain("pulumi-resource-postgresql");
    expect(resourceSummary(up.stdout)).toEqual({ created: devResources() });
    expect((await query<{ rolsuper: boolean }>(conn("postgres"), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))[0]?.rolsuper).toBe(false);
    const tables = await query<{ t: string }>(conn("fltr_auth"), "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    const expected = ["accounts", "api_key_credits", "credit_transactions", "sessions", "subscriptions", "teams", "user_credits", "users", "verifications"];
    expect(tables.map((r) => r.t)).toEqual(expected);
    const fks = await query<{ f: string }>(
      conn("fltr_auth"),
      `SELECT conrelid::regclass::text || '.' || a.attname AS f FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.confrelid = 'public.users'::regclass ORDER BY 1`,
    );
    expect(fks.map((r) => r.f)).toEqual(["api_key_credits.user_id", "credit_transactions.user_id", "user_credits.user_id"]);
    const outputs = stackOutputs(p, "dev");
    expect(outputs["fltr_auth"]?.["tables"]).toEqual({ public: expected });
    expect((outputs["fltr_auth"]?.["foreignKeys"] as string[]).filter((f) => f.endsWith("-> public.users.id"))).toHaveLength(3);
    expect(outputs["fltr_auth"]?.["migrationHead"]).toBe("0003_create_credits");
    expect(outputs["fltr"]?.["tables"]).toEqual({ public: ["datasets", "documents", "processing_jobs"] });
    // Tables belong to the owner role; the app role reaches them through the grants.
    expect(await query(conn("fltr_auth"), "SELECT tableowner FROM pg_tables WHERE tablename = 'users'")).toEqual([{ tableowner: "fltr_auth_owner" }]);
    expect(await query(conn("fltr_auth"), "SELECT has_table_privilege('fltr_auth_app', 'public.users', 'INSERT') AS ok")).toEqual([{ ok: true }]);
    // The backup ran through @pulumi/command, in the project folder (or none was asked for).
    const backup = String(outputs["fltr"]?.["lastBackup"]);
    if (noBackups) {
      expect(backup).toBe("none (backup: false)");
      expect(fs.existsSync(path.join(p.dir, "backups"))).toBe(false);
    } else {
      expect(backup).toMatch(/^backups\/dev\/fltr\/fltr-g1-\d{8}T\d{6}Z\.dump$/);
      expect(fs.existsSync(path.join(p.dir, backup))).toBe(true);
    }
  });

  it("2. a plain preview afterwards expects no changes", () => {
    const preview = p.ok(["preview", "--stack", "dev", "--expect-no-changes"]);
    expect(resourceSummary(preview.stdout)).toEqual({ unchanged: devResources() });
  });

  it("2b. the state's source positions name the TypeScript that declares each resource (program.cjs)", () => {
    // Pulumi records where each resource was declared, from a stack trace of the program. Its
    // runner's source-map-support, left in place, named tsx's transpiled positions instead
    // (`index.ts#2,858` for the `super(` on line 199).
    const inProject = exportState(p, "dev").deployment.resources.flatMap((r) => {
      const m = /^project:\/\/\/((?:infra\/)?[\w/.-]+\.ts)#(\d+),(\d+)$/.exec(r.sourcePosition ?? "");
      return m ? [{ urn: r.urn, file: m[1] as string, line: Number(m[2]), column: Number(m[3]) }] : [];
    });
    // Every pgstack resource class and the component: at least the two databases' dynamic resources.
    expect(inProject.length).toBeGreaterThanOrEqual(12);
    for (const at of inProject) {
      const text = fs.readFileSync(path.join(p.dir, at.file), "utf8").split("\n")[at.line - 1] ?? "";
      // The position is the call that declared it: a `super(` in a resource class, or a `new`.
      expect(text.slice(at.column - 1), `${at.urn} at ${at.file}#${at.line},${at.column}`).toMatch(/^(super\(|new )/);
    }
  });

  it("3. a new migration shows in preview with its id and SQL, then up applies it (and a repeatable view after it)", async () => {
    fs.writeFileSync(
      path.join(p.dir, "migrations", "fltr_auth", "0004_add_team_members.sql"),
      "CREATE TABLE team_members (\n    team_id text NOT NULL REFERENCES teams (id),\n    user_id text NOT NULL,\n    PRIMARY KEY (team_id, user_id)\n);\n" +
        // A view and a function, for the drift of scenario 5b.
        "CREATE VIEW team_sizes AS SELECT team_id, count(*) AS members FROM team_members GROUP BY team_id;\n" +
        "CREATE FUNCTION team_size(team text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM team_members WHERE team_id = team $$;\n",
    );
    // A repeatable over the new table: it can only run after 0004.
    fs.writeFileSync(path.join(p.dir, TEAM_VIEW), "CREATE OR REPLACE VIEW team_sizes AS\n  SELECT team_id, count(*) AS members\n    FROM team_members\n   GROUP BY team_id;\n");
    const preview = p.ok(["preview", "--stack", "dev", "--diff"]);
    expect(preview.output).toContain(`[pgstack] fltr_auth: repeatable R__team_views will run for the first time (${TEAM_VIEW})`);
    expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/pgstack:MigrationSet: \(update\)[\s\S]*::fltr_auth-migrations\]/);
    expect(preview.stdout.match(/pgstack:MigrationSet: \(update\)/g)).toHaveLength(1);
    expect(preview.stdout).toContain("0004_add_team_members");
    expect(preview.stdout).toContain("CREATE TABLE team_members");
    // Honest: the verification after it re-runs too, and the preview says so.
    expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/pgstack:SchemaVerification: \(update\)[\s\S]*::fltr_auth-verification\]/);
    expect(resourceSummary(preview.stdout)["update"]).toBe(2);
    // `up --plan` with the plan saved by a preview: what preview said would change is what changed.
    const honest = previewThenUp(p, "dev");
    expect(honest.changed).toEqual(honest.planned);
    expect(honest.planned.map((u) => u.split("::").at(-1))).toEqual(["fltr_auth-migrations", "fltr_auth-verification"]);
    expect(honest.counts["update"]).toBe(2);
    expect(await query(conn("fltr_auth"), "SELECT name FROM pgstack.migrations ORDER BY id DESC LIMIT 1")).toEqual([{ name: "0004_add_team_members" }]);
    expect(await query(conn("fltr_auth"), "SELECT name FROM pgstack.repeatables")).toEqual([{ name: "R__team_views" }]);
    expect((stackOutputs(p, "dev")["fltr_auth"]?.["tables"] as Record<string, string[]>)["public"]).toContain("team_members");
    // A table created by a later migration gets the app's privileges (default privileges).
    expect(await query(conn("fltr_auth"), "SELECT has_table_privilege('fltr_auth_app', 'public.team_members', 'SELECT') AS ok")).toEqual([{ ok: true }]);
  });

  it("3b. an edited repeatable: preview names the re-run with the view's diff, up re-applies it, then nothing to do", async () => {
    const file = path.join(p.dir, TEAM_VIEW);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("count(*) AS members", "count(*) AS members, min(user_id) AS first_member"));
    const preview = p.ok(["preview", "--stack", "dev", "--diff"]);
    expect(preview.output).toMatch(/\[pgstack\] fltr_auth: repeatable R__team_views will run again \(sha256 [0-9a-f]{12}… → [0-9a-f]{12}…\), its definition changes:/);
    expect(preview.output).toContain("-  SELECT team_id, count(*) AS members\n");
    expect(preview.output).toContain("+  SELECT team_id, count(*) AS members, min(user_id) AS first_member\n");
    expect(preview.stdout).toMatch(/~ pulumi-nodejs:dynamic\/pgstack:MigrationSet: \(update\)[\s\S]*::fltr_auth-migrations\]/);
    const honest = previewThenUp(p, "dev");
    expectHonest(honest);
    expect(honest.planned.map((u) => u.split("::").at(-1))).toContain("fltr_auth-migrations");
    expect(honest.up.output).toContain("applied R__team_views");
    expect((await query<{ c: string }>(conn("fltr_auth"), "SELECT column_name AS c FROM information_schema.columns WHERE table_name = 'team_sizes' ORDER BY ordinal_position")).map((r) => r.c)).toEqual(["team_id", "members", "first_member"]);
    expect(await query(conn("fltr_auth"), "SELECT count(DISTINCT checksum)::int AS n FROM pgstack.repeatables WHERE name = 'R__team_views'")).toEqual([{ n: 2 }]);
    p.ok(["preview", "--stack", "dev", "--expect-no-changes"]);
  });

  it("4. grants are real: a grant added after the tables exist reaches them; removing DELETE revokes it", async () => {
    const dbs = devDatabases();
    dbs[0]!.roles.push({ name: "fltr_reader", login: false });
    dbs[0]!.grants.push({ role: "fltr_reader", schema: "public", tablePrivileges: ["SELECT"] });
    setDatabases(p, "dev", dbs);
    expect(await query(conn("fltr"), "SELECT to_regrole('fltr_reader') AS r")).toEqual([{ r: null }]);
    expectHonest(previewThenUp(p, "dev"));
    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_reader', 'public.datasets', 'SELECT') AS s, has_table_privilege('fltr_reader', 'public.datasets', 'INSERT') AS i")).toEqual([{ s: true, i: false }]);

    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_app', 'public.documents', 'DELETE') AS ok")).toEqual([{ ok: true }]);
    dbs[0]!.grants[0]!.tablePrivileges = ["SELECT", "INSERT", "UPDATE"];
    setDatabases(p, "dev", dbs);
    const preview = p.ok(["preview", "--stack", "dev", "--diff"]);
    expect(preview.stdout).toMatch(/postgresql:index\/grant:Grant: \(update\)[\s\S]*fltr-grant-fltr_app-public-tables/);
    expectHonest(previewThenUp(p, "dev"));
    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_app', 'public.documents', 'DELETE') AS d, has_table_privilege('fltr_app', 'public.documents', 'UPDATE') AS u")).toEqual([{ d: false, u: true }]);
    // Tables created later follow the new default privileges too.
    await query(conn("fltr"), "SET ROLE fltr_owner; CREATE TABLE later_table (id int); RESET ROLE");
    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_app', 'public.later_table', 'DELETE') AS d, has_table_privilege('fltr_app', 'public.later_table', 'UPDATE') AS u")).toEqual([{ d: false, u: true }]);
    await query(conn("fltr"), "DROP TABLE later_table");

    // Removing the whole grant revokes what it gave.
    dbs[0]!.grants.pop();
    setDatabases(p, "dev", dbs);
    expectHonest(previewThenUp(p, "dev"));
    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_reader', 'public.datasets', 'SELECT') AS s")).toEqual([{ s: false }]);
    // Its revoke runs after the verification (Pulumi deletes last): not recorded as drift.
    expect(stackOutputs(p, "dev")["fltr"]?.["drift"]).toBe("in sync");
  });

  it("5. drift: a hand-run GRANT TO PUBLIC and ALTER TABLE show in refresh per object; up keeps reporting them; undoing clears them", async () => {
    await query(conn("fltr"), "GRANT SELECT ON datasets TO PUBLIC");
    const refresh = p.ok(["refresh", "--stack", "dev", "--yes", "--diff"]);
    expect(resourceSummary(refresh.stdout)["updated"]).toBeGreaterThanOrEqual(1);
    // Refresh updates the resources' state (stack outputs follow on the next up).
    const verificationOf = () => exportState(p, "dev").deployment.resources.find((r) => r.urn.endsWith("::fltr-verification"));
    const grantLine = "~ public.datasets: + grant PUBLIC: SELECT (not declared)";
    expect(verificationOf()?.outputs?.["drift"]).toBe(`drifted: ${grantLine}`);
    expect(verificationOf()?.outputs?.["driftReport"]).toEqual([grantLine]);
    expect(refresh.stdout).toContain(grantLine);

    await query(conn("fltr"), "REVOKE SELECT ON datasets FROM PUBLIC; ALTER TABLE datasets ADD COLUMN archived_at timestamptz");
    const columnLine = "~ public.datasets: + column archived_at timestamp with time zone (not in migrations)";
    const second = p.ok(["refresh", "--stack", "dev", "--yes", "--diff"]);
    expect(second.stdout).toContain(columnLine);
    const verification = verificationOf();
    expect(verification?.outputs?.["drift"]).toBe(`drifted: ${columnLine}`);
    // The inventory is keyed by table, one JSON text each: the refresh diff names public.datasets,
    // not every entry after it, and the CLI shows the text decoded, as an object diff of its columns.
    const stored = verification?.outputs?.["inventory"] as Record<string, string>;
    expect(typeof stored["public.datasets"]).toBe("string");
    expect(inventoryByTable(inventoryFromState(stored))["public.datasets"]?.columns).toContain("archived_at timestamp with time zone");
    expect(second.stdout).toMatch(/~ public\.datasets\s*: \(json\) \{[\s\S]*~ columns\s*: \[[\s\S]*\+ \[\d+\]: "archived_at timestamp with time zone"/);
    expect(second.stdout).not.toMatch(/~ public\.(documents|processing_jobs)\s*: /);

    // `up` re-verifies and does not bless the drift (dev's policy warns); refresh still shows it.
    const honest = previewThenUp(p, "dev");
    expectHonest(honest);
    expect(honest.up.output).toContain("drifted from its migrations");
    expect(stackOutputs(p, "dev")["fltr"]?.["drift"]).toBe(`drifted: ${columnLine}`);
    expect(stackOutputs(p, "dev")["fltr"]?.["driftReport"]).toEqual([columnLine]);
    p.ok(["refresh", "--stack", "dev", "--yes"]);
    expect(verificationOf()?.outputs?.["driftReport"]).toEqual([columnLine]);

    // Undone by hand: the next refresh is in sync, and so is the next up.
    await query(conn("fltr"), "ALTER TABLE datasets DROP COLUMN archived_at");
    p.ok(["refresh", "--stack", "dev", "--yes"]);
    expect(verificationOf()?.outputs?.["drift"]).toBe("in sync");
    expectHonest(previewThenUp(p, "dev"));
    expect(stackOutputs(p, "dev")["fltr"]?.["drift"]).toBe("in sync");
    expect(stackOutputs(p, "dev")["fltr"]?.["driftReport"]).toEqual([]);
  });

  it("5b. drift of a view and a function redefined by hand shows in refresh, one line each; up keeps it; undoing clears it", async () => {
    const auth = conn("fltr_auth");
    // The view as step 3b's repeatable left it (three columns: CREATE OR REPLACE may not drop one), with a filter added by hand.
    await query(
      auth,
      `SET ROLE fltr_auth_owner;
       CREATE OR REPLACE VIEW team_sizes AS SELECT team_id, count(*) AS members, min(user_id) AS first_member FROM team_members WHERE user_id <> '' GROUP BY team_id;
       CREATE OR REPLACE FUNCTION team_size(team text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(DISTINCT user_id) FROM team_members WHERE team_id = team $$;
       RESET ROLE`,
    );
    const lines = ["~ view public.team_sizes: definition changed", "~ function public.team_size(team text): body changed"];
    const refresh = p.ok(["refresh", "--stack", "dev", "--yes", "--diff"]);
    for (const line of lines) expect(refresh.stdout).toContain(line);
    const verificationOf = () => exportState(p, "dev").deployment.resources.find((r) => r.urn.endsWith("::fltr_auth-verification"));
    expect(verificationOf()?.outputs?.["driftReport"]).toEqual(lines);
    expect(verificationOf()?.outputs?.["drift"]).toBe(`drifted: ${lines.join("; ")}`);
    // `up` does not bless it.
    expectHonest(previewThenUp(p, "dev"));
    expect(stackOutputs(p, "dev")["fltr_auth"]?.["driftReport"]).toEqual(lines);

    await query(
      auth,
      `SET ROLE fltr_auth_owner;
       CREATE OR REPLACE VIEW team_sizes AS SELECT team_id, count(*) AS members, min(user_id) AS first_member FROM team_members GROUP BY team_id;
       CREATE OR REPLACE FUNCTION team_size(team text) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM team_members WHERE team_id = team $$;
       RESET ROLE`,
    );
    p.ok(["refresh", "--stack", "dev", "--yes"]);
    expect(verificationOf()?.outputs?.["drift"]).toBe("in sync");
    expect(verificationOf()?.outputs?.["driftReport"]).toEqual([]);
  });

  it("6. a reset-generation bump on dev: refusal with rows, then backup, nuke, rebuild, re-grant and re-apply", async () => {
    await query(conn("fltr"), "INSERT INTO datasets (name, created_by) VALUES ('sprint-32', 'ops')");
    const dbs = devDatabases();
    dbs[0]!.reset.generation = 2;
    setDatabases(p, "dev", dbs);
    // Rows are present and data loss was not accepted: the reset refuses before dropping anything.
    const refused = p.run(["up", "--stack", "dev", "--yes"]);
    expect(refused.status).not.toBe(0);
    expect(refused.output).toContain("public.datasets: 1 row(s)");
    expect(refused.output).toContain("reset.acceptDataLoss: 2");
    expect(await query(conn("fltr"), "SELECT name FROM datasets")).toEqual([{ name: "sprint-32" }]);

    dbs[0]!.reset.acceptDataLoss = 2;
    setDatabases(p, "dev", dbs);
    const honest = previewThenUp(p, "dev");
    expectHonest(honest);
    expect(honest.counts["replace"]).toBeGreaterThanOrEqual(1);
    const fltr = stackOutputs(p, "dev")["fltr"] as { lastBackup: string; resetGeneration: number; tables: Record<string, string[]> };
    expect(fltr.resetGeneration).toBe(2);
    if (noBackups) {
      // backup: false (scenario 1's refusal): the reset takes no dump, and says so.
      expect(honest.cleanedUp).toEqual([]);
      expect(fltr.lastBackup).toBe("none (backup: false)");
      expect(fs.existsSync(path.join(p.dir, "backups"))).toBe(false);
    } else {
      // The refused run had already replaced the backup (a new dump before the reset); this up
      // only deletes the old backup resource (the dump file stays).
      expect(honest.cleanedUp.map((u) => u.split("::").at(-1))).toEqual(["fltr-backup"]);
      expect(fltr.lastBackup).toMatch(/^backups\/dev\/fltr\/fltr-g2-/);
      const listing = execFileSync(path.join(inject("pgBinDir") || "/usr/lib/postgresql/15/bin", "pg_restore"), ["--list", path.join(p.dir, fltr.lastBackup)], { encoding: "utf8" });
      expect(listing).toContain("TABLE DATA public datasets");
    }
    expect(await query(conn("fltr"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 0 }]);
    expect(await query(conn("fltr"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
    expect(await query(conn("fltr"), "SELECT value FROM pgstack.meta WHERE key = 'reset_generation'")).toEqual([{ value: "2" }]);
    expect(fltr.tables).toEqual({ public: ["datasets", "documents", "processing_jobs"] });
    expect(await query(conn("fltr"), "SELECT 1 FROM information_schema.columns WHERE table_name = 'datasets' AND column_name = 'archived_at'")).toEqual([]);
    expect(await query(conn("fltr"), "SELECT has_table_privilege('fltr_app', 'public.datasets', 'INSERT') AS ok")).toEqual([{ ok: true }]);
    // fltr_auth was not touched; and the stack is settled again.
    expect(await query(conn("fltr_auth"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
    expect(resourceSummary(p.ok(["preview", "--stack", "dev", "--expect-no-changes"]).stdout)).toEqual({ unchanged: devResources() });
  });

  it("7. the same bump on a prod-like stack fails at preview with the guard's message; rows stay", async () => {
    const dbs = withBackupSetting(renamedDatabases("prod", "_p") as Databases);
    p.ok(["stack", "init", "prodlike"]);
    setStackConfig(p, "prodlike", { server: testServerConfig(), databases: dbs });
    setSecret(p, "prodlike", "pgstack:adminPassword", admin.password ?? "");
    p.ok(["up", "--stack", "prodlike", "--yes"]);
    await query(conn("fltr_p"), "INSERT INTO datasets (name, created_by) VALUES ('customer-data', 'ops')");
    dbs[0]!.reset.generation = 2;
    dbs[0]!.reset.acceptDataLoss = 2;
    setDatabases(p, "prodlike", dbs);
    const preview = p.run(["preview", "--stack", "prodlike"]);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain('stack "prodlike" does not allow resetting database "fltr_p" (generation 1 → 2)');
    expect(preview.output).toContain("set pgstack:databases[0].reset.allowed: true");
    const up = p.run(["up", "--stack", "prodlike", "--yes"]);
    expect(up.output).toContain("does not allow resetting");
    expect(await query(conn("fltr_p"), "SELECT name FROM datasets")).toEqual([{ name: "customer-data" }]);
    // The database is protected: destroy refuses and drops nothing.
    const destroy = p.run(["destroy", "--stack", "prodlike", "--yes"]);
    expect(destroy.status).not.toBe(0);
    expect(destroy.output).toMatch(/protected/);
    expect(await query(conn("fltr_p"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 1 }]);
  });

  it("8. a migration with an SQL error fails up naming file:line; earlier ones stay; the fixed file completes", async () => {
    const dir = path.join(p.dir, "migrations", "fltr");
    fs.writeFileSync(path.join(dir, "0005_add_tags.sql"), "CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL);\n");
    fs.writeFileSync(path.join(dir, "0006_tag_documents.sql"), "CREATE TABLE document_tags (\n    document_id bigint NOT NULL REFERENCES documents (id),\n    tag_id int NOT NULL REFERENCES tagz (id)\n);\n");
    const failed = p.run(["up", "--stack", "dev", "--yes"]);
    expect(failed.status).not.toBe(0);
    expect(failed.output).toContain("migrations/fltr/0006_tag_documents.sql:3:");
    expect(failed.output).toContain('relation "tagz" does not exist');
    expect(await query(conn("fltr"), "SELECT name FROM pgstack.migrations ORDER BY id DESC LIMIT 1")).toEqual([{ name: "0005_add_tags" }]);
    expect(await query(conn("fltr"), "SELECT to_regclass('public.document_tags') AS t")).toEqual([{ t: null }]);
    fs.writeFileSync(path.join(dir, "0006_tag_documents.sql"), "CREATE TABLE document_tags (\n    document_id bigint NOT NULL REFERENCES documents (id),\n    tag_id int NOT NULL REFERENCES tags (id)\n);\n");
    expectHonest(previewThenUp(p, "dev"));
    expect(stackOutputs(p, "dev")["fltr"]?.["migrationHead"]).toBe("0006_tag_documents");
  });

  it("9. no password appears in plain text in the state, the CLI's output, any error or the process list", async () => {
    // Everything the CLI printed so far (before this test reveals the secrets on purpose).
    const transcript = p.transcript.join("");
    expect(transcript).toContain("Resources:");
    const resources = exportState(p, "dev", true).deployment.resources;
    // `--show-secrets` prints a secret as {<sig>, plaintext: "<JSON>"}.
    const reveal = (v: unknown): string => {
      const plaintext = (v as { plaintext?: string } | undefined)?.plaintext;
      return plaintext === undefined ? String(v) : (JSON.parse(plaintext) as string);
    };
    const generated = resources.filter((r) => r.type.endsWith("GeneratedPassword")).map((r) => reveal(r.outputs?.["value"]));
    expect(generated).toHaveLength(2);
    const passwords = [admin.password ?? "", ...generated];
    const exported = JSON.stringify(exportState(p, "dev"));
    const stateFiles = listFiles(path.join(p.dir, ".pgstack", "state")).map((f) => fs.readFileSync(f, "utf8")).join("\n");
    expect(stateFiles).toContain("fltr_auth-migrations");
    const stackFile = fs.readFileSync(path.join(p.dir, "Pulumi.dev.yaml"), "utf8");
    const backupNames = noBackups ? "" : listFiles(path.join(p.dir, "backups")).join("\n");
    expect(backupNames).toContain(noBackups ? "" : ".dump");
    for (const pw of passwords) {
      expect(pw.length).toBeGreaterThanOrEqual(16);
      expect(JSON.stringify(resources)).toContain(pw);
      expect(exported).not.toContain(pw);
      expect(stateFiles).not.toContain(pw);
      expect(stackFile).not.toContain(pw);
      expect(backupNames).not.toContain(pw);
      expect(transcript).not.toContain(pw);
      expect(processLists.join("\n")).not.toContain(pw);
    }
    // The generated password is the role's real password: the app role can log in with it.
    const appPassword = reveal(resources.find((r) => r.urn.endsWith("::fltr-fltr_app-password"))?.outputs?.["value"]);
    expect(await query({ ...admin, user: "fltr_app", password: appPassword, database: "fltr" }, "SELECT current_user AS u")).toEqual([{ u: "fltr_app" }]);
  });

  it("10. destroy of the dev stack drops its databases and roles, and nothing else", async () => {
    const destroy = p.ok(["destroy", "--stack", "dev", "--yes"]);
    expect(resourceSummary(destroy.stdout)["deleted"]).toBe(devResources());
    expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname IN ('fltr', 'fltr_auth') ORDER BY 1")).toEqual([]);
    expect(await query(conn("postgres"), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fltr%' AND rolname NOT LIKE '%\\_p' ORDER BY 1")).toEqual([]);
    // The prod-like stack's objects are still there.
    expect(await query(superuserConnection(), "SELECT datname FROM pg_database WHERE datname = 'fltr_p'")).toEqual([{ datname: "fltr_p" }]);
  });
});

/** Preview told the truth: the resources it said would change are the ones `up --plan` changed. */
function expectHonest(h: HonestUp): void {
  expect(h.planned.length).toBeGreaterThan(0);
  expect(h.changed).toEqual(h.planned);
}

/** Every file under `dir`, recursively. */
function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}
