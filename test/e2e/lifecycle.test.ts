/**
 * The full lifecycle through the real Pulumi engine (built from Go modules), its real plugins
 * and a real PostgreSQL: up, no-op up, preview of a new migration, drift through refresh, a
 * reset, the guard refusing, a failing migration, destroy, and no secret in plain text.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { adminConnection, query } from "../support/db.js";
import { copyProject } from "../support/project.js";
import { projectRoot as repoRoot } from "../../scripts/pulumi-env.js";
import { rawStackConfig } from "../support/stack-config.js";
import { ensureToolchain, pulumiEnv } from "../../scripts/pulumi-env.js";
import { pgstackProgram } from "../../infra/program.js";

const admin = adminConnection();
let project = "";
let env: Record<string, string> = {};
let pulumiCmd: PulumiCommand;
/** Everything the engine printed in this file, to search for secrets at the end. */
const transcript: string[] = [];
const onOutput = (s: string) => {
  transcript.push(s);
};
const conn = (database: string) => ({ ...admin, database });

/** The dev stack's databases, pointed at the test server instead of an embedded one. */
function devConfig(): Record<string, unknown> {
  const dev = rawStackConfig("dev");
  return { server: { ...(dev.server as object), embedded: false, host: admin.host, port: admin.port, adminUser: admin.user }, databases: dev.databases };
}

/** A prod-like stack (resets not allowed) on the same server, with its own database and role names. */
function prodLikeConfig(): Record<string, unknown> {
  const dbs = structuredClone(rawStackConfig("prod").databases) as { name: string; owner: string; roles: { name: string; passwordSecret?: string }[]; grants: { role: string }[]; migrations?: string }[];
  for (const db of dbs) {
    db.migrations = `migrations/${db.name}`;
    db.name = `${db.name}_p`;
    db.owner = `${db.owner}_p`;
    for (const r of db.roles) {
      r.name = `${r.name}_p`;
      delete r.passwordSecret;
    }
    for (const g of db.grants) g.role = `${g.role}_p`;
  }
  return { server: devConfig()["server"], databases: dbs };
}

async function stackWith(name: string, config: Record<string, unknown>): Promise<Stack> {
  // The program runs inline (the Automation API's own language server, in this process): the
  // Go module proxy here does not serve pulumi-language-nodejs. The engine, its state handling,
  // diffs and the dynamic-provider host are the real ones.
  const stack = await LocalWorkspace.createOrSelectStack(
    { stackName: name, projectName: "pgstack", program: () => pgstackProgram({ projectRoot: project }) },
    { workDir: project, envVars: env, pulumiCommand: pulumiCmd },
  );
  await stack.setAllConfig({
    "pgstack:server": { value: JSON.stringify(config["server"]) },
    "pgstack:databases": { value: JSON.stringify(config["databases"]) },
    "pgstack:adminPassword": { value: admin.password ?? "", secret: true },
  });
  return stack;
}

async function setDatabases(stack: Stack, databases: unknown): Promise<void> {
  await stack.setConfig("pgstack:databases", { value: JSON.stringify(databases) });
}

let dev: Stack;

beforeAll(async () => {
  const bin = ensureToolchain();
  project = copyProject();
  const state = path.join(project, ".pgstack");
  fs.mkdirSync(state, { recursive: true });
  fs.writeFileSync(path.join(state, "passphrase"), "e2e-passphrase", { mode: 0o600 });
  env = pulumiEnv(bin, { backendDir: path.join(state, "state"), passphraseFile: path.join(state, "passphrase") });
  pulumiCmd = await PulumiCommand.get({ root: path.dirname(bin) });
  dev = await stackWith("dev", devConfig());
});

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

describe("pgstack through the real Pulumi engine", () => {
  it("1. up of the dev stack creates both databases; fltr_auth has its nine tables and three foreign keys to users.id", async () => {
    const up = await dev.up({ onOutput, color: "never" });
    expect(up.summary.result).toBe("succeeded");
    // Per database: 2 roles, a generated password, the database, a schema, a backup, the reset,
    // the migrations and the verification, plus the component; and the stack itself.
    expect(up.summary.resourceChanges).toEqual({ create: 2 * 10 + 1 });
    const tables = await query<{ t: string }>(conn("fltr_auth"), "SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    const expected = ["accounts", "api_key_credits", "credit_transactions", "sessions", "subscriptions", "teams", "user_credits", "users", "verifications"];
    expect(tables.map((r) => r.t)).toEqual(expected);
    const fks = await query<{ f: string }>(
      conn("fltr_auth"),
      `SELECT conrelid::regclass::text || '.' || a.attname AS f FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.confrelid = 'public.users'::regclass ORDER BY 1`,
    );
    expect(fks.map((r) => r.f)).toEqual(["api_key_credits.user_id", "credit_transactions.user_id", "user_credits.user_id"]);
    const outputs = up.outputs["fltr_auth"]?.value as { tables: Record<string, string[]>; foreignKeys: string[]; migrationHead: string };
    expect(outputs.tables).toEqual({ public: expected });
    expect(outputs.foreignKeys.filter((f) => f.endsWith("-> public.users.id"))).toHaveLength(3);
    expect(outputs.migrationHead).toBe("0003_create_credits");
    expect((up.outputs["fltr"]?.value as { tables: Record<string, string[]> }).tables).toEqual({ public: ["datasets", "documents", "processing_jobs"] });
    // Tables belong to the owner role, and the app role can use them through the default privileges.
    expect(await query(conn("fltr_auth"), "SELECT tableowner FROM pg_tables WHERE tablename = 'users'")).toEqual([{ tableowner: "fltr_auth_owner" }]);
    expect(await query(conn("fltr_auth"), "SELECT has_table_privilege('fltr_auth_app', 'public.users', 'INSERT') AS ok")).toEqual([{ ok: true }]);
  });

  it("2. a second up changes nothing", async () => {
    const up = await dev.up({ onOutput, color: "never" });
    const changes = up.summary.resourceChanges ?? {};
    expect(Object.keys(changes).filter((k) => k !== "same")).toEqual([]);
    expect(changes["same"]).toBe(2 * 10 + 1);
  });

  it("2b. a plain `pulumi preview` through the CLI (Pulumi.yaml's main, the language host) agrees: no changes", () => {
    // The committed project, run as a user would; the stack's config is the one set above.
    const out = execFileSync(
      "pulumi",
      ["preview", "--stack", "dev", "--expect-no-changes", "--non-interactive", "--color", "never", "--config-file", path.join(project, "Pulumi.dev.yaml")],
      { cwd: repoRoot, env: { ...process.env, ...env }, encoding: "utf8" },
    );
    transcript.push(out);
    expect(out).toMatch(/Resources:\s+21 unchanged/);
  });

  it("3. a new migration shows in preview with its id and SQL, then up applies it", async () => {
    const file = path.join(project, "migrations", "fltr_auth", "0004_add_team_members.sql");
    fs.writeFileSync(file, "CREATE TABLE team_members (\n    team_id text NOT NULL REFERENCES teams (id),\n    user_id text NOT NULL,\n    PRIMARY KEY (team_id, user_id)\n);\n");
    let out = "";
    const preview = await dev.preview({ diff: true, color: "never", onOutput: (s) => { out += s; onOutput(s); } });
    expect(preview.changeSummary["update"]).toBe(1);
    expect(preview.changeSummary["create"] ?? 0).toBe(0);
    expect(preview.changeSummary["delete"] ?? 0).toBe(0);
    // One MigrationSet changes, fltr_auth's; the verification re-runs after it (its input, the
    // migration head, is only known once the migrations ran).
    expect(out.match(/~ pulumi-nodejs:dynamic\/pgstack:MigrationSet: \(update\)/g)).toHaveLength(1);
    expect(out).toMatch(/MigrationSet: \(update\)\s+(\[id=[^\]]*\]\s+)?\[urn=[^\]]*::fltr_auth-migrations\]/);
    expect(out).toContain("0004_add_team_members");
    expect(out).toContain("CREATE TABLE team_members");
    const up = await dev.up({ onOutput, color: "never" });
    expect(up.summary.resourceChanges?.["update"]).toBeGreaterThanOrEqual(1);
    expect(await query(conn("fltr_auth"), "SELECT name FROM pgstack.migrations ORDER BY id DESC LIMIT 1")).toEqual([{ name: "0004_add_team_members" }]);
    expect((up.outputs["fltr_auth"]?.value as { tables: Record<string, string[]> }).tables["public"]).toContain("team_members");
  });

  it("4. drift: a hand-run ALTER TABLE shows in refresh as a changed inventory and fingerprint", async () => {
    const before = await resourceOutputs(dev, "fltr-verification");
    await query(conn("fltr"), "ALTER TABLE datasets ADD COLUMN archived_at timestamptz");
    let out = "";
    const refresh = await dev.refresh({ color: "never", onOutput: (s) => { out += s; onOutput(s); } });
    expect(refresh.summary.resourceChanges?.["update"]).toBeGreaterThanOrEqual(1);
    const after = await resourceOutputs(dev, "fltr-verification");
    expect(after["fingerprint"]).not.toBe(before["fingerprint"]);
    expect(after["drift"]).toBe("drifted: table public.datasets changed");
    expect(JSON.stringify(after["inventory"])).toContain("archived_at timestamp with time zone");
    expect(out).toMatch(/fltr-verification/);
    // The next up re-verifies against the live schema and clears the drift.
    const up = await dev.up({ onOutput, color: "never" });
    expect((up.outputs["fltr"]?.value as { drift: string }).drift).toBe("in sync");
  });

  it("5. a reset-generation bump on dev: backup, refusal with rows, then nuke, rebuild and re-apply", async () => {
    await query(conn("fltr"), "INSERT INTO datasets (name, created_by) VALUES ('sprint-32', 'ops')");
    const dbs = structuredClone(rawStackConfig("dev").databases) as { reset: { generation: number; acceptDataLoss?: number } }[];
    dbs[0]!.reset.generation = 2;
    await setDatabases(dev, dbs);
    // Rows are present and data loss was not accepted: the reset refuses before dropping anything.
    const refused = await dev.up({ onOutput, color: "never" }).catch((e: unknown) => e as Error);
    expect(refused).toBeInstanceOf(Error);
    expect(String(refused)).toContain("public.datasets: 1 row(s)");
    expect(String(refused)).toContain("reset.acceptDataLoss: 2");
    expect(await query(conn("fltr"), "SELECT name FROM datasets")).toEqual([{ name: "sprint-32" }]);

    dbs[0]!.reset.acceptDataLoss = 2;
    await setDatabases(dev, dbs);
    const up = await dev.up({ onOutput, color: "never" });
    expect(up.summary.resourceChanges?.["replace"]).toBeGreaterThanOrEqual(1);
    const fltr = up.outputs["fltr"]?.value as { lastBackup: string; resetGeneration: number; tables: Record<string, string[]>; migrationHead: string };
    expect(fltr.resetGeneration).toBe(2);
    const backup = path.join(project, fltr.lastBackup);
    expect(fs.existsSync(backup)).toBe(true);
    const listing = execFileSync(path.join(inject("pgBinDir") || "/usr/lib/postgresql/15/bin", "pg_restore"), ["--list", backup], { encoding: "utf8" });
    expect(listing).toContain("TABLE DATA public datasets");
    expect(await query(conn("fltr"), "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 0 }]);
    expect(await query(conn("fltr"), "SELECT to_regclass('public.datasets')::text AS t, to_regclass('public.documents')::text AS d")).toEqual([{ t: "datasets", d: "documents" }]);
    expect(await query(conn("fltr"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
    expect(await query(conn("fltr"), "SELECT value FROM pgstack.meta WHERE key = 'reset_generation'")).toEqual([{ value: "2" }]);
    expect(fltr.tables).toEqual({ public: ["datasets", "documents", "processing_jobs"] });
    // The hand-added column is gone with the rebuild.
    expect(await query(conn("fltr"), "SELECT 1 FROM information_schema.columns WHERE table_name = 'datasets' AND column_name = 'archived_at'")).toEqual([]);
    // fltr_auth was not touched.
    expect(await query(conn("fltr_auth"), "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
  });

  it("6. the same bump on a prod-like stack fails at preview with the guard's message; rows stay", async () => {
    const cfg = prodLikeConfig();
    const prod = await stackWith("prodlike", cfg);
    await prod.up({ onOutput, color: "never" });
    await query(conn("fltr_p"), "INSERT INTO datasets (name, created_by) VALUES ('customer-data', 'ops')");
    const dbs = cfg["databases"] as { reset: { generation: number; acceptDataLoss?: number } }[];
    dbs[0]!.reset.generation = 2;
    dbs[0]!.reset.acceptDataLoss = 2;
    await setDatabases(prod, dbs);
    const err = await prod.preview({ onOutput, color: "never" }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toContain('stack "prodlike" does not allow resetting database "fltr_p" (generation 1 → 2)');
    expect(String(err)).toContain("set pgstack:databases[0].reset.allowed: true");
    const upErr = await prod.up({ onOutput, color: "never" }).catch((e: unknown) => e as Error);
    expect(String(upErr)).toContain("does not allow resetting");
    expect(await query(conn("fltr_p"), "SELECT name FROM datasets")).toEqual([{ name: "customer-data" }]);
  });

  it("7. a migration with an SQL error fails up naming file:line; earlier ones stay; the fixed file completes", async () => {
    const dir = path.join(project, "migrations", "fltr");
    fs.writeFileSync(path.join(dir, "0005_add_tags.sql"), "CREATE TABLE tags (id int PRIMARY KEY, name text NOT NULL);\n");
    fs.writeFileSync(path.join(dir, "0006_tag_documents.sql"), "CREATE TABLE document_tags (\n    document_id bigint NOT NULL REFERENCES documents (id),\n    tag_id int NOT NULL REFERENCES tagz (id)\n);\n");
    const err = await dev.up({ onOutput, color: "never" }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toContain("migrations/fltr/0006_tag_documents.sql:3:");
    expect(String(err)).toContain('relation "tagz" does not exist');
    expect(await query(conn("fltr"), "SELECT name FROM pgstack.migrations ORDER BY id DESC LIMIT 1")).toEqual([{ name: "0005_add_tags" }]);
    expect(await query(conn("fltr"), "SELECT to_regclass('public.document_tags') AS t")).toEqual([{ t: null }]);
    fs.writeFileSync(path.join(dir, "0006_tag_documents.sql"), "CREATE TABLE document_tags (\n    document_id bigint NOT NULL REFERENCES documents (id),\n    tag_id int NOT NULL REFERENCES tags (id)\n);\n");
    const up = await dev.up({ onOutput, color: "never" });
    expect(up.summary.result).toBe("succeeded");
    expect((up.outputs["fltr"]?.value as { migrationHead: string }).migrationHead).toBe("0006_tag_documents");
  });

  it("9. no password appears in plain text in the state, the engine's output or any error", async () => {
    // The passwords to look for: the admin's, and the role passwords pgstack generated, read
    // back through the engine's own decryption.
    const revealed = execFileSync("pulumi", ["stack", "export", "--show-secrets", "--stack", "dev"], {
      cwd: project,
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    // `--show-secrets` prints a secret as {<sig>, plaintext: "<JSON>"}.
    const reveal = (v: unknown): string => {
      const plaintext = (v as { plaintext?: string } | undefined)?.plaintext;
      return plaintext === undefined ? String(v) : (JSON.parse(plaintext) as string);
    };
    const resources = JSON.parse(revealed).deployment.resources as { type: string; urn: string; outputs?: { value?: unknown } }[];
    const generated = resources.filter((r) => r.type.endsWith("GeneratedPassword")).map((r) => reveal(r.outputs?.value));
    expect(generated).toHaveLength(2);
    const passwords = [admin.password ?? "", ...generated];
    // What `pulumi stack export` prints, and the state files exactly as they sit on disk.
    const exported = execFileSync("pulumi", ["stack", "export", "--stack", "dev"], { cwd: project, env: { ...process.env, ...env }, encoding: "utf8" });
    const stateFiles = listFiles(path.join(project, ".pgstack", "state")).map((f) => fs.readFileSync(f, "utf8")).join("\n");
    expect(stateFiles).toContain("fltr_auth-migrations");
    const outputs = JSON.stringify(await dev.outputs());
    for (const pw of passwords) {
      expect(pw.length).toBeGreaterThanOrEqual(16);
      expect(revealed).toContain(pw);
      expect(exported).not.toContain(pw);
      expect(stateFiles).not.toContain(pw);
      expect(outputs).not.toContain(pw);
      expect(transcript.join("")).not.toContain(pw);
    }
    // The generated password is the role's real password: the app role can log in with it.
    const appPassword = reveal(resources.find((r) => r.urn.endsWith("::fltr-fltr_app-password"))?.outputs?.value);
    expect(await query({ ...admin, user: "fltr_app", password: appPassword, database: "fltr" }, "SELECT current_user AS u")).toEqual([{ u: "fltr_app" }]);
  });

  it("8. destroy of the dev stack drops its databases", async () => {
    const res = await dev.destroy({ onOutput, color: "never" });
    expect(res.summary.result).toBe("succeeded");
    expect(await query(conn("postgres"), "SELECT datname FROM pg_database WHERE datname IN ('fltr', 'fltr_auth')")).toEqual([]);
    expect(await query(conn("postgres"), "SELECT rolname FROM pg_roles WHERE rolname LIKE 'fltr%' AND rolname NOT LIKE '%\\_p' ORDER BY 1")).toEqual([]);
  });
});

/** Every file under `dir`, recursively. */
function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** The outputs of one resource in the stack's state. */
async function resourceOutputs(stack: Stack, name: string): Promise<Record<string, unknown>> {
  const state = await stack.exportStack();
  const res = (state.deployment as { resources: { urn: string; outputs?: Record<string, unknown> }[] }).resources.find((r) => r.urn.endsWith(`::${name}`));
  if (!res) throw new Error(`no resource ${name} in the state`);
  return res.outputs ?? {};
}
