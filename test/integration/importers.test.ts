/**
 * Importers against a real PostgreSQL: each tool's fixture, converted, is applied with pgstack's
 * apply path to a fresh database; and each tool's history table, created with that tool's own
 * DDL and rows, is read and mapped onto the converted files.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { convertFolder, foreignAppliedVersions, mapForeignHistory, readForeignHistory, writeMigrations, type SourceFormat } from "../../infra/importers/index.js";
import { flywayChecksum } from "../../infra/importers/flyway.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import type { Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser, splitStatements } from "../../infra/lifecycle/sql.js";
import { closeClients, connectTo, freshDatabase } from "../support/db.js";

const FIX = "test/fixtures/importers";
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-import-it-"));
beforeAll(loadSqlParser);
afterEach(closeClients);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Converts a fixture and writes it as `migrations/<db>` would be; returns what pgstack loads. */
async function imported(format: SourceFormat, dir: string): Promise<Migration[]> {
  const out = path.join(fs.mkdtempSync(path.join(tmp, `${format}-`)), "app");
  const c = await convertFolder(format, dir);
  return (await writeMigrations(out, c.files)).migrations;
}

/** A fresh database with the converted folder applied by pgstack. */
async function appliedByPgstack(migrations: Migration[]): Promise<pg.Client> {
  const db = await freshDatabase("imp");
  const cl = await connectTo(db);
  const res = await applyMigrations(cl, migrations, { database: db.database });
  expect(res.error).toBeUndefined();
  expect(res.results.map((r) => r.status)).toEqual(migrations.map(() => "Success"));
  expect((await readHistory(cl)).map((h) => h.name)).toEqual(migrations.map((m) => m.name));
  return cl;
}

/** A fresh database where "the tool" ran the first `n` migrations (statement by statement, no pgstack history). */
async function appliedByTool(migrations: Migration[], n: number): Promise<pg.Client> {
  const db = await freshDatabase("imp");
  const cl = await connectTo(db);
  for (const m of migrations.slice(0, n)) {
    if (m.inTransaction) await cl.query(`BEGIN;\n${m.sql}\n;\nCOMMIT`);
    else for (const s of splitStatements(m.sql, m.file)) await cl.query(s.sql);
  }
  return cl;
}

/** `table: col col col` for every table in public, plus the indexes, as Postgres reports them. */
async function shape(cl: pg.Client): Promise<{ tables: Record<string, string>; indexes: string[] }> {
  const cols = await cl.query<{ t: string; c: string }>(
    `SELECT c.relname AS t, string_agg(a.attname, ' ' ORDER BY a.attnum) AS c
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v') GROUP BY c.relname ORDER BY c.relname`,
  );
  const idx = await cl.query<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`);
  return { tables: Object.fromEntries(cols.rows.map((r) => [r.t, r.c])), indexes: idx.rows.map((r) => r.i) };
}

describe("drizzle", () => {
  it("the converted folder applies and builds drizzle's schema", async () => {
    const ms = await imported("drizzle", `${FIX}/drizzle`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: {
        comments: "id post_id author_id body created_at",
        posts: "id author_id title body status",
        users: "id email name created_at",
      },
      indexes: ["comments_pkey", "posts_author_idx", "posts_pkey", "users_email_unique", "users_pkey"],
    });
    const fks = await cl.query<{ n: string }>(`SELECT conname AS n FROM pg_constraint WHERE contype = 'f' ORDER BY 1`);
    expect(fks.rows.map((r) => r.n)).toEqual(["comments_author_id_users_id_fk", "comments_post_id_posts_id_fk", "posts_author_id_users_id_fk"]);
  });

  it("reads drizzle.__drizzle_migrations (hash, created_at) and maps it; unknown hashes are refused", async () => {
    const ms = await imported("drizzle", `${FIX}/drizzle`);
    const cl = await appliedByTool(ms, 2);
    // drizzle-orm's migrator: its DDL, and one row per file with sha256(file) and the journal's `when`.
    await cl.query(`CREATE SCHEMA IF NOT EXISTS "drizzle"`);
    await cl.query(`CREATE TABLE IF NOT EXISTS "drizzle"."__drizzle_migrations" (\n  id SERIAL PRIMARY KEY,\n  hash text NOT NULL,\n  created_at bigint\n)`);
    const sha = (f: string) => fs.readFileSync(`${FIX}/drizzle/${f}.sql`);
    const hash = (f: string) => createHash("sha256").update(sha(f)).digest("hex");
    for (const [tag, when] of [["0000_careful_wolverine", 1714380410123], ["0001_fancy_mojo", 1715002001456]] as const) {
      await cl.query(`insert into "drizzle"."__drizzle_migrations" ("hash", "created_at") values($1, $2)`, [hash(tag), when]);
    }
    const foreign = await readForeignHistory(cl);
    expect(foreign).toEqual({
      tool: "drizzle",
      table: '"drizzle"."__drizzle_migrations"',
      rows: [{ hash: hash("0000_careful_wolverine"), createdAt: "1714380410123" }, { hash: hash("0001_fancy_mojo"), createdAt: "1715002001456" }],
    });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "drizzle", versions: [1, 2] });

    await cl.query(`insert into "drizzle"."__drizzle_migrations" ("hash", "created_at") values('${"ab".repeat(32)}', 1799999999999)`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow(
      `"drizzle"."__drizzle_migrations": the drizzle history cannot be mapped onto the migration files:\n  - drizzle migration with hash abababababab… (created_at 1799999999999) is recorded as applied, but no migration file was imported from it`,
    );
  });
});

describe("prisma", () => {
  it("the converted folder applies (the CONCURRENTLY index outside a transaction)", async () => {
    const ms = await imported("prisma", `${FIX}/prisma`);
    expect(ms.map((m) => m.inTransaction)).toEqual([true, true, true, false]);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { Post: "id title content published authorId", Profile: "id bio userId", User: "id email name role createdAt updatedAt" },
      indexes: ["Post_pkey", "Post_published_idx", "Profile_pkey", "Profile_userId_key", "User_email_key", "User_pkey"],
    });
  });

  it("reads _prisma_migrations: finished rows map, rolled-back rows are skipped, a failed row is refused", async () => {
    const ms = await imported("prisma", `${FIX}/prisma`);
    const cl = await appliedByTool(ms, 3);
    // Prisma's own DDL for its history table.
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
    const checksum = (m: Migration) => /checksum=([0-9a-f]{64})/.exec(m.sql)?.[1];
    const row = (id: string, m: Migration, finished: string | null, rolledBack: string | null, started: string, logs: string | null = null) =>
      cl.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, checksum(m), finished, /migration=(\S+)/.exec(m.sql)?.[1], logs, rolledBack, started, finished ? 1 : 0],
      );
    await row("0f8e5e1c-3f5a-4c1e-9a57-6f6d3b1c2a01", ms[0]!, "2024-01-05 09:31:02+00", null, "2024-01-05 09:31:01+00");
    await row("1a2b3c4d-0000-4000-8000-000000000002", ms[1]!, "2024-01-12 14:01:00+00", null, "2024-01-12 14:00:59+00");
    // Applied from a Windows checkout: Prisma recorded the checksum of the CRLF file, which it also accepts.
    const crlf = createHash("sha256").update(fs.readFileSync(`${FIX}/prisma/20240112140000_add_posts/migration.sql`, "utf8").replace(/\n/g, "\r\n")).digest("hex");
    await cl.query(`UPDATE "_prisma_migrations" SET checksum = $1 WHERE migration_name = '20240112140000_add_posts'`, [crlf]);
    // add_profile failed once, was marked rolled back (`prisma migrate resolve --rolled-back`), then applied.
    await row("2b3c4d5e-0000-4000-8000-000000000003", ms[2]!, null, "2024-01-20 10:20:00+00", "2024-01-20 10:15:00+00", "Database error code: 42P07");
    await row("3c4d5e6f-0000-4000-8000-000000000004", ms[2]!, "2024-01-20 10:30:01+00", null, "2024-01-20 10:30:00+00");
    const foreign = await readForeignHistory(cl);
    expect(foreign?.tool).toBe("prisma");
    expect(mapForeignHistory(foreign!, ms)).toEqual({ tool: "prisma", versions: [1, 2, 3], unmatched: [], modified: [] });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "prisma", versions: [1, 2, 3] });

    await row("4d5e6f70-0000-4000-8000-000000000005", ms[3]!, null, null, "2024-01-28 17:05:00+00", "Database error code: 40P01\n\nDatabase error:\ndeadlock detected");
    await expect(readForeignHistory(cl)).rejects.toThrow(
      `"public"."_prisma_migrations": Prisma migration(s) 20240128170000_index_posts_published started but never finished (failed); Prisma logged: Database error code: 40P01`,
    );
  });

  it("refuses a migration whose migration.sql changed after Prisma applied it", async () => {
    const ms = await imported("prisma", `${FIX}/prisma`);
    const cl = await appliedByTool(ms, 1);
    await cl.query(`CREATE TABLE "_prisma_migrations" ("id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`);
    await cl.query(`INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count) VALUES ('x1', '${"0".repeat(64)}', now(), '20240105093000_init', 1)`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow("0001_init (prisma 20240105093000_init): migration.sql changed after Prisma applied it");
  });
});

describe("flyway", () => {
  const ddl = `CREATE TABLE "public"."flyway_schema_history" (
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
CREATE INDEX "flyway_schema_history_s_idx" ON "public"."flyway_schema_history" ("success");`;
  /** What Flyway stores in `checksum` for a fixture script. */
  const sum = (script: string) => flywayChecksum(fs.readFileSync(`${FIX}/flyway/db/migration/${script}`, "utf8"));
  const insert = `INSERT INTO "public"."flyway_schema_history" ("installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success") VALUES ($1, $2, $3, $4, $5, $6, 'app', $7, $8)`;

  it("the converted folder applies: versions in numeric order, the repeatable view last", async () => {
    const ms = await imported("flyway", `${FIX}/flyway/db/migration`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { account: "id name created_at email", account_totals: "id name total_cents", invoice: "id account_id amount_cents issued_on status" },
      indexes: ["account_email_uq", "account_pkey", "invoice_account_idx", "invoice_pkey"],
    });
  });

  it("reads flyway_schema_history (versions, repeatables), honours a baseline, refuses a failed entry", async () => {
    const ms = await imported("flyway", `${FIX}/flyway/db/migration`);
    const cl = await appliedByTool(ms, 3);
    await cl.query(ddl);
    await cl.query(insert, [1, "1", "Create accounts", "SQL", "V1__Create_accounts.sql", sum("V1__Create_accounts.sql"), 21, true]);
    await cl.query(insert, [2, "1.1", "Add account email", "SQL", "V1_1__Add_account_email.sql", sum("V1_1__Add_account_email.sql"), 9, true]);
    await cl.query(insert, [3, "2", "Create invoices", "SQL", "billing/V2__Create_invoices.sql", sum("billing/V2__Create_invoices.sql"), 14, true]);
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "flyway", versions: [1, 2, 3] });
    await cl.query(insert, [4, "2.1", "Index invoices by account", "SQL", "billing/V2.1__Index_invoices_by_account.sql", sum("billing/V2.1__Index_invoices_by_account.sql"), 30, true]);
    await cl.query(insert, [5, "10", "Add invoice status", "SQL", "billing/V10__Add_invoice_status.sql", sum("billing/V10__Add_invoice_status.sql"), 8, true]);
    // The view was changed once: Flyway re-ran it; the earlier row's checksum no longer counts.
    await cl.query(insert, [6, null, "Account totals view", "SQL", "R__Account_totals_view.sql", 1234567, 5, true]);
    await cl.query(insert, [7, null, "Account totals view", "SQL", "R__Account_totals_view.sql", sum("R__Account_totals_view.sql"), 5, true]);
    expect(mapForeignHistory((await readForeignHistory(cl))!, ms)).toEqual({ tool: "flyway", versions: [1, 2, 3, 4, 5, 6], unmatched: [], modified: [] });
    // A versioned script edited after Flyway ran it: `flyway validate` fails on it, and so does adoption.
    await cl.query(`UPDATE flyway_schema_history SET checksum = 99 WHERE installed_rank = 2`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow(
      `0002_add_account_email (flyway V1_1__Add_account_email.sql): the script changed after Flyway ran it (checksum 99, the file's is ${sum("V1_1__Add_account_email.sql")})`,
    );

    // A database Flyway baselined at 2, then migrated to 2.1.
    const based = await appliedByTool(ms, 4);
    await based.query(ddl);
    await based.query(insert, [1, "2", "<< Flyway Baseline >>", "BASELINE", "<< Flyway Baseline >>", null, 0, true]);
    await based.query(insert, [2, "2.1", "Index invoices by account", "SQL", "billing/V2.1__Index_invoices_by_account.sql", sum("billing/V2.1__Index_invoices_by_account.sql"), 30, true]);
    expect(await foreignAppliedVersions(ms)(based)).toEqual({ tool: "flyway", versions: [1, 2, 3, 4] });

    await based.query(insert, [3, "10", "Add invoice status", "SQL", "billing/V10__Add_invoice_status.sql", sum("billing/V10__Add_invoice_status.sql"), 3, false]);
    await expect(readForeignHistory(based)).rejects.toThrow(
      `"public"."flyway_schema_history": Flyway recorded failed migration(s): billing/V10__Add_invoice_status.sql (rank 3)\n  → fix the database and run \`flyway repair\``,
    );
  });
});

describe("golang-migrate", () => {
  it("the converted folder applies (BEGIN/COMMIT dropped, CONCURRENTLY outside a transaction)", async () => {
    const ms = await imported("golang-migrate", `${FIX}/golang-migrate`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { orders: "id user_id state placed_at", users: "user_id username password email phone" },
      indexes: ["orders_pkey", "orders_state_idx", "users_email_key", "users_pkey", "users_username_key"],
    });
  });

  it("reads schema_migrations (version bigint, dirty): up to the version is applied; dirty is refused", async () => {
    const ms = await imported("golang-migrate", `${FIX}/golang-migrate`);
    const cl = await appliedByTool(ms, 3);
    await cl.query(`CREATE TABLE IF NOT EXISTS "public"."schema_migrations" (version bigint not null primary key, dirty boolean not null)`);
    await cl.query(`INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (3, false)`);
    expect(await readForeignHistory(cl)).toEqual({ tool: "golang-migrate", table: '"public"."schema_migrations"', version: "3" });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "golang-migrate", versions: [1, 2, 3] });
    await cl.query(`TRUNCATE "public"."schema_migrations"; INSERT INTO "public"."schema_migrations" (version, dirty) VALUES (4, true)`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toMatchObject({ name: "ForeignHistoryError", code: "FOREIGN_HISTORY" });
    await expect(readForeignHistory(cl)).rejects.toThrow(
      `"public"."schema_migrations": golang-migrate's version 4 is dirty: that migration failed part-way and the database is in an unknown state\n  → fix the database by hand, then mark it clean with \`migrate force 4\``,
    );
  });
});

describe("dbmate", () => {
  it("the converted folder applies (transaction:false honoured)", async () => {
    const ms = await imported("dbmate", `${FIX}/dbmate`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { projects: "id name archived", tasks: "id project_id title done due_on" },
      indexes: ["projects_pkey", "tasks_open_idx", "tasks_pkey", "tasks_project_id_idx"],
    });
    const comment = await cl.query<{ d: string }>(`SELECT col_description('tasks'::regclass, 5) AS d`);
    expect(comment.rows[0]?.d).toBe("the day the task is due; null when it has no deadline");
  });

  it("reads schema_migrations (version varchar), told apart from golang-migrate's; a hole is refused", async () => {
    const ms = await imported("dbmate", `${FIX}/dbmate`);
    const cl = await appliedByTool(ms, 2);
    await cl.query(`create table if not exists "public"."schema_migrations" (version varchar(128) primary key)`);
    await cl.query(`insert into "public"."schema_migrations" (version) values ('20240301100000'), ('20240302110000')`);
    expect(await readForeignHistory(cl)).toEqual({ tool: "dbmate", table: '"public"."schema_migrations"', versions: ["20240301100000", "20240302110000"] });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "dbmate", versions: [1, 2] });
    // dbmate applies older pending files too, so its history can have a hole; pgstack's cannot.
    await cl.query(`insert into "public"."schema_migrations" (version) values ('20240310120000')`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow("dbmate applied 0001_create_projects, 0002_create_tasks, 0004_add_task_due_date but not 0003_index_open_tasks, which come before");
  });
});

describe("goose", () => {
  it("the converted folder applies (the function whole, CONCURRENTLY outside a transaction)", async () => {
    const ms = await imported("goose", `${FIX}/goose`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { authors: "id name", books: "id author_id title updated_at isbn" },
      indexes: ["authors_pkey", "books_pkey", "books_title_idx"],
    });
    expect((await cl.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'books'::regclass AND NOT tgisinternal`)).rows).toEqual([{ tgname: "books_touch" }]);
  });

  it("reads goose_db_version: the latest row of each version decides; version 0 is goose's own", async () => {
    const ms = await imported("goose", `${FIX}/goose`);
    const cl = await appliedByTool(ms, 3);
    // goose's own DDL (v3.30, postgres dialect) and the rows `goose up`, `goose down`, `goose up` write.
    await cl.query(`CREATE TABLE goose_db_version (
      id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,
      version_id bigint NOT NULL,
      is_applied boolean NOT NULL,
      tstamp timestamp NOT NULL DEFAULT now()
    )`);
    await cl.query(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (3, true), (4, true), (4, false)`);
    expect(await readForeignHistory(cl)).toEqual({ tool: "goose", table: '"public"."goose_db_version"', versions: ["1", "2", "3"] });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "goose", versions: [1, 2, 3] });
    // Version 4 applied again: its latest row counts, not the earlier down.
    await cl.query(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (4, true)`);
    expect(await readForeignHistory(cl)).toMatchObject({ versions: ["1", "2", "3", "4"] });
    // goose -allow-missing can leave a hole; pgstack's history cannot have one.
    await cl.query(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (2, false)`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow(
      "goose applied 0001_create_authors, 0003_touch_books, 0004_index_books_title but not 0002_create_books, which come before",
    );
    await cl.query(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (2, true), (20240601120001, true)`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow("goose version 20240601120001 is recorded as applied, but no migration file was imported from it");
  });
});

describe("alembic", () => {
  it("the converted script applies without alembic_version", async () => {
    const ms = await imported("alembic-sql", `${FIX}/alembic/upgrade.sql`);
    const cl = await appliedByPgstack(ms);
    expect(await shape(cl)).toEqual({
      tables: { account: "id name description last_transaction_date is_active", transaction: "id account_id amount created_at" },
      indexes: ["account_pkey", "ix_transaction_account_id", "transaction_pkey"],
    });
  });

  it("reads alembic_version and maps the revision chain below it; an unknown revision is refused", async () => {
    const ms = await imported("alembic-sql", `${FIX}/alembic/upgrade.sql`);
    const cl = await appliedByTool(ms, 3);
    await cl.query(`CREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL, \n    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)\n)`);
    await cl.query(`INSERT INTO alembic_version (version_num) VALUES ('27c6a30d7c24') RETURNING alembic_version.version_num`);
    expect(await readForeignHistory(cl)).toEqual({ tool: "alembic", table: '"public"."alembic_version"', heads: ["27c6a30d7c24"] });
    expect(await foreignAppliedVersions(ms)(cl)).toEqual({ tool: "alembic", versions: [1, 2, 3] });
    await cl.query(`UPDATE alembic_version SET version_num='5e6f7a8b9c0d' WHERE alembic_version.version_num = '27c6a30d7c24'`);
    await expect(foreignAppliedVersions(ms)(cl)).rejects.toThrow("alembic revision 5e6f7a8b9c0d is recorded as applied, but no migration file was imported from it");
  });
});

describe("detection", () => {
  it("returns null without a known history table, and refuses two tools' tables at once", async () => {
    const ms = await imported("golang-migrate", `${FIX}/golang-migrate`);
    const cl = await appliedByTool(ms, 1);
    // Someone else's schema_migrations shape is not mistaken for a tool's.
    await cl.query(`CREATE TABLE schema_migrations (id serial primary key, version text, applied_at timestamptz)`);
    expect(await readForeignHistory(cl)).toBeNull();
    expect(await foreignAppliedVersions(ms)(cl)).toBeNull();
    await cl.query(`CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY); INSERT INTO alembic_version VALUES ('1975ea83b712')`);
    // Files imported from another tool: alembic's history says nothing about them.
    expect(await foreignAppliedVersions(ms)(cl)).toBeNull();
    await cl.query(`CREATE SCHEMA drizzle; CREATE TABLE drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)`);
    await expect(readForeignHistory(cl)).rejects.toThrow(
      `found the history tables of more than one migration tool: "drizzle"."__drizzle_migrations" (drizzle), "public"."alembic_version" (alembic)`,
    );
  });
});
