/**
 * Adoption by an admin that is not yet a member of the owner role, as on managed Postgres: the
 * owner ran another tool, so that tool's history table (and its schema) belongs to the owner,
 * and the admin becomes a member only during `up` (postgresql.GrantRole). The preview must say
 * in one line what it cannot read yet (no `permission denied`, no stack trace) and succeed; once
 * the admin is a member, as `up` makes it, the same inputs adopt in one go. A history table of
 * some other role is a refusal that says what to grant.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { convertFolder, readForeignHistory, writeMigrations, type SourceFormat } from "../../infra/importers/index.js";
import { NotReadableYetError } from "../../infra/lifecycle/errors.js";
import { loadMigrations, loadSqlParser, readHistory, splitStatements, type ConnectionOptions, type Migration } from "../../infra/lifecycle/index.js";
import { migrations, setLogger, type MigrationSetInputs } from "../../infra/providers/handlers.js";
import { closeClients, connectTo, freshDatabase, query, superuserConnection } from "../support/db.js";

const FIX = "test/fixtures/importers";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-non-member-"));
const logs: string[] = [];
beforeAll(async () => {
  await loadSqlParser();
  setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) });
});
beforeEach(() => {
  logs.length = 0;
});
afterEach(closeClients);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function importFixture(format: SourceFormat): Promise<Migration[]> {
  const out = path.join(fs.mkdtempSync(path.join(tmp, `${format}-`)), "app");
  await writeMigrations(out, (await convertFolder(format, `${FIX}/${format}`)).files);
  return loadMigrations(out);
}

/**
 * A database owned by a fresh owner role the admin is not a member of, where the owner (through
 * the superuser, standing in for the tool) ran the first `k` migrations and `history` (the tool's
 * own table and rows).
 */
async function ownedByTool(ms: Migration[], k: number, history: string): Promise<{ conn: ConnectionOptions; owner: string; inputs: MigrationSetInputs }> {
  const owner = `nm_owner_${randomBytes(4).toString("hex")}`;
  const conn = await freshDatabase("nonmember");
  const su = { ...superuserConnection(), database: conn.database };
  await query(su, `CREATE ROLE ${owner} CREATEROLE; ALTER DATABASE ${conn.database} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}`);
  const cl = await connectTo(su);
  await cl.query(`SET ROLE ${owner}`);
  for (const m of ms.slice(0, k)) {
    if (m.inTransaction) await cl.query(`BEGIN;\n${m.sql}\n;\nCOMMIT`);
    else for (const s of splitStatements(m.sql, m.file)) await cl.query(s.sql);
  }
  await cl.query(history);
  const inputs: MigrationSetInputs = {
    connection: conn,
    role: owner,
    migrations: ms.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })),
    resetGeneration: 1,
    schemas: ["public"],
    configPath: "pgstack:databases[0]",
  };
  return { conn, owner, inputs };
}

const GOLANG_MIGRATE_HISTORY = "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (3, false)";

describe("preview of an adoption by an admin that is not a member of the owner yet", () => {
  it("golang-migrate: the preview says in one line what it cannot read and why; after the membership up adopts in one go", async () => {
    const ms = await importFixture("golang-migrate");
    const { conn, owner, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY);
    const admin = conn.user;
    expect(await query(conn, `SELECT pg_has_role($1, 'MEMBER') AS member`, [owner])).toEqual([{ member: false }]);

    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toEqual([]);
    expect(logs).toEqual([
      `${conn.database}: cannot read public.schema_migrations (golang-migrate's history) yet: the admin "${admin}" becomes a member of its owner "${owner}" during up, and up reads it then`,
    ]);
    expect(logs.join("\n")).not.toMatch(/permission denied|\n\s+at /);
    // The preview changed nothing: no history, no membership.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t, pg_has_role($1, 'MEMBER') AS member", [owner])).toEqual([{ t: null, member: false }]);

    // What `up` does first (postgresql.GrantRole), then the MigrationSet.
    await query(conn, `GRANT ${owner} TO ${admin}`);
    logs.length = 0;
    const { outs } = await migrations.create(inputs);
    expect(outs.head).toBe("0004_add_users_phone");
    expect(logs).toContain(
      `${conn.database}: adopting an existing schema at 0003_index_orders_by_state, as golang-migrate's history says (verified): 0001..0003 were recorded as applied without running; 0004 will run`,
    );
    const cl = await connectTo(conn);
    expect((await readHistory(cl)).map((h) => [h.name, h.baselined ?? false])).toEqual([
      ["0001_create_users_table", true],
      ["0002_create_orders", true],
      ["0003_index_orders_by_state", true],
      ["0004_add_users_phone", false],
    ]);
    // The tool's table is left as it was, and the new column belongs to the owner's table.
    expect(await query(conn, "SELECT version::int, dirty FROM schema_migrations")).toEqual([{ version: 3, dirty: false }]);
  });

  it("drizzle: its own schema is not usable by the admin yet; the same one line, no refusal", async () => {
    const ms = await importFixture("drizzle");
    const { conn, owner, inputs } = await ownedByTool(
      ms,
      2,
      `CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
    );
    await expect(readForeignHistory(await connectTo(conn), { owner })).rejects.toBeInstanceOf(NotReadableYetError);
    expect((await migrations.check(undefined, inputs)).failures).toEqual([]);
    expect(logs).toEqual([
      `${conn.database}: cannot read drizzle.__drizzle_migrations (drizzle's history) yet: the admin "${conn.user}" becomes a member of its owner "${owner}" during up, and up reads it then`,
    ]);
  });

  it("files not imported from that tool: its table is not read at all, the schema alone names the version", async () => {
    const imported = await importFixture("golang-migrate");
    // The same SQL without the provenance comments, as if written for pgstack by hand.
    const ms = imported.map((m) => ({ ...m, sql: m.sql.split("\n").slice(2).join("\n") }));
    const { conn, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY);
    expect((await migrations.check(undefined, inputs)).failures).toEqual([]);
    expect(logs.some((l) => l.includes("cannot read"))).toBe(false);
    expect(logs).toContain(`${conn.database}: adopting an existing schema at 0003_index_orders_by_state: 0001..0003 will be recorded as applied without running; 0004 will run`);
  });

  it("a history table of another role, which up will not give access to, is refused with what to grant", async () => {
    const ms = await importFixture("golang-migrate");
    const { conn, owner, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY);
    const other = `nm_other_${randomBytes(4).toString("hex")}`;
    await query({ ...superuserConnection(), database: conn.database }, `CREATE ROLE ${other}; ALTER TABLE schema_migrations OWNER TO ${other}`);
    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toEqual([
      {
        property: "",
        reason:
          `cannot read public.schema_migrations (golang-migrate's history): the admin "${conn.user}" may not (it belongs to "${other}"), so pgstack cannot tell which migrations golang-migrate ran\n` +
          `  → GRANT SELECT ON "public"."schema_migrations" (and USAGE on its schema) TO "${conn.user}", or state the adopted version with \`baseline: N\``,
      },
    ]);
    expect(owner).not.toBe(other);
  });
});
