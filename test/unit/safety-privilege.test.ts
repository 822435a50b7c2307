/**
 * The `privilege` rules over the real parser: each statement that reaches beyond the database is
 * flagged once at its file:line:col with the safe alternative; the prod profile refuses it, the
 * dev profile warns, and an acknowledgement naming it (or its rule) lets it through.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { fromText, loadSqlParser, type Migration } from "../../infra/lifecycle/index.js";
import { analyzeSafety, formatRefusal, PROFILES, type SafetyPolicy } from "../../infra/lifecycle/safety/index.js";

beforeAll(loadSqlParser);

const prod: SafetyPolicy = { ...PROFILES.prod, lint: "off" };
const dev: SafetyPolicy = { ...PROFILES.dev, lint: "off", rehearsal: false };
let id = 0;
const file = (sql: string): Migration => {
  id++;
  return fromText({ id, name: `${String(id).padStart(4, "0")}_m`, file: `m/${String(id).padStart(4, "0")}_m.sql`, sql });
};

/** Each statement on line 3, column 3 (after a table and two spaces; no-transaction for the database DDL), and the finding expected of it. */
const CASES: [sql: string, rule: string, subject: string, message: RegExp, column?: number][] = [
  ["SET ROLE admin;", "pgstack/set-role", "SET ROLE admin", /leaves the owner role.*admin's rights/],
  ["RESET ROLE;", "pgstack/reset-role", "RESET ROLE", /connecting admin's rights/],
  ["SET SESSION AUTHORIZATION postgres;", "pgstack/session-authorization", "SET SESSION AUTHORIZATION postgres", /session's user/],
  ["CREATE ROLE sneaky LOGIN CREATEROLE PASSWORD 'x';", "pgstack/role-ddl", "sneaky", /^CREATE ROLE sneaky: roles belong to the whole server/],
  ["CREATE USER u2;", "pgstack/role-ddl", "u2", /^CREATE USER u2/],
  ["ALTER ROLE app CREATEDB;", "pgstack/role-ddl", "app", /^ALTER ROLE app/],
  // Each dropped role at its own name.
  ["DROP GROUP old_group;", "pgstack/role-ddl", "old_group", /^DROP ROLE old_group/, 14],
  ["GRANT admin TO bob;", "pgstack/role-membership", "admin", /^GRANT admin TO bob: a role membership/],
  ["REVOKE admin FROM bob;", "pgstack/role-membership", "admin", /^REVOKE admin FROM bob/],
  ["CREATE DATABASE other;", "pgstack/database-ddl", "other", /^CREATE DATABASE other/],
  ["ALTER DATABASE other SET work_mem = '1GB';", "pgstack/database-ddl", "other", /^ALTER DATABASE other/],
  ["DROP DATABASE other;", "pgstack/database-ddl", "other", /^DROP DATABASE other/],
  ["ALTER SYSTEM SET work_mem = '1GB';", "pgstack/alter-system", "work_mem", /whole server's configuration/],
  ["COPY t FROM PROGRAM 'curl http://x';", "pgstack/copy-program", "COPY … FROM PROGRAM", /runs a shell command on the database server/],
  ["COPY t TO '/tmp/t.csv';", "pgstack/copy-server-file", "COPY … TO a server file", /writes \/tmp\/t\.csv on the database server/],
  ["CREATE EXTENSION IF NOT EXISTS dblink;", "pgstack/remote-connection", "dblink", /^CREATE EXTENSION dblink/],
  ["CREATE EXTENSION postgres_fdw;", "pgstack/remote-connection", "postgres_fdw", /^CREATE EXTENSION postgres_fdw/],
  ["CREATE SERVER far FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h');", "pgstack/remote-connection", "far", /^CREATE SERVER far \(postgres_fdw\)/],
  ["CREATE USER MAPPING FOR CURRENT_USER SERVER far OPTIONS (user 'u');", "pgstack/remote-connection", "far", /^CREATE USER MAPPING … SERVER far/],
];

describe("privilege rules", () => {
  it.each(CASES)("%s → %s, once, at file:3:3, refused in prod, warned in dev", async (sql, rule, subject, message, column = 3) => {
    const m = file(`-- pgstack:no-transaction\nCREATE TABLE t (a int);\n  ${sql}\n`);
    const report = await analyzeSafety(null, "db", [m], prod);
    const found = report.findings.filter((f) => f.class === "privilege");
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ rule, subject, file: m.file, line: 3, column });
    expect(found[0]?.message).toMatch(message);
    expect(found[0]?.safeAlternative.length).toBeGreaterThan(20);
    expect(report.verdict).toBe("refuse");
    expect(formatRefusal(report, "pgstack:safety")).toContain(`${m.file}:3:${column}: ${found[0]?.message}`);
    expect(formatRefusal(report, "pgstack:safety")).toContain(`-- pgstack:accept privilege "${subject}" -- reason:`);
    expect((await analyzeSafety(null, "db", [m], dev)).verdict).toBe("warn");
  });

  it("an acknowledgement naming the object (or the rule) lets prod through; another object's does not", async () => {
    const sql = (ack: string) => file(`${ack}\nCREATE ROLE reader NOLOGIN;\n`);
    const accepted = await analyzeSafety(null, "db", [sql('-- pgstack:accept privilege "reader" -- reason: the app\'s read-only role')], prod);
    expect(accepted.verdict).toBe("safe");
    expect(accepted.findings[0]?.acknowledged).toEqual({ reason: "the app's read-only role" });
    expect((await analyzeSafety(null, "db", [sql('-- pgstack:accept privilege "role-ddl" -- reason: roles are reviewed')], prod)).verdict).toBe("safe");
    const other = await analyzeSafety(null, "db", [sql('-- pgstack:accept privilege "writer" -- reason: wrong role')], prod);
    expect(other.verdict).toBe("refuse");
    expect(other.unusedAcknowledgements).toHaveLength(1);
  });

  it("the escalating migration of issue 16: RESET ROLE and CREATE ROLE are both refused, each at its own line", async () => {
    const m = file("RESET ROLE;\nCREATE ROLE sneaky LOGIN CREATEROLE PASSWORD 'pw';\nCREATE TABLE escalated (id int);\n");
    const report = await analyzeSafety(null, "db", [m], prod);
    expect(report.refusals.map((f) => [f.rule, f.line, f.column])).toEqual([
      ["pgstack/reset-role", 1, 1],
      ["pgstack/role-ddl", 2, 1],
    ]);
    expect(formatRefusal(report, "pgstack:safety")).not.toContain("'pw'");
  });

  it("dblink calls anywhere in a statement, at the call; COPY FROM STDIN and table grants are not flagged", async () => {
    const m = file("INSERT INTO t SELECT * FROM public.dblink('c', 'select 1') AS x(a int);\nSELECT dblink_exec('c', 'drop table t');\nCOPY t FROM STDIN;\nGRANT SELECT ON t TO bob;\n");
    const found = (await analyzeSafety(null, "db", [m], prod)).findings.filter((f) => f.class === "privilege");
    expect(found.map((f) => [f.subject, f.line, f.column])).toEqual([
      ["dblink", 1, 29],
      ["dblink_exec", 2, 8],
    ]);
  });

  it("the policy class can be set: off drops the findings", async () => {
    const m = file("RESET ROLE;\n");
    const report = await analyzeSafety(null, "db", [m], { ...prod, privilege: "off" });
    expect(report.findings).toEqual([]);
    expect(report.verdict).toBe("safe");
  });
});
