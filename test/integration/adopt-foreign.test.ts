/**
 * Adoption from another tool's history, through the MigrationSet provider as the engine calls it.
 * A tool's fixture folder is imported (as `npm run import` does) and loaded from disk; a fresh
 * database gets the first K migrations run the way the tool runs them, plus the tool's own
 * history table (its DDL, its rows) saying K are applied. `check` (the preview) must name the
 * tool and K; `create` (up) must record 1..K as baselined and run only K+1..M. A history that
 * claims more than the schema holds is refused with the structural difference, nothing changed.
 *
 * Then by an admin that is not yet a member of the owner role, as on managed Postgres: the owner
 * ran the tool, so its history table (and schema) belongs to the owner, and the admin becomes a
 * member only during `up` (postgresql.GrantRole). The preview must say in one line what it cannot
 * read yet (no `permission denied`, no stack trace) and succeed; once the admin is a member, the
 * same inputs adopt in one go. A history table of some other role is refused with what to grant.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { convertFolder, foreignAppliedVersions, readForeignHistory, writeMigrations, type SourceFormat } from "../../infra/importers/index.js";
import { adoptBaseline } from "../../infra/lifecycle/baseline.js";
import { grantOwnerMembership } from "../../infra/lifecycle/membership.js";
import { NotReadableYetError } from "../../infra/lifecycle/errors.js";
import { PROFILES } from "../../infra/lifecycle/safety/index.js";
import { flywayChecksum } from "../../infra/importers/flyway.js";
import { loadMigrations, loadSqlParser, readHistory, splitStatements, type ConnectionOptions, type Migration } from "../../infra/lifecycle/index.js";
import { migrations, safety, setLogger, type MigrationSetInputs } from "../../infra/providers/kinds.js";
import { closeClients, connectTo, freshDatabase, letAdminGrant, query, serverMajor, superuserConnection } from "../support/db.js";
import { captureProviderLogs } from "../support/logs.js";
import { importFixture, runByTool } from "../support/foreign.js";

const FIX = "test/fixtures/importers";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-adopt-foreign-"));
const logs = captureProviderLogs();
beforeAll(loadSqlParser);
afterEach(closeClients);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A fresh database where the tool ran the first `k` migrations (no pgstack history), and the inputs to adopt it. */
async function ranByTool(ms: Migration[], k: number): Promise<{ conn: ConnectionOptions; cl: pg.Client; inputs: MigrationSetInputs }> {
  const conn = await freshDatabase("adoptf");
  const cl = await connectTo(conn);
  await runByTool(cl, ms.slice(0, k));
  const inputs: MigrationSetInputs = {
    connection: conn,
    role: conn.user,
    migrations: ms.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })),
    resetGeneration: 1,
    schemas: ["public"],
    configPath: "pgstack:databases[0]",
  };
  return { conn, cl, inputs };
}

/** pgstack's history as `[name, baselined]`. */
async function history(cl: pg.Client): Promise<[string, boolean][]> {
  return (await readHistory(cl)).map((h) => [h.name, h.baselined ?? false]);
}

describe("flyway: flyway_schema_history says V1, V1.1 and V2 ran (3 of 6)", () => {
  const sum = (script: string) => flywayChecksum(fs.readFileSync(`${FIX}/flyway/db/migration/${script}`, "utf8"));

  it("check names flyway and 0003; create records 0001..0003 as baselined and runs only 0004..0006", async () => {
    const ms = await importFixture(tmp, "flyway", `${FIX}/flyway/db/migration`);
    expect(ms.map((m) => m.name)).toEqual([
      "0001_create_accounts",
      "0002_add_account_email",
      "0003_create_invoices",
      "0004_index_invoices_by_account",
      "0005_add_invoice_status",
      "0006_account_totals_view",
    ]);
    const { conn, cl, inputs } = await ranByTool(ms, 3);
    // Flyway's own DDL for its history table, and the rows it writes for V1, V1.1 and V2.
    await cl.query(`CREATE TABLE "public"."flyway_schema_history" (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE "public"."flyway_schema_history" ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");`);
    const insert = `INSERT INTO "public"."flyway_schema_history" ("installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success") VALUES ($1, $2, $3, 'SQL', $4, $5, 'app', 12, true)`;
    await cl.query(insert, [1, "1", "Create accounts", "V1__Create_accounts.sql", sum("V1__Create_accounts.sql")]);
    await cl.query(insert, [2, "1.1", "Add account email", "V1_1__Add_account_email.sql", sum("V1_1__Add_account_email.sql")]);
    await cl.query(insert, [3, "2", "Create invoices", "billing/V2__Create_invoices.sql", sum("billing/V2__Create_invoices.sql")]);
    // Data the application wrote while Flyway managed the database: it must survive adoption.
    await cl.query(`INSERT INTO account (name, email) VALUES ('Ada', 'ada@example.com')`);
    await cl.query(`INSERT INTO invoice (account_id, amount_cents, issued_on) SELECT id, 4200, DATE '2023-06-01' FROM account`);

    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toEqual([]);
    const preview = `${conn.database}: adopting an existing schema at 0003_create_invoices, as flyway's history says (verified): 0001..0003 will be recorded as applied without running; 0004..0006 will run`;
    expect(logs).toContain(preview);
    expect(logs).toContain(`${conn.database}: no migration creates public.flyway_schema_history; left as it is and not compared`);
    // The preview changed nothing.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);

    logs.length = 0;
    const { outs } = await migrations.create(inputs);
    expect(outs.head).toBe("0006_account_totals_view");
    expect(logs).toContain(
      `${conn.database}: adopting an existing schema at 0003_create_invoices, as flyway's history says (verified): 0001..0003 were recorded as applied without running; 0004..0006 will run`,
    );
    expect(await history(cl)).toEqual([
      ["0001_create_accounts", true],
      ["0002_add_account_email", true],
      ["0003_create_invoices", true],
      ["0004_index_invoices_by_account", false],
      ["0005_add_invoice_status", false],
      ["0006_account_totals_view", false],
    ]);
    // 0001..0003 did not run again (the rows are there); 0005 ran once, on those rows; 0004 and 0006 built their objects.
    expect((await cl.query(`SELECT a.name, a.email, i.amount_cents, i.status FROM account a JOIN invoice i ON i.account_id = a.id`)).rows).toEqual([
      { name: "Ada", email: "ada@example.com", amount_cents: 4200, status: "paid" },
    ]);
    expect((await cl.query(`SELECT name, total_cents::int AS total FROM account_totals`)).rows).toEqual([{ name: "Ada", total: 4200 }]);
    expect((await cl.query(`SELECT indexname FROM pg_indexes WHERE indexname = 'invoice_account_idx'`)).rowCount).toBe(1);
    // Flyway's table is left as it was.
    expect((await cl.query(`SELECT count(*)::int AS n FROM flyway_schema_history`)).rows).toEqual([{ n: 3 }]);

    // Adopted: the next preview says nothing about adoption and wants nothing.
    logs.length = 0;
    expect((await migrations.check(inputs, inputs)).failures).toEqual([]);
    expect(logs.filter((l) => l.includes("adopting"))).toEqual([]);
    expect((await migrations.diff(`${conn.database}/migrations`, outs, inputs)).changes).toBe(false);
  });
});

describe("prisma: _prisma_migrations says init, add_posts and add_profile finished (3 of 4)", () => {
  it("check names prisma and 0003; create records 0001..0003 as baselined and runs only the CONCURRENTLY index", async () => {
    const ms = await importFixture(tmp, "prisma", `${FIX}/prisma`);
    const { conn, cl, inputs } = await ranByTool(ms, 3);
    // Prisma's own DDL for its history table, and one finished row per applied migration.
    await cl.query(`CREATE TABLE "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`);
    const rows = [
      ["0f8e5e1c-3f5a-4c1e-9a57-6f6d3b1c2a01", "20240105093000_init", "2024-01-05 09:31:01+00"],
      ["1a2b3c4d-0000-4000-8000-000000000002", "20240112140000_add_posts", "2024-01-12 14:00:59+00"],
      ["3c4d5e6f-0000-4000-8000-000000000004", "20240120101500_add_profile", "2024-01-20 10:30:00+00"],
    ] as const;
    for (const [id, name, at] of rows) {
      const sql = fs.readFileSync(`${FIX}/prisma/${name}/migration.sql`);
      const checksum = createHash("sha256").update(sql).digest("hex");
      await cl.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, $3, $4, NULL, NULL, $3, 1)`,
        [id, checksum, at, name],
      );
    }
    await cl.query(`INSERT INTO "User" (email, name, "updatedAt") VALUES ('grace@example.com', 'Grace', now())`);

    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toEqual([]);
    expect(logs).toContain(
      `${conn.database}: adopting an existing schema at 0003_add_profile, as prisma's history says (verified): 0001..0003 will be recorded as applied without running; 0004 will run`,
    );

    const { outs } = await migrations.create(inputs);
    expect(outs.head).toBe("0004_index_posts_published");
    expect(await history(cl)).toEqual([
      ["0001_init", true],
      ["0002_add_posts", true],
      ["0003_add_profile", true],
      ["0004_index_posts_published", false],
    ]);
    expect((await cl.query(`SELECT email FROM "User"`)).rows).toEqual([{ email: "grace@example.com" }]);
    expect((await cl.query(`SELECT indexname FROM pg_indexes WHERE indexname = 'Post_published_idx'`)).rowCount).toBe(1);
  });
});

describe("golang-migrate: schema_migrations says version 2, but the database is at 1", () => {
  it("check and create refuse with the structural difference; nothing is recorded or run", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    // Only 000001 ran (orders is missing), yet golang-migrate's row claims version 2, clean.
    const { conn, cl, inputs } = await ranByTool(ms, 1);
    await cl.query(`CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null primary key, dirty boolean not null)`);
    await cl.query(`INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (2, false)`);
    await cl.query(`INSERT INTO users (username, password, email) VALUES ('linus', 'x', 'linus@example.com')`);

    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toHaveLength(1);
    const reason = checked.failures[0]?.reason ?? "";
    expect(reason).toContain(
      `database "${conn.database}": golang-migrate's history says its schema is at 0002_create_orders, but it differs from that version in 2 place(s); nothing was applied or recorded:`,
    );
    // The table's serial sequence goes with it (no line of its own); its enum is an object of its own.
    expect(reason).toContain("\n    - enum public.order_state (only in the migrations)\n    - table public.orders (only in the migrations)\n");
    expect(reason).toContain("→ make the database equal 0002_create_orders (or correct that history), then run again");
    expect(logs.filter((l) => l.includes("adopting"))).toEqual([]);
    // The preview wrote nothing, not even pgstack's history table.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);

    await expect(migrations.create(inputs)).rejects.toThrow("golang-migrate's history says its schema is at 0002_create_orders, but it differs from that version");
    // Nothing changed: no history rows, no orders, the user's row untouched, the tool's row as it was.
    expect(await readHistory(cl)).toEqual([]);
    expect((await cl.query(`SELECT to_regclass('public.orders') AS t`)).rows).toEqual([{ t: null }]);
    expect((await cl.query(`SELECT username FROM users`)).rows).toEqual([{ username: "linus" }]);
    expect((await cl.query(`SELECT version::int AS v, dirty FROM schema_migrations`)).rows).toEqual([{ v: 2, dirty: false }]);
  });
});

/**
 * A database owned by a fresh owner role whose privileges the admin does not hold (on 16+ it may
 * grant the role, {@link letAdminGrant}, as a DBA lets it), where the owner (through
 * the superuser, standing in for the tool) ran the first `k` migrations and `history` (the tool's
 * own table and rows).
 */
async function ownedByTool(ms: Migration[], k: number, history: string, opts: { grantable?: boolean } = {}): Promise<{ conn: ConnectionOptions; owner: string; inputs: MigrationSetInputs }> {
  const owner = `nm_owner_${randomBytes(4).toString("hex")}`;
  const conn = await freshDatabase("nonmember");
  const su = { ...superuserConnection(), database: conn.database };
  await query(su, `CREATE ROLE ${owner} CREATEROLE; ALTER DATABASE ${conn.database} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}`);
  if (opts.grantable !== false) await letAdminGrant(owner, conn.user);
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
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    const { conn, owner, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY);
    const admin = conn.user;
    // It holds none of the owner's privileges (on 16+ only ADMIN OPTION, which lets up grant them).
    expect(await query(conn, `SELECT pg_has_role($1, 'USAGE') AS privileges`, [owner])).toEqual([{ privileges: false }]);

    const checked = await migrations.check(undefined, inputs);
    expect(checked.failures).toEqual([]);
    // One line: what it cannot read and why, and what the schema alone shows (up checks it against the history).
    expect(logs.filter((l) => l.includes("golang-migrate"))).toEqual([
      `${conn.database}: cannot read public.schema_migrations (golang-migrate's history) yet: the admin "${admin}" becomes a member of its owner "${owner}" during up, and up reads it then; ` +
        "the live schema equals 0003_index_orders_by_state, which up checks against it",
    ]);
    expect(logs.join("\n")).not.toMatch(/permission denied|\n\s+at /);
    // The preview changed nothing: no history, no membership.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t, pg_has_role($1, 'USAGE') AS privileges", [owner])).toEqual([{ t: null, privileges: false }]);

    // An up that still cannot read the history records nothing (the schema alone never decides when a history exists).
    const options = { connection: conn, schemas: ["public"], foreignApplied: foreignAppliedVersions(ms, { owner }) };
    await expect(adoptBaseline(await connectTo(conn), ms, conn.database, options)).rejects.toThrow(
      `cannot read public.schema_migrations (golang-migrate's history): the admin "${admin}" is not a member of its owner "${owner}"`,
    );
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);

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
    const ms = await importFixture(tmp, "drizzle", `${FIX}/drizzle`);
    const { conn, owner, inputs } = await ownedByTool(
      ms,
      2,
      `CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`,
    );
    await expect(readForeignHistory(await connectTo(conn), { owner })).rejects.toBeInstanceOf(NotReadableYetError);
    expect((await migrations.check(undefined, inputs)).failures).toEqual([]);
    // 0003 only updates rows, so the schema equals 0002 and 0003 alike: only the unread history can tell; the line says no more.
    expect(logs.filter((l) => l.includes("cannot read"))).toEqual([
      `warn: database "${conn.database}": cannot read drizzle.__drizzle_migrations (drizzle's history) yet: the admin "${conn.user}" becomes a member of its owner "${owner}" during up, and up reads it then`,
    ]);
    // The safety check of the same preview says the same (deferred), not "adoption refused".
    logs.length = 0;
    const policy = PROFILES.prod;
    const checked = await safety.check(undefined, { connection: inputs.connection, role: owner, migrations: inputs.migrations, policy, configPath: "pgstack:safety", resetGeneration: 1, schemas: ["public"], databaseConfigPath: "pgstack:databases[0]" });
    expect(checked.failures).toEqual([]);
    expect(logs.filter((l) => /adoption/.test(l))).toEqual([
      expect.stringContaining(`adoption: database "${conn.database}": cannot read drizzle.__drizzle_migrations (drizzle's history) yet: the admin "${conn.user}" becomes a member of its owner "${owner}" during up`),
    ]);
  });

  it("files not imported from that tool: its table is not read at all, the schema alone names the version", async () => {
    const imported = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    // The same SQL without the provenance comments, as if written for pgstack by hand.
    const ms = imported.map((m) => ({ ...m, sql: m.sql.split("\n").slice(2).join("\n") }));
    const { conn, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY);
    expect((await migrations.check(undefined, inputs)).failures).toEqual([]);
    expect(logs.some((l) => l.includes("cannot read"))).toBe(false);
    expect(logs).toContain(`${conn.database}: adopting an existing schema at 0003_index_orders_by_state: 0001..0003 will be recorded as applied without running; 0004 will run`);
  });

  it("an owner someone else created and the admin may not grant: on 16+ a refusal naming the superuser's one statement; before 16 CREATEROLE suffices", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
    const { conn, owner, inputs } = await ownedByTool(ms, 3, GOLANG_MIGRATE_HISTORY, { grantable: false });
    const checked = await migrations.check(undefined, inputs);
    if (serverMajor() >= 16) {
      expect(checked.failures).toEqual([
        {
          property: "",
          reason:
            `cannot create the throwaway role that runs the migrations as "${owner}": permission denied to grant role "${owner}"; nothing was run\n` +
            `  → the admin "${conn.user}" must be able to grant "${owner}" (PostgreSQL 16 and later: only with ADMIN OPTION on it, which a role's creator has): as a superuser, run GRANT "${owner}" TO "${conn.user}" WITH ADMIN OPTION`,
        },
      ]);
      // up's own grant of the owner's privileges is refused the same way, naming the statement.
      await expect(grantOwnerMembership(await connectTo(conn), owner)).rejects.toMatchObject({ code: "MEMBERSHIP_NOT_PERMITTED", hint: expect.stringContaining(`as a superuser or the role's creator, run GRANT "${owner}" TO "${conn.user}"`) });
    } else {
      expect(checked.failures).toEqual([]);
      expect(await grantOwnerMembership(await connectTo(conn), owner)).toMatchObject({ action: "granted" });
    }
    // Nothing was recorded by the refused (or passing) preview.
    expect(await query(conn, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);
  });

  it("a history table of another role, which up will not give access to, is refused with what to grant", async () => {
    const ms = await importFixture(tmp, "golang-migrate", `${FIX}/golang-migrate`);
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
