/**
 * Real tools, real histories: for each migration tool a database is built and migrated by the
 * REAL tool (golang-migrate, goose, dbmate, drizzle-kit; Flyway's and Prisma's history written in
 * their documented layouts), connecting as the application's owner role (LOGIN CREATEROLE, its own
 * password); rows are added; then pgstack adopts it by following the README: `npm run import` of
 * the tool's folder, `adopt: true` on the database and its roles in a prod-like stack, the admin
 * password as a secret, and the plain Pulumi CLI as the harness's non-superuser admin, who is not
 * yet a member of the owner role. All tools' databases sit in one stack, so one preview and one up
 * cover them. PGSTACK_REAL_TOOLS=goose,dbmate runs only those tools.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quoteLiteral } from "../../infra/lifecycle/identifiers.js";
import type { ReviewReport } from "../../infra/review/model.js";
import { copyProjectForCli, resourceSummary, setSecret, setStackConfig, stackOutputs, type CliProject, type CliResult } from "../support/cli.js";
import { adminConnection, query, superuserConnection, testServerConfig } from "../support/db.js";
import { selectedTools, type RealTool } from "../support/real-tools.js";

const STACK = "realtools";
const admin = adminConnection();
const su = superuserConnection();
const tools = selectedTools();
const owner = (t: RealTool) => `${t.db}_owner`;
const reporting = (t: RealTool) => `${t.db}_reporting`;
const password = Object.fromEntries(tools.map((t) => [t.db, randomBytes(15).toString("base64url")]));
const asOwner = (t: RealTool) => ({ ...admin, user: owner(t), password: password[t.db]!, database: t.db });
/** The test's own reads (history tables, pgstack's records) go through the superuser: they must not depend on what pgstack granted. */
const inspect = (t: RealTool) => ({ ...su, database: t.db });
const TABLES = ["public.customers", "public.orders", "public.products", "public.settings", "billing.invoices"];
/** Every output a user would see, kept for people to read (git-ignored). */
const ARTIFACT = path.join("test", "artifacts", `adopt-real-tools${process.env["PGSTACK_REAL_TOOLS"] ? `-${tools.map((t) => t.from).join("-")}` : ""}.log`);

interface Before {
  applied: string;
  history: unknown[];
  rows: Record<string, number>;
}
const before: Record<string, Before> = {};
const imports: Record<string, CliResult> = {};
let p: CliProject;
let preview1: CliResult;
let up1: CliResult;
const log: string[] = [];

/** The tool's whole history table, row by row, to compare before and after. */
const history = async (t: RealTool) => (await query<{ r: unknown }>(inspect(t), `SELECT row_to_json(h)::text AS r FROM ${t.historyTable} h ORDER BY 1`)).map((x) => x.r);
const rowCounts = async (t: RealTool) => {
  const out: Record<string, number> = {};
  for (const table of TABLES) out[table] = Number((await query<{ n: string }>(asOwner(t), `SELECT count(*) AS n FROM ${table}`))[0]?.n);
  return out;
};
/** What a user sees about one database: the output's lines that name it or one of its roles (`rt_goose_owner`), each once. */
const linesAbout = (t: RealTool, output: string) => [...new Set(output.split("\n").filter((l) => new RegExp(`\\b${t.db}(?:_\\w+)?\\b`).test(l)).map((l) => l.trim()))];
/** Why a CLI run failed, for this database: its error lines, or the first error of the run (another database's). */
const failureFor = (t: RealTool, r: CliResult) => {
  const mine = linesAbout(t, r.output).filter((l) => /error|refus|failed|denied/i.test(l));
  const first = r.output.split("\n").find((l) => /^\s*error: /.test(l))?.trim() ?? "(no error line)";
  return mine.length > 0 ? `its errors about ${t.db}:\n${mine.join("\n")}` : `nothing about ${t.db}; the run's first error: ${first}`;
};
const imported = (t: RealTool) => imports[t.db]?.status === 0;
const adopted = () => tools.filter(imported);
/** Checked after a "kept" assertion: what nothing touched proves nothing until the adoption ran. */
const adoptionRan = (what: string) =>
  expect(up1.status, `${what} held, but proves nothing yet: the first pulumi up failed, so nothing was adopted`).toBe(0);

function runImport(t: RealTool): CliResult {
  const r = spawnSync("npm", ["run", "--silent", "import", "--", "--from", t.from, t.importDir, "--db", t.db], { cwd: p.dir, encoding: "utf8", timeout: 120_000 });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr, output: `${r.stdout}${r.stderr}` };
}

function stackDatabases() {
  return adopted().map((t) => ({
    name: t.db,
    owner: owner(t),
    adopt: true,
    // The owner is the application's login role; its password stays the application's own.
    roles: [
      { name: owner(t), login: true, adopt: true },
      { name: reporting(t), adopt: true },
    ],
    schemas: ["public", "billing"],
    expect: { tables: ["customers", "orders", "billing.invoices"], foreignKeys: ["orders.customer_id -> customers.id", "billing.invoices.order_id -> orders.id"] },
  }));
}

beforeAll(async () => {
  for (const t of tools) {
    // As a team has it: the owner role and its database, made by the server's administrator.
    await query(su, `DROP DATABASE IF EXISTS ${t.db} WITH (FORCE)`);
    await query(su, `DROP ROLE IF EXISTS ${reporting(t)}`);
    await query(su, `DROP ROLE IF EXISTS ${owner(t)}`);
    await query(su, `CREATE ROLE ${owner(t)} LOGIN CREATEROLE PASSWORD ${quoteLiteral(password[t.db]!)}`);
    await query(su, `CREATE DATABASE ${t.db} OWNER ${owner(t)}`);
    const applied = await t.apply(asOwner(t));
    await query(
      asOwner(t),
      `INSERT INTO customers (email, name) VALUES ('ada@example.test', 'Ada'), ('bob@example.test', 'Bob');
       INSERT INTO orders (customer_id, status, total_cents) SELECT id, 'paid', 1200 FROM customers;
       INSERT INTO billing.invoices (order_id, amount_cents) SELECT id, total_cents FROM orders;`,
    );
    before[t.db] = { applied, history: await history(t), rows: await rowCounts(t) };
    log.push(`=== ${t.from}: the real tool, as ${owner(t)}\n${applied}`);
  }

  p = copyProjectForCli("pgstack-realtools-");
  for (const t of tools) {
    imports[t.db] = runImport(t);
    log.push(`=== ${t.from}: npm run import (exit ${imports[t.db]!.status})\n${imports[t.db]!.output}`);
  }
  p.ok(["stack", "init", STACK]);
  setStackConfig(p, STACK, { server: testServerConfig(), databases: stackDatabases(), safety: { profile: "prod" } });
  setSecret(p, STACK, "pgstack:adminPassword", admin.password ?? "");
  preview1 = p.run(["preview", "--stack", STACK]);
  up1 = p.run(["up", "--stack", STACK, "--yes"]);
  log.push(`=== first preview (exit ${preview1.status})\n${preview1.output}`, `=== first up (exit ${up1.status})\n${up1.output}`);
});

afterAll(async () => {
  fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
  fs.writeFileSync(ARTIFACT, log.join("\n\n"));
  if (p) {
    // The databases are protected (prod-like) and adopted: the stack goes, the test drops them.
    p.run(["stack", "rm", "--stack", STACK, "--force", "--yes"]);
    fs.rmSync(p.dir, { recursive: true, force: true });
  }
  for (const t of tools) {
    await query(su, `DROP DATABASE IF EXISTS ${t.db} WITH (FORCE)`);
    await query(su, `DROP ROLE IF EXISTS ${reporting(t)}`);
    await query(su, `DROP ROLE IF EXISTS ${owner(t)}`);
  }
});

describe.each(tools.map((t) => [t.from, t] as const))("%s: adopted by following the README", (_name, t) => {
  it("the real tool applied its folder and the import converts it", async () => {
    expect(before[t.db]!.history.length, `${t.historyTable} after the tool ran`).toBeGreaterThan(0);
    expect(imports[t.db]!.status, `npm run import -- --from ${t.from} failed:\n${imports[t.db]!.output}`).toBe(0);
    const files = fs.readdirSync(path.join(p.dir, "migrations", t.db)).filter((f) => f.endsWith(".sql"));
    expect(files.length, `files written by the import into migrations/${t.db}`).toBe(t.migrations);
  });

  it("the first `pulumi preview` succeeds, as the admin that is not yet a member of the owner role", () => {
    expect(imported(t), `not in the stack: the import failed`).toBe(true);
    expect(preview1.status, `pulumi preview failed (exit ${preview1.status}); ${failureFor(t, preview1)}`).toBe(0);
    const problems = linesAbout(t, preview1.output).filter((l) => /error|refus|failed|denied/i.test(l));
    expect(problems, `the preview's problems with ${t.db}:\n${problems.join("\n")}`).toEqual([]);
  });

  it("the first preview imports the adopted roles and changes none of them", () => {
    expect(imported(t), `not in the stack: the import failed`).toBe(true);
    // Each step line is printed twice (progress and summary): one per step.
    const roleSteps = linesAbout(t, preview1.output).filter((l) => new RegExp(`postgresql:index:Role ${t.db}-role-`).test(l));
    expect(roleSteps.filter((l) => / import\s*$/.test(l)), `the preview's steps for ${t.db}'s roles:\n${roleSteps.join("\n")}`).toHaveLength(2);
    const changed = roleSteps.filter((l) => !/ import\s*$/.test(l));
    expect(changed, `adopted roles the preview would change:\n${changed.join("\n")}`).toEqual([]);
  });

  it("the first `pulumi up` adopts it in one go", () => {
    expect(imported(t), `not in the stack: the import failed`).toBe(true);
    expect(up1.status, `pulumi up failed (exit ${up1.status}); ${failureFor(t, up1)}`).toBe(0);
  });

  it("nothing re-ran: the tool's history is untouched and pgstack recorded each imported migration once, without running it", async () => {
    expect(await history(t), `${t.historyTable} changed`).toEqual(before[t.db]!.history);
    expect(imported(t), `not in the stack: the import failed`).toBe(true);
    const names = fs.readdirSync(path.join(p.dir, "migrations", t.db)).filter((f) => f.endsWith(".sql")).sort().map((f) => f.replace(/\.sql$/, ""));
    const recorded = await query<{ name: string; baselined: boolean }>(inspect(t), "SELECT name, baselined FROM pgstack.migrations ORDER BY id").catch((e: Error) => {
      throw new Error(`pgstack's history cannot be read in ${t.db}: ${e.message}`);
    });
    expect(recorded.map((r) => r.name), `pgstack.migrations in ${t.db}`).toEqual(names);
    expect(recorded.filter((r) => !r.baselined).map((r) => r.name), "migrations pgstack ran instead of recording them as applied").toEqual([]);
  });

  it("the rows are kept", async () => {
    expect(await rowCounts(t), `row counts in ${t.db} after the adoption`).toEqual(before[t.db]!.rows);
    adoptionRan("the row counts");
  });

  it("the owner keeps CREATEROLE and LOGIN, the application's password still works, the migrations' role is as it was", async () => {
    const [o] = await query<{ rolcreaterole: boolean; rolcanlogin: boolean; rolcreatedb: boolean; rolinherit: boolean }>(
      su,
      "SELECT rolcreaterole, rolcanlogin, rolcreatedb, rolinherit FROM pg_roles WHERE rolname = $1",
      [owner(t)],
    );
    expect(o, `${owner(t)}'s attributes after the adoption`).toEqual({ rolcreaterole: true, rolcanlogin: true, rolcreatedb: false, rolinherit: true });
    const who = await query<{ u: string }>(asOwner(t), "SELECT current_user AS u").catch((e: Error) => [{ u: `login with the application's password failed: ${e.message}` }]);
    expect(who, `${owner(t)} logging in with the application's password`).toEqual([{ u: owner(t) }]);
    const [r] = await query(su, "SELECT rolcanlogin, rolcreaterole FROM pg_roles WHERE rolname = $1", [reporting(t)]);
    expect(r, `${reporting(t)} (created by the migrations)`).toEqual({ rolcanlogin: false, rolcreaterole: false });
    adoptionRan("the roles' attributes and the password");
  });

  it("drift is in sync (the stack output)", () => {
    expect(up1.status, "pulumi up failed, so there is no output to read").toBe(0);
    const out = stackOutputs(p, STACK)[t.db];
    expect(out?.["drift"], `${t.db}'s drift output; driftReport: ${JSON.stringify(out?.["driftReport"])}`).toBe("in sync");
  });
});

describe("after the adoption", () => {
  let preview2: CliResult;
  beforeAll(() => {
    preview2 = p.run(["preview", "--stack", STACK]);
    log.push(`=== second preview (exit ${preview2.status})\n${preview2.output}`);
  });

  it.each(tools.map((t) => [t.from, t] as const))("%s: a second preview has no changes", (_name, t) => {
    expect(preview2.status, `the second preview failed; ${failureFor(t, preview2)}`).toBe(0);
    const changing = linesAbout(t, preview2.output).filter((l) => /^[+~-]|\[diff|will run|[1-9]\d* pending|drifted/i.test(l));
    expect(changing, `the second preview's changes for ${t.db}:\n${changing.join("\n")}`).toEqual([]);
    expect(Object.keys(resourceSummary(preview2.output)), `the second preview's summary`).toEqual(["unchanged"]);
  });
});

describe("a new migration after the adoption", () => {
  const added: Record<string, string> = {};
  let review: { status: number; stderr: string; report?: ReviewReport };
  let up2: CliResult;

  beforeAll(() => {
    for (const t of adopted()) {
      const dir = path.join(p.dir, "migrations", t.db);
      const last = fs.readdirSync(dir).filter((f) => f.endsWith(".sql")).sort().at(-1) ?? "0000_";
      const digits = /^\d+/.exec(last)![0];
      added[t.db] = `${String(Number(digits) + 1).padStart(digits.length, "0")}_create_coupons`;
      fs.writeFileSync(path.join(dir, `${added[t.db]}.sql`), "CREATE TABLE coupons (\n  code text PRIMARY KEY,\n  percent integer NOT NULL CHECK (percent BETWEEN 1 AND 100)\n);\n");
    }
    const out = path.join(p.dir, ".pgstack", "review", "realtools");
    const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/review.ts", "-s", STACK, "--json", `${out}.json`, "--out", `${out}.md`], {
      cwd: p.dir,
      env: { ...process.env, PULUMI_HOME: p.env["PULUMI_HOME"] },
      encoding: "utf8",
      timeout: 300_000,
    });
    review = { status: r.status ?? -1, stderr: r.stderr, report: fs.existsSync(`${out}.json`) ? (JSON.parse(fs.readFileSync(`${out}.json`, "utf8")) as ReviewReport) : undefined };
    log.push(`=== npm run review (exit ${review.status})\n${r.stderr}\n${fs.existsSync(`${out}.md`) ? fs.readFileSync(`${out}.md`, "utf8") : "(no report)"}`);
    up2 = p.run(["up", "--stack", STACK, "--yes"]);
    log.push(`=== up with the new migration (exit ${up2.status})\n${up2.output}`);
  });

  it.each(tools.map((t) => [t.from, t] as const))("%s: the review reports no finding that comes from the adoption", (_name, t) => {
    expect(review.report, `npm run review produced no report (exit ${review.status}):\n${review.stderr.slice(-3000)}`).toBeDefined();
    const db = review.report!.databases.find((d) => d.database === t.db);
    expect(db, `${t.db} is not in the review`).toBeDefined();
    expect(db!.pending.map((m) => m.name), `${t.db}'s pending migrations in the review`).toEqual([added[t.db]]);
    const fromAdoption = review.report!.verdict.reasons.filter((r) => r.startsWith(`${t.db}: `) && !r.includes(`${added[t.db]}.sql`));
    expect(fromAdoption, `${t.db}'s findings that are not about the new migration:\n${fromAdoption.join("\n")}`).toEqual([]);
    expect(db!.drift ?? [], `${t.db}'s drift in the review`).toEqual([]);
  });

  it.each(tools.map((t) => [t.from, t] as const))("%s: the new migration applies once, the tool's history still untouched", async (_name, t) => {
    expect(up2.status, `pulumi up failed (exit ${up2.status}); ${failureFor(t, up2)}`).toBe(0);
    const rows = await query<{ name: string; baselined: boolean }>(inspect(t), "SELECT name, baselined FROM pgstack.migrations WHERE name = $1", [added[t.db]]);
    expect(rows, `${added[t.db]} in pgstack.migrations`).toEqual([{ name: added[t.db], baselined: false }]);
    expect(await query(asOwner(t), "SELECT to_regclass('public.coupons')::text AS t"), "the new table").toEqual([{ t: "coupons" }]);
    expect(await history(t), `${t.historyTable} after the new migration`).toEqual(before[t.db]!.history);
    expect(await rowCounts(t), `row counts in ${t.db}`).toEqual(before[t.db]!.rows);
  });
});
