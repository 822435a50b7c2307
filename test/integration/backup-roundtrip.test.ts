/**
 * Backup round trip: the backup the stack takes before a reset (its own shell script, its own
 * PG* environment) restores, after the reset, into a new database with every row.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { backupScript } from "../../infra/components/database.js";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { readGeneration, resetDatabase, type ManagedSchema } from "../../infra/lifecycle/reset.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { backupProblem } from "../support/backups.js";

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(async () => {
  await closeClients();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
beforeAll(loadSqlParser);

/** The server's client binaries: the harness's bin folder when it knows one, else Debian's 15. */
function pgBin(name: string): string {
  return path.join(inject("pgBinDir") || "/usr/lib/postgresql/15/bin", name);
}

/** Connection settings as the stack passes them to its commands: PG* variables, never arguments. */
function pgEnv(c: ConnectionOptions): NodeJS.ProcessEnv {
  return {
    PATH: process.env["PATH"],
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGDATABASE: c.database,
    PGSSLMODE: c.sslmode ?? "disable",
    PGPASSWORD: c.password ?? "",
  };
}

/** Exact row counts of every table in `public`, by name. */
async function rowCounts(c: ConnectionOptions): Promise<Record<string, number>> {
  const cl = await connectTo(c);
  const { tables } = await introspect(cl, { schemas: ["public"], exactCounts: true });
  return Object.fromEntries(tables.map((t) => [t.name, t.exactRows ?? -1]));
}

describe("backup round trip", () => {
  it("restores the stack's pre-reset pg_dump into a new database with the same rows per table", async () => {
    const db = await freshDatabase("bk");
    const owner = `${db.database}_owner`;
    await query(db, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER SCHEMA public OWNER TO ${owner}`);
    const cl = await connectTo(db);
    expect((await applyMigrations(cl, await loadMigrations("migrations/fltr"), { database: db.database, role: owner })).error).toBeUndefined();
    const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [] }];
    expect((await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false })).action).toBe("adopted");
    await query(
      db,
      `INSERT INTO datasets (name, created_by) SELECT 'set ' || i, 'u' FROM generate_series(1, 7) i;
       INSERT INTO documents (dataset_id, filename, size_bytes, sha256, metadata)
         SELECT d.id, 'f' || i, i, repeat('a', 64), jsonb_build_object('i', i) FROM datasets d, generate_series(1, 3) i;
       INSERT INTO processing_jobs (document_id, kind, status) SELECT id, 'embed', 'succeeded' FROM documents WHERE id % 2 = 0`,
    );
    const before = await rowCounts(db);
    expect(before).toEqual({ datasets: 7, documents: 21, processing_jobs: 10 });

    // The backup exactly as the stack's `@pulumi/command` resource runs it.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-backup-"));
    dirs.push(dir);
    const script = backupScript(dir, db.database, 2);
    expect(script).not.toContain(db.password ?? "no password");
    const env = { ...pgEnv(db), ...(inject("pgBinDir") ? { PGSTACK_PG_DUMP: pgBin("pg_dump") } : {}) };
    if (await backupProblem()) {
      // No pg_dump here can dump this server (16+ with Debian's 15; the preview refuses such a
      // stack before anything runs): run anyway, the script fails with pg_dump's own error and
      // leaves no file that looks like a backup.
      const failed = await run("bash", ["-c", script], { env, timeout: 30_000 }).then(() => undefined, (err: { stderr?: string }) => err);
      expect(failed?.stderr).toMatch(/pg_dump: error: aborting because of server version mismatch/);
      expect(fs.readdirSync(dir)).toEqual([]);
      return;
    }
    const backup = await run("bash", ["-c", script], { env, timeout: 30_000 });
    const file = backup.stdout.trim();
    expect(file).toMatch(new RegExp(`^${dir}/${db.database}-g2-\\d{8}T\\d{6}Z\\.dump$`));
    expect(fs.statSync(file).size).toBeGreaterThan(0);

    const out = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true });
    expect(out.action).toBe("reset");
    expect(Object.fromEntries(out.dropped.map((d) => [d.table.replace(/^public\./, ""), d.rows]))).toEqual(before);
    expect(await rowCounts(db)).toEqual({});

    // Restore into a new database the admin creates (and owns); the password only in PGPASSWORD.
    const restored = await freshDatabase("bkr");
    const args = ["--no-owner", "-d", restored.database, file];
    expect(args.join(" ")).not.toContain(db.password ?? "no password");
    await run(pgBin("pg_restore"), args, { env: pgEnv(restored), timeout: 30_000 });
    expect(await rowCounts(restored)).toEqual(before);
    // The dump is of the pre-reset state: pgstack's history and generation came along.
    const restoredCl = await connectTo(restored);
    expect(await readGeneration(restoredCl)).toBe(1);
    expect(await query(restored, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 4 }]);
    expect(await query(restored, "SELECT count(*)::int AS n FROM documents d JOIN datasets s ON s.id = d.dataset_id")).toEqual([{ n: 21 }]);
  });
});
