/** Pure parts of the scratch module: the one naming scheme, the SCRAM verifier, the server-wide refusal at file:line, what may build beside a real apply. */
import { createHash, createHmac, pbkdf2Sync } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { creatorOf, SCRATCH_PREFIX, scratchName } from "../../infra/lifecycle/scratch-names.js";
import { planServerChanges, replayable, ScratchRefusedError, touchesServer, type ServerObjects } from "../../infra/lifecycle/scratch-server.js";
import { scramVerifier } from "../../infra/lifecycle/scratch-session.js";
import { keepsTableSet } from "../../infra/lifecycle/declared.js";
import { sha256, type Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";

beforeAll(loadSqlParser);

const m = (name: string, sql: string): Migration => ({ id: Number(name.slice(0, 4)), name, file: `migrations/x/${name}.sql`, checksum: sha256(sql), sql, inTransaction: true });
const server = (roles: string[], databases: string[] = ["app"]): ServerObjects => ({
  roles: new Map(roles.map((r) => [r, ""])),
  memberships: new Map(),
  databases: new Map(databases.map((d) => [d, ""])),
  tablespaces: new Map(),
  settings: new Map(),
});

describe("scratch names", () => {
  it("carry one prefix, the creator's pid and start, the purpose; fit 63 bytes; the creator reads back", () => {
    const creator = { pid: 4194304, started: (2n ** 52n).toString(36) };
    const name = scratchName(creator, "rehearsal");
    expect(name).toMatch(new RegExp(`^${SCRATCH_PREFIX}4194304_${creator.started}_rehearsal_[0-9a-f]{8}$`));
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(creatorOf(name)).toEqual(creator);
    expect(scratchName(creator, "rehearsal")).not.toBe(name);
    expect(creatorOf("pgstack_shadow_1_x")).toBeUndefined();
  });
});

describe("the throwaway role's password", () => {
  it("reaches the server only as a SCRAM-SHA-256 verifier (RFC 5802 / 7677)", () => {
    const salt = Buffer.from("0123456789abcdef");
    const v = scramVerifier("pencil", salt, 4096);
    const salted = pbkdf2Sync("pencil", salt, 4096, 32, "sha256");
    const stored = createHash("sha256").update(createHmac("sha256", salted).update("Client Key").digest()).digest("base64");
    expect(v).toBe(`SCRAM-SHA-256$4096:${salt.toString("base64")}$${stored}:${createHmac("sha256", salted).update("Server Key").digest("base64")}`);
    expect(v).not.toContain("pencil");
  });
});

describe("server-wide changes of the migrations", () => {
  it("creating roles, memberships and databases is allowed and listed for removal", () => {
    const changes = planServerChanges(
      [m("0001_roles", "CREATE ROLE reader NOLOGIN;\nALTER ROLE reader SET search_path = public;\nGRANT reader TO app_owner;\nCREATE DATABASE extra;\n")],
      server(["app_owner"]),
    );
    expect([...changes.roles]).toEqual(["reader"]);
    expect([...changes.databases]).toEqual(["extra"]);
    expect(changes.memberships).toEqual([["reader", "app_owner"]]);
  });

  it("refuses, at file:line:col, what it cannot undo: existing roles and databases, ALTER SYSTEM, tablespaces, revokes", () => {
    const sql = [
      "CREATE TABLE t (id int);",
      "ALTER ROLE app_owner CREATEDB;",
      "ALTER ROLE CURRENT_USER SET work_mem = '1GB';",
      "DROP ROLE app_reader;",
      "ALTER SYSTEM SET work_mem = '1GB';",
      "ALTER DATABASE app SET search_path = x;",
      "DROP DATABASE app;",
      "GRANT CONNECT ON DATABASE app TO PUBLIC;",
      "COMMENT ON ROLE app_owner IS 'x';",
      "REVOKE app_reader FROM app_owner;",
      "CREATE TABLESPACE t LOCATION '/tmp';",
      "ALTER ROLE app_owner RENAME TO y;",
    ].join("\n");
    const err = (() => {
      try {
        planServerChanges([m("0002_sneaky", sql)], server(["app_owner", "app_reader"]));
      } catch (e) {
        return e;
      }
    })() as ScratchRefusedError;
    expect(err).toBeInstanceOf(ScratchRefusedError);
    expect(err.code).toBe("SCRATCH_REFUSED");
    expect(err.location).toEqual({ file: "migrations/x/0002_sneaky.sql", line: 2, column: 1 });
    const lines = err.message.split("\n").filter((l) => l.startsWith("    "));
    expect(lines.map((l) => l.trim().split(": ")[0])).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((n) => `migrations/x/0002_sneaky.sql:${n}:1`));
    expect(err.message).toContain('alters the role "app_owner", which existed before');
    expect(err.message).toContain("ALTER SYSTEM");
    expect(err.message).toMatch(/\n {2}→ /);
  });

  it("the escalating migration is allowed (its role is removed afterwards); a role it created may then be altered", () => {
    const changes = planServerChanges([m("0003_escalate", "RESET ROLE;\nCREATE ROLE sneaky LOGIN CREATEROLE PASSWORD 'x';\nALTER ROLE sneaky NOLOGIN;\nCREATE TABLE escalated (id int);\n")], server(["app_owner"]));
    expect([...changes.roles]).toEqual(["sneaky"]);
  });
  it("a CREATE ROLE of a role that exists already is not replayed: blanked in place (every file:line:col kept), never listed for removal", () => {
    const sql = "-- the reporting role\nCREATE TABLE r (id int);\nCREATE ROLE app_reporting\n  NOLOGIN;\nGRANT SELECT ON r TO app_reporting;\n";
    const migration = m("0012_reporting", sql);
    const changes = planServerChanges([migration], server(["app_owner", "app_reporting"]));
    expect([...changes.roles]).toEqual([]);
    const logs: string[] = [];
    const [replayed] = replayable([migration], changes, { info: (l) => logs.push(l), warn: (l) => logs.push(l) });
    expect(replayed!.sql).toBe(`-- the reporting role\nCREATE TABLE r (id int);\n${" ".repeat("CREATE ROLE app_reporting".length)}\n${" ".repeat("  NOLOGIN".length)};\nGRANT SELECT ON r TO app_reporting;\n`);
    expect(replayed!.checksum).toBe(migration.checksum);
    expect(logs).toEqual([`scratch: migrations/x/0012_reporting.sql:3:1: CREATE ROLE "app_reporting" is not replayed: the role exists on the server already (the migration ran for real); it is kept as it is`]);
    // Altering it afterwards would change the real role: refused like any existing role.
    expect(() => planServerChanges([m("0013_alter", "CREATE ROLE app_reporting;\nALTER ROLE app_reporting LOGIN;\n")], server(["app_reporting"]))).toThrow(ScratchRefusedError);
  });
});

describe("touchesServer: which migrations a build may not run while they are applied for real", () => {
  it("a role, a membership or a database they create, or anything a scratch run refuses; not objects inside a database", () => {
    const touches = (sql: string) => touchesServer([m("0001_a", "CREATE TABLE a (id int PRIMARY KEY);"), m("0002_x", sql)]);
    expect(touches("CREATE ROLE reader;")).toBe(true);
    expect(touches("CREATE USER app LOGIN;")).toBe(true);
    expect(touches("GRANT pg_read_all_data TO app_owner;")).toBe(true);
    expect(touches("CREATE DATABASE other;")).toBe(true);
    expect(touches("ALTER SYSTEM SET work_mem = '64MB';")).toBe(true);
    expect(touches("ALTER ROLE app_owner SET search_path = app;")).toBe(true);
    expect(touches("CREATE TABLE b (id int);\nGRANT SELECT ON b TO app_reader;\nCREATE SCHEMA s;\nCREATE EXTENSION IF NOT EXISTS citext;")).toBe(false);
    expect(touches("ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO app_reader;\nCOMMENT ON TABLE a IS 'x';")).toBe(false);
  });
});

describe("keepsTableSet: which migrations a step-by-step build need not read the table keys after", () => {
  it("only statements that neither make, drop, rename nor move a table, nor run the migration's own code", () => {
    const keeps = (sql: string) => keepsTableSet(m("0002_x", sql));
    expect(keeps("ALTER TABLE users ADD COLUMN note text;\nCREATE INDEX users_note_idx ON users (note);\nCOMMENT ON TABLE users IS 'u';\n")).toBe(true);
    expect(keeps("CREATE VIEW v AS SELECT 1;\nCREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\nGRANT SELECT ON users TO PUBLIC;\nSET search_path = public;\n")).toBe(true);
    // A table made, dropped, renamed or moved; code that runs (a trigger fired by DML, DO, SELECT f()).
    for (const sql of [
      "CREATE TABLE t (id int);",
      "CREATE TABLE t AS SELECT 1 AS id;",
      "DROP TABLE users;",
      "DROP INDEX users_note_idx;",
      "ALTER TABLE users RENAME TO people;",
      "ALTER TABLE users SET SCHEMA other;",
      "INSERT INTO users (email) VALUES ('a@b');",
      "DO $$ BEGIN EXECUTE 'CREATE TABLE t (id int)'; END $$;",
      "SELECT make_tables();",
      "CREATE EXTENSION hstore;",
      "CREATE SCHEMA s CREATE TABLE t (id int);",
      "ALTER TABLE users ADD COLUMN note text; CREATE TABLE t (id int);",
      "ALTER TABLE users ADD COLUMN (",
    ]) {
      expect([sql, keeps(sql)]).toEqual([sql, false]);
    }
  });
});
