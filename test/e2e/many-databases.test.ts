/**
 * Many databases in one stack, through `npm run up` (the real CLI, the engine's parallelism): a
 * migration that fails in one database names that database, and every other database's outcome
 * is on its own line (applied, or not started), each checked against the server. After the fix,
 * the next `up` finishes the failed one and leaves the others alone.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyProjectForCli, setSecret, setStackConfig, type CliProject } from "../support/cli.js";
import { adminConnection, query, testServerConfig } from "../support/db.js";

const admin = adminConnection();
const STACK = "many";
const NAMES = Array.from({ length: 5 }, (_, i) => `many_db_${i}`);
const BROKEN = NAMES[2]!;
const FAILURE = "broken on purpose in many_db_2";

let p: CliProject;

/** `npm run up` of the stack in the copy: its exit code and everything it printed. */
function npmRunUp(): { status: number; output: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "scripts/up.ts"], {
    cwd: p.dir,
    env: { ...process.env, PGSTACK_STACK: STACK, PULUMI_HOME: p.env["PULUMI_HOME"] },
    encoding: "utf8",
    timeout: 900_000,
  });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** The line `npm run up` printed for one database. */
function outcomeLine(output: string, db: string): string {
  return output.split("\n").find((l) => new RegExp(`^  ${db}\\s{2,}`).test(l)) ?? "";
}

/** Whether the database exists, and the migrations its history holds. */
async function applied(db: string): Promise<string[] | undefined> {
  const exists = await query(admin, "SELECT 1 FROM pg_database WHERE datname = $1", [db]);
  if (exists.length === 0) return undefined;
  const hasHistory = await query<{ ok: boolean }>({ ...admin, database: db }, "SELECT to_regclass('pgstack.migrations') IS NOT NULL AS ok");
  if (!hasHistory[0]?.ok) return [];
  return (await query<{ name: string }>({ ...admin, database: db }, "SELECT name FROM pgstack.migrations ORDER BY id")).map((r) => r.name);
}

beforeAll(() => {
  p = copyProjectForCli("pgstack-many-");
  for (const db of NAMES) {
    const dir = path.join(p.dir, "migrations", db);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "0001_create_items.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);\n");
    // Parses, lints clean and fails only when it runs.
    fs.writeFileSync(path.join(dir, "0002_seed.sql"), db === BROKEN ? `DO $$ BEGIN RAISE EXCEPTION '${FAILURE}'; END $$;\n` : "CREATE INDEX items_name_idx ON items (name);\n");
  }
  p.ok(["stack", "init", STACK]);
  setStackConfig(p, STACK, {
    server: testServerConfig(),
    databases: NAMES.map((name) => ({ name, owner: `${name}_owner`, roles: [{ name: `${name}_owner` }], schemas: ["public"], reset: { generation: 1, allowed: true } })),
    // No rehearsal in preview, so the broken migration reaches `up`.
    safety: { profile: "dev", rehearsal: false },
  });
  setSecret(p, STACK, "pgstack:adminPassword", admin.password ?? "");
});

afterAll(async () => {
  if (!p) return;
  p.run(["destroy", "--stack", STACK, "--yes"]);
  fs.rmSync(p.dir, { recursive: true, force: true });
  for (const db of NAMES) await query(admin, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
});

describe("a stack of many databases, one of them failing", () => {
  it("1. the failure names its database; every other database's line says applied or not started, as the server shows", async () => {
    const r = npmRunUp();
    expect(r.status, r.output).toBe(1);
    const outcomes: string[] = [];
    // Pulumi's own error names the resource and pgstack's names the database and the migration.
    expect(r.output).toContain(`${BROKEN}-migrations`);
    expect(r.output).toContain(FAILURE);
    expect(r.output).toMatch(new RegExp(`^  ${BROKEN}\\s+FAILED \\(\\d+ of \\d+ changes? done\\): .*`, "m"));
    expect(outcomeLine(r.output, BROKEN)).toMatch(/0002_seed|many_db_2/);
    expect(r.output).toMatch(/per database: \d+ done, 1 failed, \d+ not finished/);
    expect(r.output).toContain("run `npm run up` again");
    expect(await applied(BROKEN)).toEqual(["0001_create_items"]);
    for (const db of NAMES.filter((d) => d !== BROKEN)) {
      const line = outcomeLine(r.output, db);
      const history = await applied(db);
      if (/applied \(\d+ changes\)$/.test(line)) expect(history, line).toEqual(["0001_create_items", "0002_seed"]);
      else if (/not started \(\d+ changes pending\)$/.test(line)) expect(history, line).toBeUndefined();
      else {
        // Part-way: the line names what is not done; the migrations are done unless it names them.
        const notDone = /stopped part-way \(\d+ of \d+ changes? done; not done: (.+)\)$/.exec(line)?.[1];
        expect(notDone, line).toBeDefined();
        if (notDone!.includes(`${db}-migrations`)) expect(history ?? [], line).not.toEqual(["0001_create_items", "0002_seed"]);
        else expect(history, line).toEqual(["0001_create_items", "0002_seed"]);
      }
      outcomes.push(line.trim());
    }
    // The checked lines, for people reading the test log.
    process.stderr.write([outcomeLine(r.output, BROKEN), ...outcomes].map((l) => `[many-databases] ${l.trim()}\n`).join(""));
  });

  it("2. after the fix, the next up finishes the failed database and leaves the applied ones unchanged", async () => {
    fs.writeFileSync(path.join(p.dir, "migrations", BROKEN, "0002_seed.sql"), "CREATE INDEX items_name_idx ON items (name);\n");
    const r = npmRunUp();
    expect(r.status, r.output).toBe(0);
    expect(r.output).toMatch(new RegExp(`^  ${BROKEN}\\s+applied \\(\\d+ changes?\\)$`, "m"));
    expect(r.output).toMatch(/per database: 5 done, 0 failed, 0 not finished/);
    for (const db of NAMES) expect(await applied(db)).toEqual(["0001_create_items", "0002_seed"]);
  });
});
