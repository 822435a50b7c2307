/**
 * Rehearsal on a real server, as the non-superuser admin: template copies and copies built from the migrations,
 * per-migration reports, and the copy dropped on success, failure, interrupt and after a kill.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { listRehearsalCopies, rehearse, RehearsalError } from "../../infra/lifecycle/rehearsal.js";
import { formatRehearsal } from "../../infra/lifecycle/rehearsal-format.js";
import { readCreator, SCRATCH_PREFIX, scratchName } from "../../infra/lifecycle/scratch-names.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { loadMigrations, sha256, type Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { connect } from "../../infra/lifecycle/connection.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { fltrDatabase } from "../support/fixtures.js";
import { adminConnection, closeClients, connectTo, query } from "../support/db.js";
import { until } from "../support/until.js";

afterEach(closeClients);
/** fltr's migrations: what the fixtures' databases have applied. */
let fltr: Migration[];
beforeAll(async () => {
  await loadSqlParser();
  fltr = await loadMigrations("migrations/fltr");
});

/** An inline migration, as the source would load it from `migrations/fltr/<name>.sql`. */
function migration(id: number, slug: string, sql: string, inTransaction = true): Migration {
  const name = `${String(id).padStart(4, "0")}_${slug}`;
  return { id, name, file: `migrations/fltr/${name}.sql`, checksum: sha256(sql), sql, inTransaction };
}

/** Rehearsal copies currently on the server. */
async function copies(): Promise<string[]> {
  const cl = await connect(adminConnection());
  try {
    return await listRehearsalCopies(cl);
  } finally {
    await cl.end();
  }
}

/** fltr with 621 datasets (never analyzed) and 300 documents spread over them. */
async function populated() {
  const f = await fltrDatabase("reh");
  await query(
    f.db,
    `INSERT INTO datasets (name, created_by) SELECT 'ds' || g, 'u' FROM generate_series(1, 621) g;
     INSERT INTO documents (dataset_id, filename, size_bytes, sha256)
       SELECT (g * 7) % 621 + 1, 'f' || g, g, repeat('a', 64) FROM generate_series(1, 300) g;`,
  );
  return f;
}

const pending = [
  migration(5, "add_archived", "ALTER TABLE datasets ADD COLUMN archived boolean NOT NULL DEFAULT false;\nUPDATE datasets SET archived = true WHERE id % 3 = 0;\n"),
  migration(6, "create_exports", 'CREATE TABLE "bazaar-vid_exports" (id bigint PRIMARY KEY, dataset_id bigint REFERENCES datasets (id));\n'),
];

describe("rehearse", () => {
  it("copies by template when nobody else is connected, reports each migration, and leaves the source untouched", async () => {
    const f = await populated();
    await closeClients(); // the template copy needs the source to itself
    const before = await copies();
    const lines: string[] = [];
    const report = await rehearse(adminConnection(), f.db.database, pending, { role: f.owner, applied: fltr, logger: (m) => lines.push(m) });
    expect(report.method).toBe("template");
    expect(report.rowLimit).toBeUndefined();
    expect(report.steps.map((s) => [s.name, s.status, s.rowsAffected])).toEqual([
      ["0005_add_archived", "ok", 207],
      ["0006_create_exports", "ok", 0],
    ]);
    expect(report.steps[0]!.schemaChange).toEqual(["~ public.datasets: + column archived boolean not null default false"]);
    expect(report.steps[1]!.schemaChange).toEqual(['+ table public."bazaar-vid_exports"']);
    expect(report.steps.every((s) => s.durationMs >= 0 && s.durationMs < 30_000)).toBe(true);
    expect(report.cloneDropped).toBe(true);
    expect(await copies()).toEqual(before);
    expect(lines.some((l) => l.includes("TEMPLATE"))).toBe(true);
    // The copy holds the schema already: the log says the pending run in it, not that it is built.
    expect(lines.filter((l) => /running in the copy|building in the scratch database/.test(l))).toEqual([expect.stringMatching(/^rehearsal: running in the copy pgstack_scratch_/)]);
    expect(lines).toContain("rehearsing 0006_create_exports (2/2)");
    // The source: no new column, no new table, history unchanged.
    expect(await query(f.db, "SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'datasets' AND column_name = 'archived'")).toEqual([{ n: 0 }]);
    expect(await query(f.db, "SELECT to_regclass('\"bazaar-vid_exports\"') AS t")).toEqual([{ t: null }]);
    const cl = await connectTo(f.db);
    expect((await readHistory(cl)).map((h) => h.name)).toEqual(["0001_create_datasets", "0002_create_documents", "0003_create_processing_jobs", "0004_index_jobs_by_status"]);
    const text = formatRehearsal(report);
    expect(text).toContain("ok      0005_add_archived    (");
    expect(text).toContain("207 rows");
    expect(text).toContain('+ table public."bazaar-vid_exports"');
    expect(text).toContain("the copy was dropped");
  });

  it("builds the copy from the migrations, rows by COPY with a row limit, when others are connected; foreign keys hold on the sample", async () => {
    const f = await populated(); // f.cl stays connected: a user's session
    const [expected] = await query<{ docs: number }>(
      f.db,
      "SELECT count(*)::int AS docs FROM (SELECT * FROM documents LIMIT 100) d WHERE d.dataset_id IN (SELECT id FROM datasets LIMIT 100)",
    );
    const before = await copies();
    const concurrently = migration(7, "index_archived", "-- pgstack:no-transaction\nCREATE INDEX CONCURRENTLY datasets_archived_idx ON datasets (archived);\n", false);
    const report = await rehearse(adminConnection(), f.db.database, [...pending, concurrently], { role: f.owner, applied: fltr, rowLimit: 100 });
    expect(report.method).toBe("build-copy");
    expect(report.rowLimit).toBe(100);
    expect(report.fallbackReason).toMatch(/1 other session\(s\) are connected/);
    const copied = Object.fromEntries((report.copied ?? []).map((c) => [c.table, c.rows]));
    expect(copied["public.datasets"]).toBe(100);
    expect(copied["public.documents"]).toBe(expected!.docs);
    expect(expected!.docs).toBeGreaterThan(0);
    expect(expected!.docs).toBeLessThan(100);
    expect(copied["pgstack.migrations"]).toBe(4); // pgstack's own tables are copied whole
    // 33 of the first 100 ids are multiples of 3.
    expect(report.steps.map((s) => [s.status, s.rowsAffected])).toEqual([["ok", 33], ["ok", 0], ["ok", 0]]);
    // A no-transaction migration runs on the copy through the same path as in a real apply.
    expect(report.steps[2]!.schemaChange).toEqual(["+ index public.datasets_archived_idx"]);
    expect(report.cloneDropped).toBe(true);
    expect(await copies()).toEqual(before);
    expect(await query(f.db, "SELECT count(*)::int AS n FROM datasets")).toEqual([{ n: 621 }]);
    expect(await query(f.db, "SELECT count(*)::int AS n FROM documents")).toEqual([{ n: 300 }]);
    expect(formatRehearsal(report)).toContain("at most 100 rows per table (the schema built from 4 applied migration(s), rows by COPY: 1 other session(s)");
  });

  it("copies tables whose names need quotes, with generated and identity columns, into the copy built from the migrations", async () => {
    const f = await fltrDatabase("reh");
    const exports = migration(5, "create_exports", `CREATE TABLE "Bazaar-Vid Exports" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "say ""hi""" text, doubled int GENERATED ALWAYS AS (id::int * 2) STORED);\n`);
    expect((await applyMigrations(f.cl, [...fltr, exports], { database: f.db.database, role: f.owner })).error).toBeUndefined();
    await query(f.db, `INSERT INTO "Bazaar-Vid Exports" ("say ""hi""") SELECT 'v' || g FROM generate_series(1, 150) g`);
    const m = migration(6, "touch_exports", 'UPDATE "Bazaar-Vid Exports" SET "say ""hi""" = upper("say ""hi""");\nINSERT INTO "Bazaar-Vid Exports" ("say ""hi""") VALUES (\'new\');\n');
    const report = await rehearse(adminConnection(), f.db.database, [m], { role: f.owner, applied: [...fltr, exports], rowLimit: 100 });
    expect(report.method).toBe("build-copy"); // f.cl is connected
    expect(report.copied).toContainEqual({ table: "public.Bazaar-Vid Exports", rows: 100 });
    // The identity sequence kept its value: the INSERT on the copy takes id 151, no duplicate key.
    expect(report.steps.map((s) => [s.status, s.rowsAffected, s.error])).toEqual([["ok", 101, undefined]]);
    expect(await query(f.db, `SELECT count(*)::int AS n, max(doubled) AS d FROM "Bazaar-Vid Exports" WHERE "say ""hi""" LIKE 'v%'`)).toEqual([{ n: 150, d: 300 }]);
  });

  it("reports a failing migration at file:line:col with the earlier ones ok and the later ones skipped, and drops the copy", async () => {
    const f = await populated();
    const failing = [
      pending[0]!,
      migration(6, "bad_cast", "-- cast every name\nALTER TABLE datasets\n  ALTER COLUMN created_by TYPE integer USING created_by::integer;\n"),
      migration(7, "never", "CREATE TABLE never_created (id int);\n"),
    ];
    const before = await copies();
    const report = await rehearse(adminConnection(), f.db.database, failing, { role: f.owner, applied: fltr, rowLimit: 1000 });
    expect(report.steps.map((s) => s.status)).toEqual(["ok", "failed", "skipped"]);
    const bad = report.steps[1]!;
    expect(bad.error).toMatch(/^migrations\/fltr\/0006_bad_cast\.sql:2:1: invalid input syntax for type integer: "u" \(SQLSTATE 22P02\)/);
    expect(bad.schemaChange).toEqual([]);
    expect(report.steps[2]).toMatchObject({ name: "0007_never", rowsAffected: 0, schemaChange: [] });
    expect(report.cloneDropped).toBe(true);
    expect(await copies()).toEqual(before);
    const text = formatRehearsal(report);
    expect(text).toContain("FAILED  0006_bad_cast");
    expect(text).toContain("migrations/fltr/0006_bad_cast.sql:2:1");
    expect(text).toContain("skipped 0007_never");
  });
});

const CHILD = path.resolve(__dirname, "../support/rehearse-child.ts");

/** Starts a rehearsing child; sends `signal` once it is running the slow migration on the copy. */
function interruptedChild(database: string, role: string, method: string, signal: NodeJS.Signals, when = "rehearsing 0900_slow"): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, database, role, method], {
      env: { ...process.env, PGSTACK_CHILD_CONNECTION: JSON.stringify(adminConnection()) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let sent = false;
    const timer = setTimeout(() => child.kill("SIGKILL"), 50_000); // bounded, whatever happens
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      // Once the slow migration has started on the copy (give it a moment to be inside pg_sleep).
      if (!sent && out.includes(when)) {
        sent = true;
        setTimeout(() => child.kill(signal), 500);
      }
    });
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("exit", (code, sig) => {
      clearTimeout(timer);
      resolve({ signal: sig, code, out });
    });
  });
}

describe("the copy is always dropped", () => {
  it("when the copy cannot be built (an applied migration that does not build): a RehearsalError, nothing left behind", async () => {
    const f = await fltrDatabase("reh");
    const before = await copies();
    const broken = fltr.map((m) => (m.id === 2 ? { ...m, sql: "CREATE TABLE documents (id bigint REFERENCES no_such_table (id));\n" } : m));
    const err = await rehearse(adminConnection(), f.db.database, pending, { role: f.owner, applied: broken, method: "build-copy" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RehearsalError);
    expect((err as Error).message).toMatch(/the rehearsal could not run: copying the database failed: the migrations do not build on an empty database: .*0002_create_documents.*no_such_table/s);
    expect(await copies()).toEqual(before);
  });

  it.each([
    ["SIGINT", "template"],
    ["SIGTERM", "build-copy"],
  ] as const)("on %s during a %s rehearsal: the child drops its copy and ends by the signal", async (signal, method) => {
    const f = await fltrDatabase("reh");
    await closeClients();
    const before = await copies();
    const run = await interruptedChild(f.db.database, f.owner, method, signal);
    expect(run.out).toContain(`${signal}: stopping the rehearsal run and dropping its scratch database`);
    expect(run.out).toMatch(/rehearsal: dropped the scratch database pgstack_scratch_\d+_[0-9a-z]+_rehearsal_/);
    expect(run.signal).toBe(signal); // re-raised after the cleanup, so the process ends as interrupted
    expect(await copies()).toEqual(before);
    expect(run.out).toContain(method === "template" ? "TEMPLATE" : "the schema built from the migrations");
  });

  it("when a table stays locked past the lock timeout: reading it gives up, the rehearsal says why, nothing is left behind", async () => {
    const f = await fltrDatabase("reh");
    await f.cl.query("BEGIN; LOCK TABLE documents IN ACCESS EXCLUSIVE MODE");
    const before = await copies();
    const err = await rehearse(adminConnection(), f.db.database, pending, { role: f.owner, applied: fltr, session: { lockTimeout: "2s", statementTimeout: "0" } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RehearsalError);
    expect((err as Error).message).toMatch(/copying the database failed: public\.documents stayed locked by another session for longer than 2s; run when it is free, or raise the session lockTimeout/);
    expect(await copies()).toEqual(before);
    await f.cl.query("ROLLBACK");
  });

  it("on SIGTERM while reading a locked table of the source: the read is cancelled, the copy dropped", async () => {
    const f = await fltrDatabase("reh");
    await closeClients();
    const holder = await connectTo(f.db);
    await holder.query("BEGIN; LOCK TABLE datasets IN ACCESS EXCLUSIVE MODE");
    const before = await copies();
    const run = await interruptedChild(f.db.database, f.owner, "build-copy", "SIGTERM", "(COPY through the driver)");
    expect(run.signal).toBe("SIGTERM");
    expect(run.out).toMatch(/rehearsal: dropped the scratch database pgstack_scratch_\d+_[0-9a-z]+_rehearsal_/);
    expect(await copies()).toEqual(before);
    // The read was cancelled with its process, not left waiting on the lock.
    const waiting = async () => (await query<{ n: number }>(f.db, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgstack rehearsal'"))[0]!.n;
    await until(async () => (await waiting()) === 0, 15_000, "the rehearsal's read to end with its process", 100);
    expect(await waiting()).toBe(0);
    await holder.query("ROLLBACK");
  });

  it("leaves alone a copy whose creator session is still connected (another rehearsal running now)", async () => {
    const f = await fltrDatabase("reh");
    const creator = await connect(adminConnection());
    const busy = scratchName(await readCreator(creator), "rehearsal");
    await creator.query(`CREATE DATABASE ${busy}`);
    try {
      await rehearse(adminConnection(), f.db.database, [], { role: f.owner, applied: fltr });
      expect(await copies()).toContain(busy);
    } finally {
      await creator.end();
    }
    // Its creator gone, it is a leftover (the server may take a moment to notice the closed session).
    await until(
      async () => {
        await rehearse(adminConnection(), f.db.database, [], { role: f.owner, applied: fltr });
        return !(await copies()).includes(busy);
      },
      15_000,
      "a rehearsal to drop the copy whose creator is gone",
      100,
    );
    expect(await copies()).not.toContain(busy);
  });

  it("after a SIGKILL the copy is left, and the next rehearsal finds it by its prefix and drops it", async () => {
    const f = await fltrDatabase("reh");
    await closeClients();
    const before = await copies();
    const run = await interruptedChild(f.db.database, f.owner, "template", "SIGKILL");
    expect(run.signal).toBe("SIGKILL");
    const left = (await copies()).filter((c) => !before.includes(c));
    expect(left).toHaveLength(1);
    expect(left[0]!.startsWith(SCRATCH_PREFIX)).toBe(true);
    const lines: string[] = [];
    const report = await rehearse(adminConnection(), f.db.database, [], { role: f.owner, applied: fltr, logger: (m) => lines.push(m) });
    expect(report.steps).toEqual([]);
    expect(report.clone).toBeUndefined(); // nothing pending: no copy made
    expect(lines, lines.join("\n")).toContain(`scratch: dropped the database ${left[0]}, left over from a run that ended without cleaning up`);
    expect(await copies()).toEqual(before);
  });
});
