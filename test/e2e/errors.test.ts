/**
 * What a user sees when pgstack refuses or fails, through the plain Pulumi CLI on a prod-like
 * stack: the message (what, where, what to do), and never a stack trace or a Pulumi property
 * dump (`property declared value {map[…]} has a problem:`) before it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { adminConnection, query, testServerConfig } from "../support/db.js";
import { copyProjectForCli, setDatabases, setSecret, setStackConfig, type CliProject } from "../support/cli.js";

const admin = adminConnection();
const DB = "errs_p";
const conn = { ...admin, database: DB };
const show = (label: string, text: string) => {
  if (process.env["PGSTACK_SHOW_PREVIEW"]) console.log(`----- ${label} -----\n${text}`);
};

let p: CliProject;
const databases = () => [{ name: DB, owner: "errs_owner_p", roles: [{ name: "errs_owner_p" }], migrations: "migrations/errs", reset: { generation: 1, allowed: false } }];

/** A JavaScript stack frame (`    at fn (file.ts:1:2)`), as Node prints them. */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;
/** The engine's dump of a check failure's property value. */
const PROPERTY_DUMP = /property \S+ value .* has a problem/;

function expectClean(output: string): void {
  expect(output).not.toMatch(STACK_FRAME);
  expect(output).not.toMatch(PROPERTY_DUMP);
  expect(output).not.toContain("{map[");
}

beforeAll(() => {
  p = copyProjectForCli("pgstack-errors-");
  const dir = path.join(p.dir, "migrations", "errs");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "0001_items.sql"), "CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL);\n");
  p.ok(["stack", "init", "prodlike"]);
  setStackConfig(p, "prodlike", { server: testServerConfig(), databases: databases() });
  setSecret(p, "prodlike", "pgstack:adminPassword", admin.password ?? "");
});

afterAll(() => {
  if (p) fs.rmSync(p.dir, { recursive: true, force: true });
});

describe("errors as a user sees them (prod-like stack, plain pulumi CLI)", () => {
  it("1. the first up succeeds", async () => {
    p.ok(["up", "--stack", "prodlike", "--yes"]);
    await query(conn, "INSERT INTO items VALUES (1, 'kept')");
  });

  it("2. a refused reset: the guard's message and what to do, no property dump, no stack trace", () => {
    const dbs = databases();
    dbs[0]!.reset.generation = 2;
    setDatabases(p, "prodlike", dbs);
    const preview = p.run(["preview", "--stack", "prodlike"]);
    setDatabases(p, "prodlike", databases());
    show("refused reset", preview.output);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain(`stack "prodlike" does not allow resetting database "${DB}" (generation 1 → 2)`);
    expect(preview.output).toContain("set pgstack:databases[0].reset.allowed: true");
    expectClean(preview.output);
  });

  it("3. refused drift: the report and what to do, no property dump, no stack trace", async () => {
    await query(conn, "ALTER TABLE items ADD COLUMN note text");
    const preview = p.run(["preview", "--stack", "prodlike"]);
    await query(conn, "ALTER TABLE items DROP COLUMN note");
    show("refused drift", preview.output);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain(`database "${DB}" has drifted from its migrations`);
    expect(preview.output).toContain("pgstack:databases[0].drift.accept");
    expectClean(preview.output);
  });

  it("4. a server pgstack cannot log in to: the connection error and what to check, no stack trace", () => {
    setSecret(p, "prodlike", "pgstack:adminPassword", "not-the-password");
    const preview = p.run(["preview", "--stack", "prodlike"]);
    setSecret(p, "prodlike", "pgstack:adminPassword", admin.password ?? "");
    show("wrong password", preview.output);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toMatch(/password authentication failed/);
    // The connection error's own hint survives the safety check's context.
    expect(preview.output).toContain("check the secret named by pgstack:server.adminPasswordSecret");
    expect(preview.output).not.toContain("internal error");
    expect(preview.output).not.toContain("not-the-password");
    expectClean(preview.output);
  });

  it("5. afterwards the stack is settled: nothing was changed by the refused runs", async () => {
    p.ok(["preview", "--stack", "prodlike", "--expect-no-changes"]);
    expect(await query(conn, "SELECT name FROM items")).toEqual([{ name: "kept" }]);
  });
});
