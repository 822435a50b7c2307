import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { convertFolder, parseProvenance, provenanceHeader, sanitizeName, writeMigrations } from "../../infra/importers/index.js";
import { flywayChecksum } from "../../infra/importers/flyway.js";
import { loadMigrations, sha256 } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { body, copyFixture, FIX, names, read, tempDir, text } from "../support/importer-fixtures.js";

const tmp = tempDir("pgstack-import-");
beforeAll(loadSqlParser);
const copy = (tool: string) => copyFixture(tmp, tool);

describe("drizzle", () => {
  it("follows the journal, strips `--> statement-breakpoint`, ends every chunk with `;`, records tag/when/hash", async () => {
    const c = await convertFolder("drizzle", `${FIX}/drizzle`);
    expect(c.tool).toBe("drizzle");
    expect(names(c)).toEqual(["0001_careful_wolverine.sql", "0002_fancy_mojo.sql", "0003_publish_existing_posts.sql", "0004_lowly_sabretooth.sql"]);
    expect(text(c, "0003_publish_existing_posts.sql")).toBe(
      "-- imported from drizzle: 0002_publish_existing_posts.sql\n" +
        `-- import record: tag=0002_publish_existing_posts when=1715610077890 hash=${sha256(fs.readFileSync(`${FIX}/drizzle/0002_publish_existing_posts.sql`))}\n` +
        "\n" +
        "-- Custom SQL migration file, put your code below! --\n" +
        `UPDATE "posts" SET "status" = 'published' WHERE "body" IS NOT NULL;\n\n` +
        `UPDATE "posts" SET "title" = trim("title");\n`,
    );
    expect(body(c, "0002_fancy_mojo.sql")).toBe(
      `\nCREATE TYPE "public"."post_status" AS ENUM('draft', 'published', 'archived');\n\n` +
        `ALTER TABLE "posts" ADD COLUMN "status" "post_status" DEFAULT 'draft' NOT NULL;\n\n` +
        `CREATE INDEX IF NOT EXISTS "posts_author_idx" ON "posts" USING btree ("author_id");\n`,
    );
    // The DO block keeps its inner `;` lines; only the breakpoint lines go.
    expect(body(c, "0001_careful_wolverine.sql")).toBe(`\n${read("drizzle/0000_careful_wolverine.sql").replace(/\n--> statement-breakpoint\n/g, "\n\n").trim()}\n`);
    for (const f of c.files) expect(f.text).not.toContain("statement-breakpoint");
    expect(parseProvenance(text(c, "0004_lowly_sabretooth.sql") ?? "")?.record).toMatchObject({ tag: "0003_lowly_sabretooth", when: "1716220933012" });
  });

  it("notes, and does not import, a .sql file that has no journal entry (drizzle-kit migrate ignores it too)", async () => {
    const dir = copy("drizzle");
    fs.writeFileSync(path.join(dir, "0004_stray.sql"), "CREATE TABLE stray (id int);");
    const c = await convertFolder("drizzle", dir);
    expect(names(c)).toEqual(["0001_careful_wolverine.sql", "0002_fancy_mojo.sql", "0003_publish_existing_posts.sql", "0004_lowly_sabretooth.sql"]);
    expect(c.files.some((f) => f.source === "0004_stray.sql" || f.text.includes("stray"))).toBe(false);
    expect(c.notes).toEqual([
      "ignored 0004_stray.sql: no entry in meta/_journal.json, so drizzle-kit migrate never runs it (add the entry with `drizzle-kit generate` if it should run)",
    ]);
  });

  it('accepts the "pg" dialect of journals written by drizzle-kit before 0.21', async () => {
    const dir = copy("drizzle");
    const journal = path.join(dir, "meta/_journal.json");
    fs.writeFileSync(journal, fs.readFileSync(journal, "utf8").replace('"dialect": "postgresql"', '"dialect": "pg"').replaceAll('"version": "7"', '"version": "5"'));
    expect(fs.readFileSync(journal, "utf8")).toContain('"dialect": "pg"');
    const c = await convertFolder("drizzle", dir);
    expect(c.files.map((f) => f.text)).toEqual((await convertFolder("drizzle", `${FIX}/drizzle`)).files.map((f) => f.text));
  });

  it("points a syntax error at the drizzle file's own line", async () => {
    const dir = copy("drizzle");
    const file = path.join(dir, "0003_lowly_sabretooth.sql");
    fs.writeFileSync(file, read("drizzle/0003_lowly_sabretooth.sql").replace('ADD CONSTRAINT "comments_author_id_users_id_fk"', "ADD CONSTRAINT"));
    await expect(convertFolder("drizzle", dir)).rejects.toThrow(`${file}:10:`);
    const db = copy("dbmate");
    const f2 = path.join(db, "20240302110000_create_tasks.sql");
    fs.writeFileSync(f2, read("dbmate/20240302110000_create_tasks.sql").replace("create index", "create indx"));
    await expect(convertFolder("dbmate", db)).rejects.toThrow(`${f2}:8:8: SQL syntax error: syntax error at or near "indx"`);
  });

  it("refuses a journal entry whose file is missing, a missing journal and another dialect", async () => {
    const dir = copy("drizzle");
    fs.rmSync(path.join(dir, "0002_publish_existing_posts.sql"));
    await expect(convertFolder("drizzle", dir)).rejects.toThrow(`entry 2 names "0002_publish_existing_posts", but ${path.join(dir, "0002_publish_existing_posts.sql")} does not exist`);
    await expect(convertFolder("drizzle", `${FIX}/prisma`)).rejects.toThrow("meta/_journal.json not found: this is not a Drizzle Kit migrations folder");
    const mysql = copy("drizzle");
    const journal = path.join(mysql, "meta/_journal.json");
    fs.writeFileSync(journal, fs.readFileSync(journal, "utf8").replace('"postgresql"', '"mysql"'));
    await expect(convertFolder("drizzle", mysql)).rejects.toThrow('the journal\'s dialect is "mysql", not "postgresql"');
  });
});

describe("prisma", () => {
  it("takes <timestamp>_name/migration.sql in folder order; a CONCURRENTLY index runs without a transaction", async () => {
    const c = await convertFolder("prisma", `${FIX}/prisma`);
    expect(names(c)).toEqual(["0001_init.sql", "0002_add_posts.sql", "0003_add_profile.sql", "0004_index_posts_published.sql"]);
    const init = read("prisma/20240105093000_init/migration.sql");
    expect(text(c, "0001_init.sql")).toBe(
      `-- imported from prisma: 20240105093000_init/migration.sql\n-- import record: migration=20240105093000_init checksum=${sha256(init)} alt=${sha256(init.replace(/\n/g, "\r\n"))}\n\n${init.trim()}\n`,
    );
    const idx = read("prisma/20240128170000_index_posts_published/migration.sql");
    expect(text(c, "0004_index_posts_published.sql")).toBe(
      "-- imported from prisma: 20240128170000_index_posts_published/migration.sql\n" +
        `-- import record: migration=20240128170000_index_posts_published checksum=${sha256(idx)} alt=${sha256(idx.replace(/\n/g, "\r\n"))}\n` +
        "-- pgstack:no-transaction\n\n" +
        read("prisma/20240128170000_index_posts_published/migration.sql"),
    );
    expect(c.notes).toEqual([]);
  });

  it("keeps Prisma's empty migration as a no-op, so its history row still maps", async () => {
    const dir = copy("prisma");
    fs.mkdirSync(path.join(dir, "20240202000000_empty"));
    fs.writeFileSync(path.join(dir, "20240202000000_empty/migration.sql"), "-- This is an empty migration.");
    const c = await convertFolder("prisma", dir);
    expect(body(c, "0005_empty.sql")).toBe(
      "\n-- 20240202000000_empty/migration.sql has no SQL of its own (an empty or merge migration); kept so the tool's history maps onto it\n-- This is an empty migration.\nSELECT 1;\n",
    );
    const out = path.join(tmp, "prisma-empty", "app");
    expect((await writeMigrations(out, c.files)).migrations.map((m) => m.name).at(-1)).toBe("0005_empty");
  });

  it("refuses a migration folder without migration.sql, and another provider", async () => {
    const dir = copy("prisma");
    fs.mkdirSync(path.join(dir, "20240201000000_half_done"));
    await expect(convertFolder("prisma", dir)).rejects.toThrow(`${path.join(dir, "20240201000000_half_done")}: a Prisma migration folder without migration.sql`);
    const sqlite = copy("prisma");
    fs.writeFileSync(path.join(sqlite, "migration_lock.toml"), 'provider = "sqlite"\n');
    await expect(convertFolder("prisma", sqlite)).rejects.toThrow('provider is "sqlite", not "postgresql"');
  });
});

describe("flyway", () => {
  it("orders versions numerically (1, 1.1, 2, 2.1, 10), puts repeatables last, honours .conf, notes what it skips", async () => {
    const c = await convertFolder("flyway", `${FIX}/flyway/db/migration`);
    expect(names(c)).toEqual([
      "0001_create_accounts.sql",
      "0002_add_account_email.sql",
      "0003_create_invoices.sql",
      "0004_index_invoices_by_account.sql",
      "0005_add_invoice_status.sql",
      "0006_account_totals_view.sql",
    ]);
    expect(text(c, "0002_add_account_email.sql")).toBe(
      "-- imported from flyway: V1_1__Add_account_email.sql\n" +
        `-- import record: version=1.1 script=V1_1__Add_account_email.sql checksum=${flywayChecksum(read("flyway/db/migration/V1_1__Add_account_email.sql"))}\n\n` +
        read("flyway/db/migration/V1_1__Add_account_email.sql"),
    );
    expect(text(c, "0004_index_invoices_by_account.sql")).toBe(
      "-- imported from flyway: billing/V2.1__Index_invoices_by_account.sql\n" +
        `-- import record: version=2.1 script=billing/V2.1__Index_invoices_by_account.sql checksum=${flywayChecksum(read("flyway/db/migration/billing/V2.1__Index_invoices_by_account.sql"))}\n` +
        `-- pgstack:no-transaction\n\n${read("flyway/db/migration/billing/V2.1__Index_invoices_by_account.sql")}`,
    );
    expect(text(c, "0006_account_totals_view.sql")?.split("\n").slice(0, 2)).toEqual([
      "-- imported from flyway: R__Account_totals_view.sql",
      `-- import record: repeatable=Account%20totals%20view script=R__Account_totals_view.sql checksum=${flywayChecksum(read("flyway/db/migration/R__Account_totals_view.sql"))}`,
    ]);
    expect(parseProvenance(text(c, "0006_account_totals_view.sql") ?? "")?.record["repeatable"]).toBe("Account totals view");
    expect(c.notes).toEqual([
      "ignored afterMigrate.sql: a Flyway callback, not a migration; run it yourself if it is still needed",
      "ignored billing/U2__Create_invoices.sql: undo migrations have no pgstack counterpart (pgstack only moves forward; write a new migration to undo)",
      "repeatable migration(s) R__Account_totals_view.sql placed after the versioned ones, as Flyway runs them; pgstack runs each once: to change one later, add a new migration (e.g. CREATE OR REPLACE VIEW)",
    ]);
  });

  it("computes Flyway's checksum: CRC-32 of the lines without line breaks or BOM, as a signed int", () => {
    expect(flywayChecksum("hello")).toBe(0x3610a686);
    expect(flywayChecksum("\uFEFFhel\r\nlo\n")).toBe(0x3610a686);
    // The CRC-32 check value of "123456789" is 0xCBF43926, stored by Flyway as a negative int.
    expect(flywayChecksum("1234\n56789")).toBe(0xcbf43926 - 2 ** 32);
  });

  it("refuses duplicate versions, placeholders and names Flyway would not take", async () => {
    const dup = copy("flyway");
    fs.writeFileSync(path.join(dup, "db/migration/V1.0__again.sql"), "SELECT 1;");
    await expect(convertFolder("flyway", dup)).rejects.toThrow("version 1 is used twice");
    const ph = copy("flyway");
    fs.writeFileSync(path.join(ph, "db/migration/V11__grant.sql"), "\nGRANT SELECT ON account TO ${appUser};\n");
    await expect(convertFolder("flyway", ph)).rejects.toThrow(`${path.join(ph, "db/migration/V11__grant.sql")}:2: Flyway placeholder \${appUser}`);
    const bad = copy("flyway");
    fs.writeFileSync(path.join(bad, "db/migration/V3_add_x.sql"), "SELECT 1;");
    await expect(convertFolder("flyway", bad)).rejects.toThrow("V3_add_x.sql: not a Flyway migration name");
  });
});

describe("golang-migrate", () => {
  it("takes the .up.sql files in version order, drops an outer BEGIN/COMMIT, ignores .down.sql", async () => {
    const c = await convertFolder("golang-migrate", `${FIX}/golang-migrate`);
    expect(names(c)).toEqual(["0001_create_users_table.sql", "0002_create_orders.sql", "0003_index_orders_by_state.sql", "0004_add_users_phone.sql"]);
    const orders = read("golang-migrate/000002_create_orders.up.sql");
    expect(text(c, "0002_create_orders.sql")).toBe(
      `-- imported from golang-migrate: 000002_create_orders.up.sql\n-- import record: version=2\n\n${orders.replace("BEGIN;\n", "").replace("COMMIT;\n", "").trim()}\n`,
    );
    expect(text(c, "0003_index_orders_by_state.sql")).toBe(
      "-- imported from golang-migrate: 000003_index_orders_by_state.up.sql\n-- import record: version=3\n-- pgstack:no-transaction\n\n" +
        read("golang-migrate/000003_index_orders_by_state.up.sql"),
    );
    expect(c.files.some((f) => /DROP/.test(f.text))).toBe(false);
    expect(c.notes).toEqual(["ignored 4 .down.sql file(s): pgstack only moves forward"]);
  });

  it("refuses a lone .down.sql and a COMMIT in the middle of a file", async () => {
    const dir = copy("golang-migrate");
    fs.rmSync(path.join(dir, "000004_add_users_phone.up.sql"));
    await expect(convertFolder("golang-migrate", dir)).rejects.toThrow("version(s) 4 have a .down.sql but no .up.sql");
    const mid = copy("golang-migrate");
    fs.writeFileSync(path.join(mid, "000005_two.up.sql"), "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n");
    await expect(convertFolder("golang-migrate", mid)).rejects.toThrow(`${path.join(mid, "000005_two.up.sql")}:2: transaction control statement "COMMIT" inside the migration`);
  });
});

describe("dbmate", () => {
  it("keeps the up section only; `transaction:false` becomes pgstack:no-transaction", async () => {
    const c = await convertFolder("dbmate", `${FIX}/dbmate`);
    expect(names(c)).toEqual(["0001_create_projects.sql", "0002_create_tasks.sql", "0003_index_open_tasks.sql", "0004_add_task_due_date.sql"]);
    expect(text(c, "0001_create_projects.sql")).toBe(
      "-- imported from dbmate: 20240301100000_create_projects.sql\n-- import record: version=20240301100000\n\n" +
        "create table projects (\n  id bigserial primary key,\n  name text not null,\n  archived boolean not null default false\n);\n",
    );
    expect(text(c, "0003_index_open_tasks.sql")).toBe(
      "-- imported from dbmate: 20240305090000_index_open_tasks.sql\n-- import record: version=20240305090000\n-- pgstack:no-transaction\n\n" +
        "create index concurrently tasks_open_idx on tasks (project_id) where not done;\n",
    );
    for (const f of c.files) expect(f.text).not.toMatch(/migrate:|drop table|drop index/);
  });

  it("refuses a file without `-- migrate:up` and SQL before the first marker", async () => {
    const dir = copy("dbmate");
    fs.writeFileSync(path.join(dir, "20240401000000_plain.sql"), "create table plain (id int);\n");
    await expect(convertFolder("dbmate", dir)).rejects.toThrow(`${path.join(dir, "20240401000000_plain.sql")}: no \`-- migrate:up\` section`);
    const early = copy("dbmate");
    fs.writeFileSync(path.join(early, "20240401000000_early.sql"), "-- note\ncreate table early (id int);\n-- migrate:up\nselect 1;\n");
    await expect(convertFolder("dbmate", early)).rejects.toThrow("SQL before the first `-- migrate:` marker");
  });
});

describe("alembic --sql", () => {
  it("splits on `-- Running upgrade a -> b`, drops alembic_version bookkeeping and BEGIN/COMMIT, records the chain", async () => {
    const c = await convertFolder("alembic-sql", `${FIX}/alembic/upgrade.sql`);
    expect(names(c)).toEqual(["0001_1975ea83b712.sql", "0002_ae1027a6acf.sql", "0003_27c6a30d7c24.sql", "0004_3f1b9c0d2e4a.sql"]);
    expect(text(c, "0001_1975ea83b712.sql")).toBe(
      "-- imported from alembic: upgrade.sql: upgrade (base) -> 1975ea83b712\n-- import record: revision=1975ea83b712 down=\n\n" +
        "CREATE TABLE account (\n    id SERIAL NOT NULL, \n    name VARCHAR(50) NOT NULL, \n    description VARCHAR(200), \n    PRIMARY KEY (id)\n);\n",
    );
    expect(text(c, "0004_3f1b9c0d2e4a.sql")).toBe(
      "-- imported from alembic: upgrade.sql: upgrade 27c6a30d7c24 -> 3f1b9c0d2e4a\n-- import record: revision=3f1b9c0d2e4a down=27c6a30d7c24\n\n" +
        "ALTER TABLE account ADD COLUMN is_active BOOLEAN DEFAULT true NOT NULL;\n\nUPDATE account SET description='' WHERE account.description IS NULL;\n",
    );
    for (const f of c.files) expect(f.text).not.toMatch(/alembic_version|BEGIN|COMMIT/);
    // A folder holding the one script works too.
    expect(names(await convertFolder("alembic-sql", `${FIX}/alembic`))).toEqual(names(c));
  });

  it("keeps an empty (merge) revision as a no-op and refuses a downgrade script", async () => {
    const file = path.join(tmp, "merge.sql");
    fs.writeFileSync(file, `${read("alembic/upgrade.sql").replace("COMMIT;", "")}-- Running upgrade 3f1b9c0d2e4a, 1a2b3c4d5e6f -> 9e8d7c6b5a40\n\nUPDATE alembic_version SET version_num='9e8d7c6b5a40' WHERE alembic_version.version_num = '3f1b9c0d2e4a';\n\nCOMMIT;\n`);
    const c = await convertFolder("alembic-sql", file);
    expect(text(c, "0005_9e8d7c6b5a40.sql")).toBe(
      "-- imported from alembic: merge.sql: upgrade 3f1b9c0d2e4a,1a2b3c4d5e6f -> 9e8d7c6b5a40\n-- import record: revision=9e8d7c6b5a40 down=3f1b9c0d2e4a,1a2b3c4d5e6f\n\n" +
        "-- merge.sql: upgrade 3f1b9c0d2e4a,1a2b3c4d5e6f -> 9e8d7c6b5a40 has no SQL of its own (an empty or merge migration); kept so the tool's history maps onto it\nSELECT 1;\n",
    );
    expect(c.notes).toContain("merge.sql: upgrade 3f1b9c0d2e4a,1a2b3c4d5e6f -> 9e8d7c6b5a40 has no SQL of its own: its file holds a no-op SELECT 1");
    const down = path.join(tmp, "down.sql");
    fs.writeFileSync(down, "BEGIN;\n\n-- Running downgrade ae1027a6acf -> 1975ea83b712\n\nALTER TABLE account DROP COLUMN last_transaction_date;\n\nCOMMIT;\n");
    await expect(convertFolder("alembic-sql", down)).rejects.toThrow(`${down}:3: "-- Running downgrade ae1027a6acf -> 1975ea83b712": only upgrade steps can be imported`);
    const typo = path.join(tmp, "typo.sql");
    fs.writeFileSync(typo, read("alembic/upgrade.sql").replace("ADD COLUMN is_active", "ADD COLUMN is active"));
    await expect(convertFolder("alembic-sql", typo)).rejects.toThrow(`${typo}:42:32: SQL syntax error: syntax error at or near "is"`);
    await expect(convertFolder("alembic-sql", `${FIX}/dbmate/20240301100000_create_projects.sql`)).rejects.toThrow("not the output of `alembic upgrade head --sql`");
  });
});

describe("writing", () => {
  it("writes files that pgstack loads, refuses a non-empty target without --force, replaces it with --force", async () => {
    const out = path.join(tmp, "w1", "app");
    const c = await convertFolder("dbmate", `${FIX}/dbmate`);
    const first = await writeMigrations(out, c.files);
    expect(first.written).toBe(true);
    expect(fs.readdirSync(out).sort()).toEqual(names(c));
    const loaded = await loadMigrations(out);
    expect(loaded.map((m) => [m.id, m.name, m.inTransaction])).toEqual([
      [1, "0001_create_projects", true],
      [2, "0002_create_tasks", true],
      [3, "0003_index_open_tasks", false],
      [4, "0004_add_task_due_date", true],
    ]);
    const other = await convertFolder("golang-migrate", `${FIX}/golang-migrate`);
    await expect(writeMigrations(out, other.files)).rejects.toThrow(`${out} already holds 4 file(s) (0001_create_projects.sql, 0002_create_tasks.sql, 0003_index_open_tasks.sql, …); nothing was written`);
    expect(fs.readdirSync(out).sort()).toEqual(names(c));
    const forced = await writeMigrations(out, other.files, { force: true });
    expect(forced.replaced).toBe(4);
    expect(fs.readdirSync(out).sort()).toEqual(names(other));
    // No temporary or replaced folders are left next to the target.
    expect(fs.readdirSync(path.dirname(out))).toEqual(["app"]);
  });

  it("treats a folder holding only .gitkeep as empty, and keeps the .gitkeep", async () => {
    const out = path.join(tmp, "w4", "app");
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, ".gitkeep"), "");
    const c = await convertFolder("prisma", `${FIX}/prisma`);
    expect((await writeMigrations(out, c.files)).replaced).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual([".gitkeep", ...names(c)]);
  });

  it("writes nothing when a converted file would be refused by pgstack, or on a dry run", async () => {
    const dir = copy("golang-migrate");
    fs.writeFileSync(path.join(dir, "000005_broken.up.sql"), "CREATE TABLE broken (id int;\n");
    const out = path.join(tmp, "w2", "app");
    await expect(convertFolder("golang-migrate", dir).then((c) => writeMigrations(out, c.files))).rejects.toThrow("000005_broken.up.sql:1:28: SQL syntax error");
    const dry = await writeMigrations(out, (await convertFolder("dbmate", `${FIX}/dbmate`)).files, { dryRun: true });
    expect(dry.written).toBe(false);
    expect(dry.migrations).toHaveLength(4);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });

  it("refuses, before writing, files that pgstack's loader rejects (named with their source)", async () => {
    const c = await convertFolder("dbmate", `${FIX}/dbmate`);
    const broken = c.files.map((f, i) => (i === 1 ? { ...f, text: `${f.text}\n-- pgstack:no-transactoin\n` } : f));
    const out = path.join(tmp, "w3", "app");
    await expect(writeMigrations(out, broken)).rejects.toThrow(
      /would be refused by pgstack; nothing was written:\n.*0002_create_tasks\.sql:\d+:1: unknown directive "pgstack:no-transactoin"[\s\S]*0002_create_tasks\.sql comes from 20240302110000_create_tasks\.sql/,
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe("names", () => {
  it("sanitizes to [a-z0-9_]+", () => {
    expect(sanitizeName("Add Email-Index")).toBe("add_email_index");
    expect(sanitizeName("Créer_les_tâches")).toBe("creer_les_taches");
    expect(sanitizeName("--")).toBe("migration");
  });

  it("writes provenance records that read back exactly, whatever the characters", () => {
    const record = { script: "dir with space/R__a%b.sql", down: "", hash: "ab12" };
    const header = provenanceHeader("flyway", { source: "dir with space/R__a%b.sql", record });
    expect(header.split("\n")[1]).toBe("-- import record: script=dir%20with%20space/R__a%25b.sql down= hash=ab12");
    expect(parseProvenance(`${header}\nSELECT 1;`)).toEqual({ tool: "flyway", source: "dir with space/R__a%b.sql", record });
    expect(parseProvenance("-- pgstack:no-transaction\nSELECT 1;")).toBeUndefined();
  });
});

describe("npm run import (the CLI)", () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "scripts/import.ts", ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });

  it("prints a summary table and writes the folder", () => {
    const out = path.join(tmp, "cli");
    const r = run("--from", "flyway", `${FIX}/flyway/db/migration`, "--db", "billing", "--out", out);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`import from flyway: ${FIX}/flyway/db/migration → ${path.join(out, "billing")} (6 migrations)`);
    expect(r.stdout).toMatch(/0004_index_invoices_by_account\.sql\s+billing\/V2\.1__Index_invoices_by_account\.sql\s+1\s+no-transaction/);
    expect(r.stdout).toContain(`wrote 6 files to ${path.join(out, "billing")}`);
    expect(fs.readdirSync(path.join(out, "billing"))).toHaveLength(6);
  });

  it("explains bad arguments with exit code 2, and import errors with exit code 1", () => {
    const bad = run("--from", "liquibase", `${FIX}/flyway`, "--db", "x");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('import: --from "liquibase" is not a known format; use one of drizzle, prisma, flyway, golang-migrate, dbmate, goose, alembic-sql');
    const db = run("--from", "dbmate", `${FIX}/dbmate`, "--db", "My-App");
    expect(db.status).toBe(2);
    expect(db.stderr).toContain('--db "My-App" must start with a lowercase letter');
    const wrong = run("--from", "drizzle", `${FIX}/dbmate`, "--db", "x", "--dry-run");
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain("import failed: test/fixtures/importers/dbmate/meta/_journal.json not found: this is not a Drizzle Kit migrations folder");
  });
});

