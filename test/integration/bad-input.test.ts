/**
 * Reliability suite 4, bad input. Every case runs the path a `pulumi up` takes (parse the stack
 * config → load the migration folder → connect → apply) against its own fresh database holding
 * a sentinel table. A refusal must name where the problem is (config path, file:line:column or
 * object) and leave the database exactly as it was; the few odd-but-valid inputs (BOM, CRLF)
 * must apply.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, parseStackConfig } from "../../infra/config.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { connect, describeTarget, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { ConnectionError, HistoryMismatchError, MigrationFailedError, MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { adminConnection, closeClients, connectTo, freshDatabase, query, testServerConfig } from "../support/db.js";
import { freePort } from "../support/postgres.js";

/** A migration folder: file name → contents (a Buffer for bytes that are not UTF-8). */
type Files = Record<string, string | Buffer>;
type RawConfig = { server: Record<string, unknown>; databases: Record<string, any>[] }; // eslint-disable-line @typescript-eslint/no-explicit-any
type ErrorClass = new (...args: never[]) => Error;

/** One bad (or odd but valid) input. */
interface Case {
  name: string;
  kind: "config" | "encoding" | "numbering" | "sql" | "history" | "connection";
  input: {
    /** Breaks a copy of a valid stack config. */
    config?: (c: RawConfig) => void;
    /** The migration folder at the time of the run; default {@link GOOD}. */
    files?: Files;
    /** Applied first (and must succeed); then the folder is replaced by `files`. */
    applied?: Files;
    /** Changes the connection the config leads to. */
    connect?: (c: ConnectionOptions) => ConnectionOptions | Promise<ConnectionOptions>;
  };
  /**
   * `error`: every string must be in the message (`{target}` stands for `user@host:port/db`),
   * or the RegExp must match; `as` overrides the error class expected for the kind.
   * `accepted`: the run succeeds and the history then lists exactly these migrations.
   */
  expect: { error: RegExp | string[]; as?: ErrorClass } | { accepted: string[] };
}

const ERROR_OF_KIND: Record<Case["kind"], ErrorClass> = {
  config: ConfigError,
  encoding: MigrationSourceError,
  numbering: MigrationSourceError,
  sql: MigrationSourceError,
  history: HistoryMismatchError,
  connection: ConnectionError,
};

// Every valid migration writes to the sentinel: a refusal that let anything run shows there.
const A = "CREATE TABLE a (id int PRIMARY KEY);\nINSERT INTO sentinel VALUES (2);\n";
const B = "CREATE TABLE b (id int REFERENCES a (id));\n";
const C = "INSERT INTO sentinel VALUES (3);\n";
const GOOD: Files = { "0001_a.sql": A, "0002_b.sql": B };
const NEXT: Files = { ...GOOD, "0003_c.sql": C };
/** GOOD plus one more file. */
const plus = (name: string, body: string | Buffer): Files => ({ ...GOOD, [name]: body });
const crlf = (s: string) => s.replace(/\n/g, "\r\n");
const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(p, "utf8") : Buffer.from(p))));
const WRONG_PASSWORD = "Wr0ng-Pa55word-bad-input";
const X64 = "x".repeat(64);
let silentPort = 0;

const cases: Case[] = [
  // ── stack config ──
  { name: "port as a string", kind: "config", input: { config: (c) => (c.server["port"] = "5432") },
    expect: { error: ["pgstack:server.port: Invalid input: expected number, received string"] } },
  { name: "embedded as a string", kind: "config", input: { config: (c) => (c.server["embedded"] = "yes") },
    expect: { error: ["pgstack:server.embedded: Invalid input: expected boolean"] } },
  { name: "databases as an object", kind: "config", input: { config: (c) => ((c as Record<string, unknown>)["databases"] = { fltr: {} }) },
    expect: { error: ["pgstack:databases: Invalid input: expected array, received object"] } },
  { name: "schemas as a string", kind: "config", input: { config: (c) => (c.databases[0]!["schemas"] = "public") },
    expect: { error: ["pgstack:databases[0].schemas: Invalid input: expected array, received string"] } },
  { name: "login as a string", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].login = "true") },
    expect: { error: ["pgstack:databases[0].roles[1].login: Invalid input: expected boolean"] } },
  { name: "a role name as a number", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].name = 42) },
    expect: { error: ["pgstack:databases[0].roles[1].name: Invalid input: expected string, received number"] } },
  { name: "an unknown top-level key", kind: "config", input: { config: (c) => ((c as Record<string, unknown>)["sever"] = {}) },
    expect: { error: ["pgstack:sever: unknown config key; did you mean `pgstack:server`?"] } },
  { name: "an unknown server key", kind: "config", input: { config: (c) => (c.server["hots"] = "db") },
    expect: { error: ["pgstack:server.hots: unknown key; did you mean `host`?"] } },
  { name: "an unknown role key", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].logn = true) },
    expect: { error: ["pgstack:databases[0].roles[1].logn: unknown key; did you mean `login`?"] } },
  { name: "a database name of 64 bytes", kind: "config", input: { config: (c) => (c.databases[0]!["name"] = X64) },
    expect: { error: [`pgstack:databases[0].name: "${X64}" is 64 bytes long; Postgres identifiers are at most 63 bytes`] } },
  { name: "a schema of 32 two-byte letters", kind: "config", input: { config: (c) => (c.databases[0]!["schemas"] = ["é".repeat(32)]) },
    expect: { error: ["pgstack:databases[0].schemas[0]:", "is 64 bytes long"] } },
  { name: "a role name with a double quote", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].name = 'bi"app') },
    expect: { error: ['pgstack:databases[0].roles[1].name: "bi\\"app" must start with a lowercase letter', "found a double quote at character 3"] } },
  { name: "a database name with a semicolon", kind: "config", input: { config: (c) => (c.databases[0]!["name"] = "bi;drop") },
    expect: { error: ['pgstack:databases[0].name: "bi;drop"', "found a semicolon at character 3"] } },
  { name: "a role name with NUL", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].name = "bi\0app") },
    expect: { error: ['pgstack:databases[0].roles[1].name: "bi\\u0000app"', "found a NUL character at character 3"] } },
  { name: "an admin user with a space", kind: "config", input: { config: (c) => (c.server["adminUser"] = "pg admin") },
    expect: { error: ['pgstack:server.adminUser: "pg admin"', "found a space at character 3"] } },
  { name: "an uppercase owner", kind: "config", input: { config: (c) => (c.databases[0]!["owner"] = "BiOwner") },
    expect: { error: ['pgstack:databases[0].owner: "BiOwner"', 'found the uppercase letter "B" at character 1 (use lowercase)'] } },
  { name: "an empty schema name", kind: "config", input: { config: (c) => (c.databases[0]!["schemas"] = [""]) },
    expect: { error: ['pgstack:databases[0].schemas[0]: "" must not be empty'] } },
  { name: "the reserved role name public", kind: "config", input: { config: (c) => (c.databases[0]!["roles"][1].name = "public") },
    expect: { error: ['pgstack:databases[0].roles[1].name: "public" is reserved by Postgres as a role name'] } },
  { name: "an empty migrations path", kind: "config", input: { config: (c) => (c.databases[0]!["migrations"] = "") },
    expect: { error: ["pgstack:databases[0].migrations: must not be empty"] } },
  { name: "a migrations path outside the project", kind: "config", input: { config: (c) => (c.databases[0]!["migrations"] = "../elsewhere") },
    expect: { error: ["pgstack:databases[0].migrations: must be a relative path inside the project"] } },
  { name: "SQL in a lock timeout", kind: "config", input: { config: (c) => (c.databases[0]!["session"] = { lockTimeout: "5s'; DROP TABLE sentinel; --" }) },
    expect: { error: ["pgstack:databases[0].session.lockTimeout: must be a Postgres duration"] } },

  // ── file encoding and emptiness ──
  { name: "Latin-1 bytes", kind: "encoding", input: { files: plus("0003_c.sql", bytes("CREATE TABLE c (id int);\nCOMMENT ON TABLE c IS 'caf", [0xe9], "';\n")) },
    expect: { error: ["0003_c.sql:2:27: the file is not valid UTF-8: byte 0xE9 at byte offset 51", "Latin-1", "save it as UTF-8"] } },
  { name: "Windows-1252 smart quotes", kind: "encoding", input: { files: plus("0003_c.sql", bytes("-- ", [0x93], "quoted", [0x94], "\nSELECT 1;\n")) },
    expect: { error: ["0003_c.sql:1:4: the file is not valid UTF-8: byte 0x93 at byte offset 3", "save it as UTF-8"] } },
  { name: "a multi-byte character cut off at the end", kind: "encoding", input: { files: plus("0003_c.sql", bytes("SELECT 1; -- €", [0xe2, 0x82])) },
    expect: { error: ["0003_c.sql:1:15: the file is not valid UTF-8: byte 0xE2 at byte offset 16"] } },
  { name: "an overlong UTF-8 sequence", kind: "encoding", input: { files: plus("0003_c.sql", bytes("SELECT 1;\n-- ", [0xc0, 0xaf], "\n")) },
    expect: { error: ["0003_c.sql:2:4: the file is not valid UTF-8: byte 0xC0 at byte offset 13"] } },
  { name: "UTF-16 with a byte order mark", kind: "encoding", input: { files: plus("0003_c.sql", Buffer.from("\uFEFFSELECT 1;\n", "utf16le")) },
    expect: { error: ["0003_c.sql:1:1: the file is UTF-16", "save it as UTF-8"] } },
  { name: "UTF-16 without a byte order mark", kind: "encoding", input: { files: plus("0003_c.sql", Buffer.from("SELECT 1;\n", "utf16le")) },
    expect: { error: ["0003_c.sql:1:2: the file contains a NUL character", "save it as UTF-8 text"] } },
  { name: "a NUL that would hide a statement", kind: "encoding", input: { files: plus("0003_c.sql", "SELECT 1;\n\0DROP TABLE sentinel;\n") },
    expect: { error: ["0003_c.sql:2:1: the file contains a NUL character"] } },
  { name: "an empty file", kind: "encoding", input: { files: plus("0003_c.sql", "") },
    expect: { error: ["0003_c.sql:1:1: the migration has no SQL statements (the file is empty)", "delete the file, or add the migration's SQL"] } },
  { name: "a file of blank lines", kind: "encoding", input: { files: plus("0003_c.sql", "\n  \n\t\n") },
    expect: { error: ["0003_c.sql:1:1: the migration has no SQL statements (the file is empty)"] } },
  { name: "a file that is only comments", kind: "encoding", input: { files: plus("0003_c.sql", "-- TODO: add teams\n/* later */\n") },
    expect: { error: ["0003_c.sql:1:1: the migration has no SQL statements (it holds only comments)", "delete the file, or add"] } },
  { name: "a file that is only the directive", kind: "encoding", input: { files: plus("0003_c.sql", "-- pgstack:no-transaction\n") },
    expect: { error: ["0003_c.sql:1:1: the migration has no SQL statements"] } },
  { name: "a file that is only a BOM", kind: "encoding", input: { files: plus("0003_c.sql", "\uFEFF") },
    expect: { error: ["0003_c.sql:1:1: the migration has no SQL statements (the file is empty)"] } },

  // ── file names and numbering ──
  { name: "a duplicate version", kind: "numbering", input: { files: plus("0002_c.sql", C) },
    expect: { error: ["0002_c.sql:1:1: version 2 is used twice: 0002_b.sql and 0002_c.sql", "unique version"] } },
  { name: "a duplicate version with other padding", kind: "numbering", input: { files: plus("2_c.sql", C) },
    expect: { error: ["version 2 is used twice: 0002_b.sql and 2_c.sql"] } },
  { name: "a gap of one version", kind: "numbering", input: { files: plus("0004_d.sql", C) },
    expect: { error: ["0004_d.sql:1:1: version 3 is missing: the migrations jump from 0002_b.sql to 0004_d.sql", "restore the missing file, or renumber the later files"] } },
  { name: "a gap of several versions", kind: "numbering", input: { files: { "0001_a.sql": A, "0005_e.sql": B } },
    expect: { error: ["versions 2 to 4 are missing: the migrations jump from 0001_a.sql to 0005_e.sql"] } },
  { name: "a first version above 1", kind: "numbering", input: { files: { "0002_b.sql": A, "0003_c.sql": B } },
    expect: { error: ["0002_b.sql:1:1: version 1 is missing: the first migration is 0002_b.sql"] } },
  { name: "a version too large for the history", kind: "numbering", input: { files: plus("9007199254740992_z.sql", C) },
    expect: { error: ["9007199254740992_z.sql:1:1: version 9007199254740992 is too large: pgstack records versions up to 9007199254740991 (2^53 − 1)"] } },
  { name: "a version beyond bigint", kind: "numbering", input: { files: plus("99999999999999999999_z.sql", C) },
    expect: { error: ["99999999999999999999_z.sql:1:1: version 99999999999999999999 is too large: pgstack records versions up to 9007199254740991"] } },
  { name: "a file name with hyphens", kind: "numbering", input: { files: plus("0003-add-c.sql", C) },
    expect: { error: ['0003-add-c.sql:1:1: bad migration file name "0003-add-c.sql"', "NNNN_snake_case_name.sql"] } },
  { name: "a file name with capitals", kind: "numbering", input: { files: plus("0003_AddC.sql", C) },
    expect: { error: ['bad migration file name "0003_AddC.sql"'] } },
  { name: "a gap and an empty file together", kind: "numbering", input: { files: { ...plus("0003_c.sql", ""), "0005_e.sql": C } },
    expect: { error: /^2 problems in \S+:\n {2}- \S+\/0005_e\.sql:1:1: version 4 is missing[\s\S]*\n {2}- \S+\/0003_c\.sql:1:1: the migration has no SQL statements[\s\S]*nothing was applied$/ } },

  // ── SQL ──
  { name: "a syntax error", kind: "sql", input: { files: plus("0003_c.sql", "CREATE TABLE c (id int);\n\nCREATE TABEL d (id int);\n") },
    expect: { error: ['0003_c.sql:3:8: SQL syntax error: syntax error at or near "TABEL"', "    CREATE TABEL d (id int);\n           ^"] } },
  { name: "a syntax error in a CRLF file", kind: "sql", input: { files: plus("0003_c.sql", crlf("CREATE TABLE c (id int);\n\nCREATE TABEL d (id int);\n")) },
    expect: { error: ['0003_c.sql:3:8: SQL syntax error: syntax error at or near "TABEL"', "    CREATE TABEL d (id int);\n           ^"] } },
  { name: "a syntax error after a BOM", kind: "sql", input: { files: plus("0003_c.sql", "\uFEFFCREATE TABEL d (id int);\n") },
    expect: { error: ['0003_c.sql:1:8: SQL syntax error: syntax error at or near "TABEL"'] } },
  { name: "a missing semicolon", kind: "sql", input: { files: plus("0003_c.sql", "CREATE TABLE c (id int)\nCREATE TABLE d (id int);\n") },
    expect: { error: ['0003_c.sql:2:1: SQL syntax error: syntax error at or near "CREATE"'] } },
  { name: "an unterminated string", kind: "sql", input: { files: plus("0003_c.sql", "SELECT 1;\nSELECT 'abc;\nSELECT 2;\n") },
    expect: { error: ["0003_c.sql:2:8: SQL syntax error: unterminated quoted string"] } },
  { name: "an unterminated comment", kind: "sql", input: { files: plus("0003_c.sql", "SELECT 1;\n/* abc\nSELECT 2;\n") },
    expect: { error: ["0003_c.sql:2:1: SQL syntax error: unterminated /* comment"] } },
  { name: "BEGIN in a transactional migration", kind: "sql", input: { files: plus("0003_c.sql", `BEGIN;\n${C}COMMIT;\n`) },
    expect: { error: ['0003_c.sql:1:1: transaction control statement "BEGIN" in a migration', "remove BEGIN/COMMIT"] } },
  { name: "COMMIT in the middle", kind: "sql", input: { files: plus("0003_c.sql", `${C}COMMIT;\nCREATE TABLE d (id int);\n`) },
    expect: { error: ['0003_c.sql:2:1: transaction control statement "COMMIT"'] } },
  { name: "END (a COMMIT) in a CRLF file", kind: "sql", input: { files: plus("0003_c.sql", crlf(`${C}\n  END;\n`)) },
    expect: { error: ['0003_c.sql:3:3: transaction control statement "END"'] } },
  { name: "CREATE INDEX CONCURRENTLY without the directive", kind: "sql", input: { files: plus("0003_c.sql", `${C}CREATE INDEX CONCURRENTLY b_idx ON b (id);\n`) },
    expect: { error: ["0003_c.sql:2:1: CREATE INDEX CONCURRENTLY b_idx ON b (id) cannot run inside a transaction", "add the line `-- pgstack:no-transaction`"] } },
  { name: "CREATE INDEX CONCURRENTLY over CRLF lines", kind: "sql", input: { files: plus("0003_c.sql", crlf(`${C}\nCREATE INDEX CONCURRENTLY b_idx\n  ON b (id);\n`)) },
    expect: { error: ["0003_c.sql:3:1: CREATE INDEX CONCURRENTLY b_idx cannot run inside a transaction"] } },
  { name: "DROP INDEX CONCURRENTLY without the directive", kind: "sql", input: { files: plus("0003_c.sql", "DROP INDEX CONCURRENTLY IF EXISTS b_idx;\n") },
    expect: { error: ["0003_c.sql:1:1: DROP INDEX CONCURRENTLY IF EXISTS b_idx cannot run inside a transaction"] } },
  { name: "a misspelt directive", kind: "sql", input: { files: plus("0003_c.sql", "SELECT 1;\n\n  -- pgstack:no-transction\nCREATE INDEX CONCURRENTLY b_idx ON b (id);\n") },
    expect: { error: ['0003_c.sql:3:3: unknown directive "pgstack:no-transction"'] } },
  { name: "a failing statement in a CRLF file (rolled back)", kind: "sql", input: { applied: GOOD, files: plus("0003_c.sql", crlf(`${C}\nINSERT INTO missing_table VALUES (1);\n`)) },
    expect: { error: ['Migration 0003_c failed:', '0003_c.sql:3:13: relation "missing_table" does not exist', "rolled back"], as: MigrationFailedError } },

  // ── history: applied migrations changed afterwards ──
  { name: "an applied migration edited", kind: "history", input: { applied: GOOD, files: { ...NEXT, "0001_a.sql": A.replace("id int", "id bigint") } },
    expect: { error: ["0001_a.sql was edited after it was applied", "nothing was run"] } },
  { name: "a newline added to an applied migration", kind: "history", input: { applied: GOOD, files: { ...NEXT, "0002_b.sql": `${B}\n` } },
    expect: { error: ["0002_b.sql was edited after it was applied (recorded sha256"] } },
  { name: "the latest applied migration deleted", kind: "history", input: { applied: GOOD, files: { "0001_a.sql": A } },
    expect: { error: ["0002_b (version 2, #2 in the history) is recorded as applied, but no migration file has version 2"] } },
  { name: "an applied migration in the middle deleted", kind: "history", input: { applied: GOOD, files: { "0001_a.sql": A, "0003_c.sql": C } },
    expect: { error: ["version 2 is missing: the migrations jump from 0001_a.sql to 0003_c.sql", "restore the missing file"], as: MigrationSourceError } },
  { name: "an applied migration renamed", kind: "history", input: { applied: GOOD, files: { "0001_a.sql": A, "0002_create_b.sql": B, "0003_c.sql": C } },
    expect: { error: ["version 2 was applied as 0002_b, but its file is now", "0002_create_b.sql"] } },
  { name: "two applied migrations swapped", kind: "history", input: { applied: GOOD, files: { "0001_b.sql": B, "0002_a.sql": A, "0003_c.sql": C } },
    expect: { error: ["version 1 was applied as 0001_a, but its file is now", "0001_b.sql was edited after it was applied", "version 2 was applied as 0002_b"] } },
  { name: "a new migration slipped in below the head", kind: "history", input: { applied: GOOD, files: { "0001_a.sql": A, "0002_c.sql": C, "0003_b.sql": B } },
    expect: { error: ["version 2 was applied as 0002_b, but its file is now", "0002_c.sql"] } },

  // ── connection ──
  { name: "a wrong password", kind: "connection", input: { connect: (c) => ({ ...c, password: WRONG_PASSWORD }) },
    expect: { error: ["cannot connect to {target}: password authentication failed", "check the secret named by pgstack:server.adminPasswordSecret"] } },
  { name: "an unknown user", kind: "connection", input: { connect: (c) => ({ ...c, user: "bi_nobody", password: WRONG_PASSWORD }) },
    expect: { error: ['cannot connect to {target}: password authentication failed for user "bi_nobody"'] } },
  { name: "a port where nothing listens", kind: "connection", input: { connect: async (c) => ({ ...c, port: await freePort() }) },
    expect: { error: ["cannot connect to {target}: connect ECONNREFUSED", "nothing accepts connections on {hostport}: is the server running"] } },
  { name: "a server that never answers", kind: "connection", input: { connect: (c) => ({ ...c, port: silentPort, connectTimeoutMs: 300 }) },
    expect: { error: /^cannot connect to \S+@127\.0\.0\.1:\d+\/bad_[0-9a-f]{12}: .*timeout.*\n  → no answer from 127\.0\.0\.1:\d+: check pgstack:server\.host and \.port/ } },
  { name: "a missing database", kind: "connection", input: { connect: (c) => ({ ...c, database: `${c.database}_gone` }) },
    expect: { error: ["cannot connect to {target}:", 'database "{db}" does not exist', "create it, or check its name in the stack config"] } },
  { name: "TLS required but not offered", kind: "connection", input: { connect: (c) => ({ ...c, sslmode: "require" }) },
    expect: { error: ["cannot connect to {target}:", "does not offer TLS: set pgstack:server.sslmode to disable"] } },

  // ── odd but valid: accepted ──
  { name: "a UTF-8 BOM", kind: "encoding", input: { files: { ...GOOD, "0001_a.sql": `\uFEFF${A}` } },
    expect: { accepted: ["0001_a", "0002_b"] } },
  { name: "CRLF line endings, with the directive", kind: "encoding", input: { files: { "0001_a.sql": crlf(A), "0002_b.sql": crlf(`-- pgstack:no-transaction\n${B}CREATE INDEX CONCURRENTLY b_idx ON b (id);\n`) } },
    expect: { accepted: ["0001_a", "0002_b"] } },
  { name: "a BOM and CRLF together", kind: "encoding", input: { files: { ...GOOD, "0002_b.sql": `\uFEFF${crlf(`-- the b table\n${B}`)}` } },
    expect: { accepted: ["0001_a", "0002_b"] } },
];

const refusals = (c: Case): boolean => "error" in c.expect;
const dirs: string[] = [];
let silent: net.Server | undefined;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  await loadSqlParser();
  // Accepts connections and never says a word: a firewall that drops, or a hung server.
  silent = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => silent?.listen(0, "127.0.0.1", resolve));
  silentPort = (silent.address() as net.AddressInfo).port;
});
afterEach(closeClients);
afterAll(() => {
  sockets.forEach((s) => s.destroy());
  silent?.close();
  dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true }));
});

/** A config that parses, naming the test server and the case's database. */
function validConfig(database: string): RawConfig {
  return {
    server: { ...testServerConfig() },
    databases: [
      {
        name: database,
        owner: "bi_owner",
        roles: [{ name: "bi_owner" }, { name: "bi_app", login: true }],
        schemas: ["public"],
        grants: [{ role: "bi_app", schema: "public", tablePrivileges: ["SELECT"] }],
        session: { lockTimeout: "5s" },
      },
    ],
  };
}

/** Replaces the folder's contents with `files`. */
function writeFolder(dir: string, files: Files): void {
  for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), body);
}

/** What "unchanged" compares: pgstack's history and meta (null when absent), the structure, the sentinel. */
async function snapshot(db: ConnectionOptions) {
  const cl = await connectTo(db);
  const rows = async (table: string, order: string) =>
    (await cl.query<{ ok: boolean }>(`SELECT to_regclass('${table}') IS NOT NULL AS ok`)).rows[0]?.ok
      ? (await cl.query(`SELECT * FROM ${table} ORDER BY ${order}`)).rows
      : null;
  return {
    history: await rows("pgstack.migrations", "id"),
    meta: await rows("pgstack.meta", "key"),
    fingerprint: (await introspect(cl)).fingerprint,
    sentinel: (await cl.query<{ v: number }>("SELECT v FROM sentinel ORDER BY v")).rows.map((r) => r.v),
  };
}

/** The `pulumi up` path: config → folder → connection → apply; `seen.target` is where it connected. */
async function run(c: Case, db: ConnectionOptions, dir: string, seen: { target?: ConnectionOptions }): Promise<void> {
  const raw = validConfig(db.database);
  c.input.config?.(raw);
  const cfg = parseStackConfig(raw, "dev");
  const database = cfg.databases[0]!;
  writeFolder(dir, c.input.files ?? GOOD);
  const migrations = await loadMigrations(dir);
  const { host, port, adminUser: user, sslmode } = cfg.server;
  const fromConfig: ConnectionOptions = { host, port, user, sslmode, password: db.password, database: db.database };
  const target = (seen.target = c.input.connect ? await c.input.connect(fromConfig) : fromConfig);
  const client = await connect(target, { retryDelaysMs: [] });
  try {
    const res = await applyMigrations(client, migrations, { database: database.name, session: database.session });
    if (res.error) throw res.error;
  } finally {
    await client.end();
  }
}

describe("bad input is refused with its place named, and the database is unchanged", () => {
  it.each(cases.map((c) => [`${c.kind}: ${c.name}`, c] as const))("%s", async (_label, c) => {
    const db = await freshDatabase("bad");
    await query(db, "CREATE TABLE sentinel (v int NOT NULL); INSERT INTO sentinel VALUES (1)");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-bad-"));
    dirs.push(dir);
    if (c.input.applied) {
      writeFolder(dir, c.input.applied);
      const res = await applyMigrations(await connectTo(db), await loadMigrations(dir), { database: db.database });
      expect(res.error).toBeUndefined();
    }
    const before = await snapshot(db);
    const seen: { target?: ConnectionOptions } = {};
    const outcome = await run(c, db, dir, seen).then(() => undefined, (e: unknown) => e);
    const after = await snapshot(db);

    if ("accepted" in c.expect) {
      expect(outcome).toBeUndefined();
      expect(after.history?.map((r) => r["name"])).toEqual(c.expect.accepted);
      expect(after.sentinel).toEqual([1, 2]);
      return;
    }
    expect(outcome).toBeInstanceOf(c.expect.as ?? ERROR_OF_KIND[c.kind]);
    const message = (outcome as Error).message;
    if (c.expect.error instanceof RegExp) expect(message).toMatch(c.expect.error);
    else {
      const t = seen.target;
      const fill = (s: string) => (t ? s.replaceAll("{target}", describeTarget(t)).replaceAll("{hostport}", `${t.host}:${t.port}`).replaceAll("{db}", t.database) : s);
      for (const fragment of c.expect.error) expect(message).toContain(fill(fragment));
    }
    // No secret, and no raw NUL, in anything shown to a user.
    expect(message).not.toContain(WRONG_PASSWORD);
    expect(message).not.toContain(adminConnection().password ?? "-");
    expect(message).not.toContain("\0");
    expect(after).toEqual(before);
  });

  it("has at least 40 refusals, and covers every kind", () => {
    expect(cases.filter(refusals).length).toBeGreaterThanOrEqual(40);
    expect(new Set(cases.filter(refusals).map((c) => c.kind))).toEqual(new Set(Object.keys(ERROR_OF_KIND)));
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });
});
