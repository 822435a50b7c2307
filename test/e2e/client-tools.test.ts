/**
 * The backup's client tools against the server, through the plain Pulumi CLI:
 * - on a PostgreSQL 18 server with the local pg_dump 15, `pulumi preview` refuses in three lines
 *   (the server's version, the client's, the fix) and `pulumi up` creates nothing; `backup: false`
 *   then works, and turning backups back on is refused again;
 * - a pg_dump that fails on its own (here: a table the admin may not read) shows pg_dump's error,
 *   once, and not the backup script.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { copyProjectForCli, exportState, resourceSummary, setDatabases, setSecret, setStackConfig, stackOutputs, type CliProject } from "../support/cli.js";
import { query } from "../support/db.js";
import { DEBIAN_BIN } from "../support/postgres.js";
import { serverOfMajor, type MajorServer } from "../support/servers.js";

const show = (label: string, text: string) => {
  if (process.env["PGSTACK_SHOW_PREVIEW"]) console.log(`----- ${label} -----\n${text}`);
};
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
/** The local client the suites have: Debian's PostgreSQL 15. */
const PG_DUMP_15 = path.join(DEBIAN_BIN, "pg_dump");

/** A project copy with one stack on `admin`'s server, its backups made by `pgDump`. */
function project(stack: string, admin: ConnectionOptions, pgDump: string): CliProject {
  const p = copyProjectForCli(`pgstack-${stack}-`);
  p.env["PGSTACK_PG_DUMP"] = pgDump;
  p.ok(["stack", "init", stack]);
  setStackConfig(p, stack, { server: { embedded: false, host: admin.host, port: admin.port, adminUser: admin.user, sslmode: "disable" } });
  setSecret(p, stack, "pgstack:adminPassword", admin.password ?? "");
  return p;
}

const servers: MajorServer[] = [];
const projects: CliProject[] = [];
afterAll(async () => {
  for (const p of projects) fs.rmSync(p.dir, { recursive: true, force: true });
  for (const s of servers) await s.stop();
});

describe("a PostgreSQL 18 server and the local pg_dump 15", () => {
  const DB = "clients18";
  const OWNER = "clients18_owner";
  const databases = (backup?: boolean) => [
    { name: DB, owner: OWNER, roles: [{ name: OWNER }], migrations: "migrations/fltr", reset: { generation: 1, allowed: false }, ...(backup === undefined ? {} : { backup }) },
  ];
  let admin: ConnectionOptions;
  let p: CliProject;

  beforeAll(async () => {
    const s = await serverOfMajor(18);
    servers.push(s);
    admin = s.admin;
    p = project("v18", admin, PG_DUMP_15);
    projects.push(p);
    setDatabases(p, "v18", databases());
  });

  const created = async () => ({
    roles: await query(admin, "SELECT rolname FROM pg_roles WHERE rolname = $1", [OWNER]),
    databases: await query(admin, "SELECT datname FROM pg_database WHERE datname = $1", [DB]),
    resources: (exportState(p, "v18").deployment.resources ?? []).length,
  });

  it("preview refuses in three lines: the server's version, the client's, the fix", async () => {
    const version = (await query<{ v: string }>(admin, "SELECT split_part(current_setting('server_version'), ' ', 1) AS v"))[0]!.v;
    const client = /\(PostgreSQL\) (\S+)/.exec(execFileSync(PG_DUMP_15, ["--version"], { encoding: "utf8" }))?.[1];
    const preview = p.run(["preview", "--stack", "v18"]);
    show("v18 preview", preview.output);
    expect(preview.status).not.toBe(0);
    const server = `${admin.host}:${admin.port}`;
    const lines = [
      `the server ${server} runs PostgreSQL ${version}`,
      `the backup's pg_dump ${client} (${PG_DUMP_15}) dumps only PostgreSQL 15 and older, and refuses this server`,
      "→ install the PostgreSQL 18 client tools and set PGSTACK_PG_DUMP to their pg_dump (pg_restore beside it), or set pgstack:databases[0].backup: false to take no backup",
    ];
    // The three lines, in order (the engine indents all but the first), and the block once.
    const block = new RegExp(lines.map(escape).join("\\n\\s*"), "g");
    expect(preview.output.match(block)).toHaveLength(1);
    expect(await created()).toEqual({ roles: [], databases: [], resources: 0 });
  });

  it("up refuses the same way and creates nothing (no half-done up)", async () => {
    const up = p.run(["up", "--stack", "v18", "--yes"]);
    show("v18 up", up.output);
    expect(up.status).not.toBe(0);
    expect(up.output).toContain("dumps only PostgreSQL 15 and older, and refuses this server");
    expect(up.output).not.toContain("server version mismatch");
    expect(await created()).toEqual({ roles: [], databases: [], resources: 0 });
  });

  it("with backup: false, up works", async () => {
    setDatabases(p, "v18", databases(false));
    p.ok(["up", "--stack", "v18", "--yes"]);
    expect(await query({ ...admin, database: DB }, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
  });

  it("turning backups back on is refused again, before the backup runs", async () => {
    setDatabases(p, "v18", databases(true));
    const preview = p.run(["preview", "--stack", "v18"]);
    expect(preview.status).not.toBe(0);
    expect(preview.output).toContain("or set pgstack:databases[0].backup: false to take no backup");
    expect(fs.existsSync(path.join(p.dir, "backups"))).toBe(false);
    setDatabases(p, "v18", databases(false));
  });
});

describe("a pg_dump that fails on its own", () => {
  const DB = "clients15";
  const OWNER = "clients15_owner";
  const databases = (generation: number, backup: boolean) => [
    { name: DB, owner: OWNER, roles: [{ name: OWNER }], migrations: "migrations/fltr", reset: { generation, allowed: true, acceptDataLoss: generation }, backup },
  ];

  it("shows pg_dump's own error, once, and not the backup script", async () => {
    const s = await serverOfMajor(15);
    servers.push(s);
    const p = project("v15", s.admin, PG_DUMP_15);
    projects.push(p);
    setDatabases(p, "v15", databases(1, false));
    p.ok(["up", "--stack", "v15", "--yes"]);
    // A table the admin may not read (another team's, made by a superuser): pg_dump cannot dump it.
    await query({ ...s.superuser, database: DB }, "CREATE TABLE hidden_from_admin (id int); REVOKE ALL ON hidden_from_admin FROM PUBLIC");
    setDatabases(p, "v15", databases(2, true));
    const up = p.run(["up", "--stack", "v15", "--yes"]);
    show("failing pg_dump", up.output);
    expect(up.status).not.toBe(0);
    const own = "permission denied for table hidden_from_admin";
    expect(up.output).toContain(own);
    expect(up.output.split(own).length - 1).toBe(1);
    expect(up.output).not.toContain("set -eu");
    expect(up.output).not.toContain("PG_DUMP");
    // The backup failed before the reset: the database is untouched, and no dump file was left.
    expect(await query({ ...s.admin, database: DB }, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
    const dumps = () => fs.readdirSync(path.join(p.dir, "backups", "v15", DB));
    expect(dumps()).toEqual([]);

    // Once pg_dump can read everything, the same up backs up and resets.
    await query({ ...s.superuser, database: DB }, "DROP TABLE hidden_from_admin");
    p.ok(["up", "--stack", "v15", "--yes"]);
    expect(dumps()).toHaveLength(1);
    const last = stackOutputs(p, "v15")[DB]?.["lastBackup"];
    expect(last).toMatch(/^backups\/v15\/clients15\/clients15-g2-\d{8}T\d{6}Z\.dump$/);

    // A newer pgstack's backup script (here: one more line) updates the backup resource without a new dump.
    const component = path.join(p.dir, "infra", "components", "database.ts");
    fs.writeFileSync(component, fs.readFileSync(component, "utf8").replace('"set -eu",', '"set -eu",\n    "# a newer pgstack",'));
    const upgraded = p.ok(["up", "--stack", "v15", "--yes"]);
    expect(resourceSummary(upgraded.stdout)).toMatchObject({ updated: 1 });
    expect(dumps()).toHaveLength(1);
    expect(stackOutputs(p, "v15")[DB]?.["lastBackup"]).toBe(last);
  });
});
