/**
 * Data safety of pending migrations against a real Postgres: the runbook's cases from
 * test/fixtures/safety, each with its exact counts, under the dev (warn) and prod (refuse)
 * policies, with and without the acknowledgement.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import type pg from "pg";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, fromText, loadMigrations, loadSqlParser, MigrationSourceError, type ConnectionOptions, type Migration } from "../../infra/lifecycle/index.js";
import { analyzeSafety, formatSafetyReport, PROFILES, type Finding, type SafetyReport } from "../../infra/lifecycle/safety/index.js";
import { readDatabaseState } from "../../infra/lifecycle/state.js";
import { safety, setLogger, type SafetyInputs } from "../../infra/providers/kinds.js";
import { lintWithSquawk } from "../../infra/lifecycle/safety/squawk.js";
import { REHEARSAL_NOT_IN_UPDATE } from "../../infra/providers/safety.js";
import { listedMigration } from "../../infra/providers/migrations.js";
import { adminConnection, closeClients, connectTo, freshDatabase, query } from "../support/db.js";

const DIR = "test/fixtures/safety/migrations";
let all: Migration[];

beforeAll(async () => {
  await loadSqlParser();
  all = await loadMigrations(DIR);
});
afterEach(closeClients);

/** A database with 0001 applied and the seed rows in; returns a client and the connection. */
async function seeded(): Promise<{ db: ConnectionOptions; cl: pg.Client }> {
  const db = await freshDatabase("safety");
  const cl = await connectTo(db);
  const res = await applyMigrations(cl, all.slice(0, 1), { database: db.database });
  expect(res.error).toBeUndefined();
  await cl.query(fs.readFileSync("test/fixtures/safety/seed.sql", "utf8"));
  return { db, cl };
}

/** The fixture migration `name`, or a copy of it with `edit` applied to its text. */
function migration(name: string, edit?: (sql: string) => string): Migration {
  const m = all.find((x) => x.name === name);
  if (!m) throw new Error(`no fixture ${name}`);
  return edit ? fromText({ id: m.id, name: m.name, file: m.file, sql: edit(m.sql) }) : m;
}

/** The findings of one class, as `line:message` plus rows, for exact assertions. */
const of = (r: SafetyReport, cls: Finding["class"]) => r.findings.filter((f) => f.class === cls);
const rows = (f: Finding | undefined) => f?.rows;

describe("squawk on a batch of both kinds", () => {
  it("lints the transactional and the no-transaction files (two runs at once), maps each finding to its file:line, and leaves no copy behind", async () => {
    const copies = () => ["/dev/shm", os.tmpdir()].flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((f) => f.startsWith("pgstack-squawk-")) : []));
    const before = copies();
    const batch = [
      fromText({ id: 7, name: "0007_index", file: "m/0007_index.sql", sql: "-- an index built the blocking way\nCREATE INDEX items_a ON items (a);\n" }),
      fromText({ id: 8, name: "0008_concurrently", file: "m/0008_concurrently.sql", sql: "-- pgstack:no-transaction\nCREATE INDEX CONCURRENTLY items_b ON items (b);\nALTER TABLE items ADD CONSTRAINT items_fk FOREIGN KEY (a) REFERENCES owners (id);\n" }),
    ];
    expect(batch.map((m) => m.inTransaction)).toEqual([true, false]);
    const found = await lintWithSquawk(batch);
    expect(found.find((f) => f.rule === "squawk/require-concurrent-index-creation")).toMatchObject({ file: "m/0007_index.sql", line: 2, column: 1 });
    expect(found.find((f) => f.rule === "squawk/adding-foreign-key-constraint")).toMatchObject({ file: "m/0008_concurrently.sql", line: 3 });
    // The CONCURRENTLY index runs outside a transaction: linted as such, not as the first kind.
    const inTx = "squawk/ban-concurrent-index-creation-in-transaction";
    expect(found.filter((f) => f.rule === inTx)).toEqual([]);
    // (pgstack itself refuses such a file without the directive; the linter is asked directly.)
    const asTx = await lintWithSquawk([{ ...batch[1]!, file: "m/0009_in_tx.sql", inTransaction: true }]);
    expect(asTx.find((f) => f.rule === inTx)).toMatchObject({ file: "m/0009_in_tx.sql", line: 2 });
    expect(copies()).toEqual(before);
  });
});

describe("the pending batch, counted on the live database", () => {
  let report: SafetyReport;
  let dev: SafetyReport;
  let db: ConnectionOptions;

  beforeAll(async () => {
    const s = await seeded();
    db = s.db;
    const cl = s.cl;
    const { pending } = await readDatabaseState(cl, all);
    expect(pending.map((m) => m.name)).toEqual(all.slice(1).map((m) => m.name));
    report = await analyzeSafety(cl, "safety", pending, PROFILES.prod);
    dev = await analyzeSafety(cl, "safety", pending, PROFILES.dev);
  });

  it("copy-and-swap: 3 of 10 events fail the uuid cast; the drop of events loses 10 rows; the swap's rename is not flagged", () => {
    const casts = of(report, "cast-failure").filter((f) => f.file.endsWith("0002_copy_swap_events.sql"));
    expect(casts).toHaveLength(1);
    expect(casts[0]).toMatchObject({ rule: "pgstack/copy-with-casts", line: 3, table: "events", rows: { count: 3, exact: true } });
    const drop = of(report, "data-loss").find((f) => f.table === "events");
    expect(drop).toMatchObject({ line: 5, rows: { count: 10, exact: true } });
    expect(drop?.message).toContain("copied into events_new");
    expect(of(report, "rename").map((f) => f.table)).not.toContain("events_new");
  });

  it("the fold: components' 5 rows are lost by the drop after the copy", () => {
    expect(rows(of(report, "data-loss").find((f) => f.table === "components"))).toEqual({ count: 5, exact: true });
  });

  it('"unused" tables: 621 rows in "bazaar-vid_component_error", none in old_logs', () => {
    expect(rows(of(report, "data-loss").find((f) => f.table === "bazaar-vid_component_error"))).toEqual({ count: 621, exact: true });
    expect(rows(of(report, "data-loss").find((f) => f.table === "old_logs"))).toEqual({ count: 0, exact: true });
  });

  it("FK over orphans: 2 orders have no user (the NULL one is not an orphan)", () => {
    expect(of(report, "fk-orphans")).toHaveLength(1);
    expect(of(report, "fk-orphans")[0]).toMatchObject({ table: "orders", rows: { count: 2, exact: true } });
  });

  it("NOT NULL: 2 accounts without email block SET NOT NULL; all 6 block ADD COLUMN NOT NULL without default", () => {
    const nn = of(report, "not-null");
    expect(nn.map((f) => [f.rule, f.line, f.rows?.count])).toEqual([
      ["pgstack/set-not-null", 1, 2],
      ["pgstack/add-column-not-null", 2, 6],
    ]);
  });

  it("unique index: 2 duplicate groups (5 rows) in tags", () => {
    const d = of(report, "duplicates");
    expect(d).toHaveLength(1);
    expect(d[0]?.rows).toEqual({ count: 2, exact: true });
    expect(d[0]?.message).toContain("2 groups (5 rows)");
  });

  it("renames: the column and the table, each with the 3-step rename", () => {
    const r = of(report, "rename");
    expect(r.map((f) => f.rule)).toEqual(["pgstack/rename-column", "pgstack/rename-table"]);
    expect(r[0]?.safeAlternative).toMatch(/3 steps/);
  });

  it("ALTER COLUMN TYPE … USING: 6 tags fail name::integer (NULLs convert)", () => {
    expect(rows(of(report, "cast-failure").find((f) => f.rule === "pgstack/alter-column-type"))).toEqual({ count: 6, exact: true });
  });

  it("squawk lints the same files, at their file:line:col", () => {
    const lint = of(report, "lint");
    expect(lint.length).toBeGreaterThan(0);
    const fk = lint.find((f) => f.rule === "squawk/adding-foreign-key-constraint");
    expect(fk).toMatchObject({ file: `${DIR}/0005_orders_fk.sql`, line: 1 });
  });

  it("prod refuses every measured risk with rows; dev warns on the same findings", () => {
    expect(report.verdict).toBe("refuse");
    const refused = report.refusals.map((f) => `${f.class}:${f.table}:${f.rows?.count}`);
    expect(refused).toEqual([
      "cast-failure:events:3",
      "data-loss:events:10",
      "data-loss:components:5",
      "data-loss:bazaar-vid_component_error:621",
      "fk-orphans:orders:2",
      "not-null:accounts:2",
      "not-null:accounts:6",
      "duplicates:tags:2",
      "cast-failure:tags:6",
    ]);
    expect(dev.verdict).toBe("warn");
    expect(dev.refusals).toEqual([]);
    expect(dev.findings.length).toBe(report.findings.length);
    const text = formatSafetyReport(report);
    if (process.env["PGSTACK_SHOW_REPORT"]) console.log(text);
    expect(text).toContain('-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason:');
    expect(text).toMatch(/REFUSE\s+data-loss\s+test\/fixtures\/safety\/migrations\/0004_drop_unused.sql:2:1 DROP TABLE "bazaar-vid_component_error" deletes 621 rows/);
  });

  it("the measurement wrote nothing: the seed rows and tables are all still there", async () => {
    expect(await query(db, 'SELECT count(*)::int AS n FROM "bazaar-vid_component_error"')).toEqual([{ n: 621 }]);
    expect(await query(db, "SELECT count(*)::int AS n FROM events WHERE user_ref = 'not-a-uuid'")).toEqual([{ n: 1 }]);
    expect(await query(db, "SELECT to_regclass('events_new') AS t, to_regclass('user_profiles') AS p")).toEqual([{ t: null, p: null }]);
    expect(await query(db, "SELECT count(*)::int AS n FROM pg_indexes WHERE indexname = 'tags_name_key'")).toEqual([{ n: 0 }]);
  });
});

/** Adds `line` before the first line of `sql` that starts with `before`. */
const ackBefore = (before: string, line: string) => (sql: string) => {
  const at = sql.indexOf(`\n${before}`);
  if (at < 0) throw new Error(`no line starting with ${before}`);
  return `${sql.slice(0, at + 1)}${line}\n${sql.slice(at + 1)}`;
};

describe("acknowledgements and the policy", () => {
  let db: ConnectionOptions;
  let cl: pg.Client;

  beforeAll(async () => {
    ({ db } = await seeded());
  });

  it("drop of the unused table: prod refuses without the acknowledgement, passes with it; dev warns, then passes", async () => {
    cl = await connectTo(db);
    const plain = [migration("0004_drop_unused")];
    const acked = [migration("0004_drop_unused", ackBefore('DROP TABLE "bazaar-vid_component_error"', '-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: unused since 2024'))];
    const prodPlain = await analyzeSafety(cl, "safety", plain, PROFILES.prod);
    expect(prodPlain.verdict).toBe("refuse");
    expect(prodPlain.refusals.map((f) => [f.table, f.line, f.rows])).toEqual([["bazaar-vid_component_error", 2, { count: 621, exact: true }]]);
    const devPlain = await analyzeSafety(cl, "safety", plain, PROFILES.dev);
    expect(devPlain.verdict).toBe("warn");
    expect(devPlain.refusals).toEqual([]);

    const prodAcked = await analyzeSafety(cl, "safety", acked, PROFILES.prod);
    expect(prodAcked.refusals).toEqual([]);
    const f = prodAcked.findings.find((x) => x.table === "bazaar-vid_component_error");
    expect(f?.acknowledged).toEqual({ reason: "unused since 2024" });
    expect(f?.rows).toEqual({ count: 621, exact: true });
    // old_logs is empty (0 rows: nothing at risk) and the lint finds nothing else: the run is safe.
    expect(prodAcked.verdict).toBe("safe");
    expect((await analyzeSafety(cl, "safety", acked, PROFILES.dev)).verdict).toBe("safe");
    expect(formatSafetyReport(prodAcked)).toContain("reason: unused since 2024");
  });

  it("an acknowledgement covers only the statement after it, and only its class and table", async () => {
    cl = await connectTo(db);
    // On old_logs' statement, the acknowledgement for the other table covers nothing.
    const misplaced = [migration("0004_drop_unused", ackBefore("DROP TABLE old_logs", '-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: wrong line'))];
    const r1 = await analyzeSafety(cl, "safety", misplaced, PROFILES.prod);
    expect(r1.refusals.map((f) => f.table)).toEqual(["bazaar-vid_component_error"]);
    expect(r1.unusedAcknowledgements).toEqual([`${DIR}/0004_drop_unused.sql:3`]);
    const wrongClass = [migration("0004_drop_unused", ackBefore('DROP TABLE "bazaar', '-- pgstack:accept rename "bazaar-vid_component_error" -- reason: wrong class'))];
    expect((await analyzeSafety(cl, "safety", wrongClass, PROFILES.prod)).verdict).toBe("refuse");
  });

  it("copy-and-swap: 3 failing rows refuse in prod; after fixing them none fail, and the acknowledged drop passes", async () => {
    // Its own database: this test fixes the failing rows.
    const own = await seeded();
    cl = own.cl;
    const swap = migration("0002_copy_swap_events", ackBefore("DROP TABLE events", '-- pgstack:accept data-loss "events" -- reason: copied into events_new above'));
    const before = await analyzeSafety(cl, "safety", [swap], PROFILES.prod);
    expect(before.refusals.map((f) => [f.class, f.rows?.count])).toEqual([["cast-failure", 3]]);
    await cl.query("UPDATE events SET user_ref = NULL WHERE id IN (8, 9, 10)");
    const after = await analyzeSafety(cl, "safety", [swap], PROFILES.prod);
    expect(after.findings.find((f) => f.class === "cast-failure")?.rows).toEqual({ count: 0, exact: true });
    expect(after.findings.find((f) => f.class === "data-loss")).toMatchObject({ rows: { count: 10, exact: true }, acknowledged: { reason: "copied into events_new above" } });
    expect(after.refusals).toEqual([]);
    expect(after.verdict).not.toBe("refuse");
  });

  it("the policy per class: off drops the finding, warn keeps it without refusing", async () => {
    cl = await connectTo(db);
    const fk = [migration("0005_orders_fk")];
    expect((await analyzeSafety(cl, "safety", fk, { ...PROFILES.prod, fkOrphans: "warn" })).verdict).toBe("warn");
    const off = await analyzeSafety(cl, "safety", fk, { ...PROFILES.prod, fkOrphans: "off", lint: "off" });
    expect(off.findings).toEqual([]);
    expect(off.verdict).toBe("safe");
  });

  it("big tables get an estimate marked ~ (sampled counts, scaled)", async () => {
    cl = await connectTo(db);
    await query(db, "ANALYZE");
    const r = await analyzeSafety(cl, "safety", [migration("0004_drop_unused")], { ...PROFILES.prod, exactCountBelow: 100, lint: "off" });
    const f = r.findings.find((x) => x.table === "bazaar-vid_component_error");
    expect(f?.rows).toEqual({ count: 621, exact: false });
    expect(formatSafetyReport(r)).toContain("~621 rows");
  });
});

describe("reasoning over the batch in order", () => {
  let db: ConnectionOptions;
  beforeAll(async () => {
    ({ db } = await seeded());
  });

  const inline = (id: number, sql: string) => fromText({ id, name: `${String(id).padStart(4, "0")}_inline`, file: `inline/${id}.sql`, sql });

  it("a table created earlier in the batch starts empty; one renamed keeps its live rows", async () => {
    const cl = await connectTo(db);
    const batch = [
      inline(2, "CREATE TABLE scratch (id int, v text);\nALTER TABLE scratch ALTER COLUMN v SET NOT NULL;"),
      inline(3, "ALTER TABLE accounts RENAME TO members;\nALTER TABLE members ALTER COLUMN email SET NOT NULL;\nDROP TABLE scratch;\nDROP TABLE members;"),
    ];
    const r = await analyzeSafety(cl, "safety", batch, { ...PROFILES.prod, lint: "off" });
    const by = (rule: string) => r.findings.filter((f) => f.rule === rule).map((f) => [f.file, f.line, f.table, f.rows?.count]);
    expect(by("pgstack/set-not-null")).toEqual([
      ["inline/2.sql", 2, "scratch", 0],
      ["inline/3.sql", 2, "members", 2],
    ]);
    expect(by("pgstack/drop-table")).toEqual([
      ["inline/3.sql", 3, "scratch", 0],
      ["inline/3.sql", 4, "members", 6],
    ]);
  });

  it("a backfill earlier in the batch: the count is a guide (noted, stale), it warns but does not refuse", async () => {
    const cl = await connectTo(db);
    const batch = [inline(2, "UPDATE accounts SET email = 'none' WHERE email IS NULL;\nALTER TABLE accounts ALTER COLUMN email SET NOT NULL;")];
    const r = await analyzeSafety(cl, "safety", batch, { ...PROFILES.prod, lint: "off" });
    const f = r.findings.find((x) => x.rule === "pgstack/set-not-null");
    expect(f).toMatchObject({ stale: true, rows: { count: 2, exact: true } });
    expect(f?.note).toContain("inline/2.sql:1");
    expect(r.verdict).toBe("warn");
  });

  it("no database yet (first preview): everything is pending on an empty database, nothing is at risk", async () => {
    const r = await analyzeSafety(null, "safety", all, { ...PROFILES.prod, lint: "off" });
    expect(r.target).toBe("empty");
    expect(r.pending).toHaveLength(all.length);
    // 0001 creates the tables the later migrations change, so they start empty.
    expect(r.refusals).toEqual([]);
    expect(r.findings.filter((f) => f.rows && f.rows.count > 0)).toEqual([]);
  });

  it("a table that does not exist on the live database counts 0 rows; a failing count is reported, not guessed", async () => {
    const cl = await connectTo(db);
    const r = await analyzeSafety(cl, "safety", [inline(2, "DROP TABLE IF EXISTS nowhere;\nALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id, id);")], { ...PROFILES.prod, lint: "off" });
    expect(r.findings.map((f) => [f.rule, f.rows?.count ?? null])).toEqual([
      ["pgstack/drop-table", 0],
      ["pgstack/foreign-key", null],
    ]);
    expect(r.findings[1]?.note).toMatch(/^not counted: /);
    // Not counted is not proven safe: prod refuses it.
    expect(r.refusals.map((f) => f.rule)).toEqual(["pgstack/foreign-key"]);
  });
});

describe("the rehearsal slot", () => {
  it("off, not available, or the rehearsal's own report, one line per migration", async () => {
    const batch = [migration("0004_drop_unused")];
    expect(formatSafetyReport(await analyzeSafety(null, "d", batch, { ...PROFILES.prod, lint: "off" }))).toContain("rehearsal: off (pgstack:safety.rehearsal)");
    expect(formatSafetyReport(await analyzeSafety(null, "d", batch, { ...PROFILES.dev, lint: "off" }))).toContain("rehearsal: not available");
    const rehearsal = {
      database: "d",
      method: "template",
      steps: [{ name: "0004_drop_unused", file: batch[0]!.file, status: "failed", error: `${batch[0]!.file}:2:1: boom`, durationMs: 3, rowsAffected: 0, schemaChange: [] }],
      durationMs: 5,
      cloneDropped: true,
    };
    const r = await analyzeSafety(null, "d", batch, { ...PROFILES.dev, lint: "off" }, { rehearse: async () => rehearsal });
    expect(r.rehearsal).toBe(rehearsal);
    const text = formatSafetyReport(r);
    expect(text).toContain("rehearsal of 1 pending migration(s) on a full copy (CREATE DATABASE … TEMPLATE)");
    expect(text).toMatch(/FAILED +0004_drop_unused +\(3 ms\)/);
    expect(text).toContain(`${batch[0]!.file}:2:1: boom`);
  });
});

describe("acknowledgement syntax is checked when migrations load", () => {
  const load = (sql: string) => () => fromText({ id: 1, name: "0001_x", file: "migrations/x/0001_x.sql", sql });
  it.each([
    ['-- pgstack:accept data-loss "t"\nDROP TABLE t;', /0001_x\.sql:1:1: malformed acknowledgement: a reason is required/],
    ["-- pgstack:accept data-loss t -- reason: x\nDROP TABLE t;", /0001_x\.sql:1:1: malformed acknowledgement: the subject .* must be in double quotes/],
    ['SELECT 1;\n  -- pgstack:accept dataloss "t" -- reason: x\nDROP TABLE t;', /0001_x\.sql:2:3: malformed acknowledgement: unknown class "dataloss"; use one of data-loss, cast-failure/],
    ['-- pgstack:acceptance data-loss "t" -- reason: x\nDROP TABLE t;', /unknown directive "pgstack:acceptance"/],
  ])("%j is refused at file:line:col", (sql, message) => {
    expect(load(sql)).toThrow(MigrationSourceError);
    expect(load(sql)).toThrow(message);
  });
  it("a well-formed one loads", () => {
    expect(load('-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason: unused since 2024\nDROP TABLE "bazaar-vid_component_error";')().name).toBe("0001_x");
  });
});

describe("the MigrationSafety provider", () => {
  const logs: string[] = [];
  beforeAll(() => setLogger({ info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) }));

  const inputs = (db: ConnectionOptions, migrations: Migration[], profile: "prod" | "dev"): SafetyInputs => ({
    connection: db,
    role: db.user,
    migrations: migrations.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })),
    policy: PROFILES[profile],
    configPath: "pgstack:safety",
    resetGeneration: 1,
  });

  it("check: prints the report, refuses in prod without naming a property (no input dump), keeps only names and checksums", async () => {
    const { db, cl } = await seeded();
    // No session of ours on the database, so the dev rehearsal can take the full TEMPLATE copy.
    await cl.end();
    const batch = [all[0]!, migration("0004_drop_unused")];
    logs.length = 0;
    const prod = await safety.check(undefined, inputs(db, batch, "prod"));
    expect(prod.failures).toHaveLength(1);
    expect(prod.failures[0]?.property).toBe("");
    expect(prod.failures[0]?.reason).toContain(`${DIR}/0004_drop_unused.sql:2:1: DROP TABLE "bazaar-vid_component_error" deletes 621 rows`);
    expect(prod.failures[0]?.reason).toContain('-- pgstack:accept data-loss "bazaar-vid_component_error" -- reason:');
    expect(logs.join("\n")).toContain(`safety ${db.database}, prod policy: 1 pending migration(s) → REFUSE`);
    expect(prod.inputs).toEqual({ database: db.database, profile: "prod", migrations: batch.map((m) => `${m.name}@${m.checksum.slice(0, 12)}`) });
    expect(JSON.stringify(prod.inputs)).not.toContain(adminConnection().password ?? "\u0000");
    logs.length = 0;
    const dev = await safety.check(undefined, inputs(db, batch, "dev"));
    expect(dev.failures).toEqual([]);
    // dev rehearses on a copy: the drop runs there, per migration, and the copy is dropped.
    const printed = logs.join("\n");
    expect(printed).toContain("rehearsal of 1 pending migration(s) on a full copy (CREATE DATABASE … TEMPLATE)");
    expect(printed).toMatch(/ok +0004_drop_unused +\(\d+ ms, 0 rows\)/);
    expect(printed).toContain('- table public."bazaar-vid_component_error"');
    expect(printed).toContain("the copy was dropped");
    expect(await query(db, "SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'pgstack_scratch_%rehearsal%'")).toEqual([{ n: 0 }]);
    expect(await query(db, 'SELECT count(*)::int AS n FROM "bazaar-vid_component_error"')).toEqual([{ n: 621 }]);

    // The update phase of an `up` (the program's isDryRun() is false): the same analysis and
    // verdict, no rehearsal (the apply follows), so no copy is made.
    logs.length = 0;
    const update = await safety.check(undefined, { ...inputs(db, batch, "dev"), preview: false });
    expect(update.failures).toEqual([]);
    expect(update.inputs).toEqual(dev.inputs);
    const text = logs.join("\n");
    expect(text).toContain(`safety ${db.database}, dev policy: 1 pending migration(s) → warn`);
    expect(text).toContain(`rehearsal: ${REHEARSAL_NOT_IN_UPDATE}`);
    expect(text).not.toContain("rehearsal of 1 pending migration(s)");
    expect(text).not.toContain("the copy was dropped");
  });

  it("check: the program sends names and checksums; the pending migrations' SQL is read from their files, the applied ones' never", async () => {
    const { db, cl } = await seeded();
    await cl.end();
    // As the program lists them where the files are found: one string each (ListedMigration).
    const bare = (batch: Migration[]): SafetyInputs => ({ ...inputs(db, batch, "prod"), migrations: batch.map(listedMigration) });
    // 0001 is applied: a wrong checksum would fail its file's read, so it is not read.
    const program = bare([{ ...all[0]!, checksum: "0".repeat(64) }, migration("0004_drop_unused")]);
    const r = await safety.check(undefined, program);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]?.reason).toContain(`${DIR}/0004_drop_unused.sql:2:1: DROP TABLE "bazaar-vid_component_error" deletes 621 rows`);

    // A pending file that changed since the program read it (or is gone) fails the check, naming it.
    const changed = bare([all[0]!, { ...migration("0004_drop_unused"), checksum: "e".repeat(64) }]);
    const failed = await safety.check(undefined, changed);
    expect(failed.failures.map((f) => f.property)).toEqual([""]);
    expect(failed.failures[0]?.reason).toMatch(/0004_drop_unused\.sql:1:1[\s\S]*0004_drop_unused is pending, but its file changed since the program read it \(sha256 then eeeeeeeeeeee…/);
    // (A listed migration is named by its file.)
    const gone = bare([all[0]!, { ...migration("0004_drop_unused"), file: `${DIR}/0004_gone.sql` }]);
    expect((await safety.check(undefined, gone)).failures[0]?.reason).toContain(`${DIR}/0004_gone.sql:1:1: 0004_gone is pending, but its file cannot be read`);
  });

  it("check before the database exists: everything pending on an empty database, no refusal", async () => {
    logs.length = 0;
    const missing = { ...adminConnection(), database: "safety_not_created_yet" };
    const r = await safety.check(undefined, inputs(missing, all, "prod"));
    expect(r.failures).toEqual([]);
    expect(logs.join("\n")).toContain(`safety safety_not_created_yet, prod policy: ${all.length} pending migration(s) (database not created yet: empty)`);
  });

  it("diff: the check changes nothing in the database, so the resource never shows a change of its own", async () => {
    const state = { database: "d", profile: "prod", migrations: ["0001_a@x"] };
    expect(await safety.diff("d/safety", state, { ...state, migrations: ["0001_a@x", "0002_b@y"] })).toMatchObject({ changes: false });
  });
});
