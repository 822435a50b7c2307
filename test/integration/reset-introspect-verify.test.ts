import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { ResetRefusedError } from "../../infra/lifecycle/errors.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { introspect } from "../../infra/lifecycle/introspect.js";
import { readGeneration, resetDatabase } from "../../infra/lifecycle/reset.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { verify } from "../../infra/lifecycle/verify.js";
import { expectationsOf, parseStackConfig } from "../../infra/config.js";
import { fltrDatabase } from "../support/fixtures.js";
import { closeClients, connectTo, freshDatabase, query, superuserConnection } from "../support/db.js";
import { rawStackConfig } from "../support/stack-config.js";

afterEach(closeClients);
beforeAll(loadSqlParser);


describe("introspection", () => {
  it("reads tables, columns, keys, foreign keys, indexes, owners and rows, leaving pgstack's schema out", async () => {
    const { db, cl, owner } = await fltrDatabase();
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u'), ('b', 'u'); ANALYZE datasets");
    const inv = await introspect(cl, { exactCounts: true });
    expect(inv.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(["public.datasets", "public.documents", "public.processing_jobs"]);
    const documents = inv.tables.find((t) => t.name === "documents")!;
    expect(documents.owner).toBe(owner);
    expect(documents.primaryKey).toEqual(["id"]);
    expect(documents.columns.slice(0, 3)).toEqual([
      { name: "id", type: "bigint", nullable: false, default: "identity" },
      { name: "dataset_id", type: "bigint", nullable: false, default: null },
      { name: "filename", type: "text", nullable: false, default: null },
    ]);
    expect(documents.foreignKeys).toEqual([
      { name: "documents_dataset_id_fkey", columns: ["dataset_id"], references: { schema: "public", table: "datasets", columns: ["id"] }, onDelete: "cascade" },
    ]);
    expect(documents.indexes.map((i) => i.name)).toEqual(["documents_dataset_id_idx", "documents_pkey"]);
    expect(documents.constraints).toEqual(["documents_size_bytes_check: CHECK ((size_bytes >= 0))"]);
    const datasets = inv.tables.find((t) => t.name === "datasets")!;
    expect(datasets.estimatedRows).toBe(2);
    expect(datasets.exactRows).toBe(2);
    expect(inv.tables.find((t) => t.name === "processing_jobs")!.indexes.map((i) => i.name)).toContain("processing_jobs_status_queued_at_idx");
  });

  it("has a stable fingerprint that changes with the structure, not the rows", async () => {
    const { db, cl } = await fltrDatabase();
    const a = await introspect(cl);
    const other = await fltrDatabase();
    expect((await introspect(other.cl)).fingerprint).toBe(a.fingerprint);
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u')");
    expect((await introspect(cl)).fingerprint).toBe(a.fingerprint);
    await query(db, "ALTER TABLE datasets ADD COLUMN archived boolean");
    const b = await introspect(cl);
    expect(b.fingerprint).not.toBe(a.fingerprint);
    expect(b.tables[0]!.columns.at(-1)).toEqual({ name: "archived", type: "boolean", nullable: true, default: null });
  });

  it("takes a fixed number of round trips whatever the table count", async () => {
    const db = await freshDatabase();
    await query(db, Array.from({ length: 300 }, (_, i) => `CREATE TABLE t${i} (id int PRIMARY KEY, p int REFERENCES t${Math.max(0, i - 1)}(id));`).join("\n").replace("REFERENCES t0(id)", ""));
    const cl = await connectTo(db);
    let queries = 0;
    const original = cl.query.bind(cl);
    (cl as unknown as { query: unknown }).query = (...args: Parameters<typeof cl.query>) => {
      queries++;
      return original(...args);
    };
    const inv = await introspect(cl, { exactCounts: true });
    expect(inv.tables).toHaveLength(300);
    expect(queries).toBe(3); // the structure (readSchema), the sizes, the counts
  });
});

describe("verify", () => {
  it("passes the fltr expectations from the dev stack and reports every unmet one otherwise", async () => {
    const { cl, db } = await fltrDatabase();
    const cfg = parseStackConfig(rawStackConfig("dev"), "dev");
    const inv = await introspect(cl);
    expect(verify(inv, expectationsOf(cfg.databases[0]!))).toEqual([]);
    const auth = verify(inv, expectationsOf(cfg.databases[1]!));
    expect(auth).toHaveLength(12);
    expect(auth).toContain("table users is missing");
    expect(auth).toContain("foreign key user_credits.user_id -> users.id: table user_credits is missing");

    await query(db, "ALTER TABLE documents DROP CONSTRAINT documents_dataset_id_fkey");
    const unmet = verify(await introspect(cl), expectationsOf(cfg.databases[0]!));
    expect(unmet).toEqual(["foreign key documents.dataset_id -> datasets.id is missing (documents has no foreign keys)"]);
  });
});

describe("reset", () => {
  it("adopts a database it has never seen: records the generation, drops nothing", async () => {
    const { cl, schemas, db } = await fltrDatabase();
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('keep', 'u')");
    const out = await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    expect(out).toMatchObject({ action: "adopted", generation: 1, dropped: [] });
    expect(await readGeneration(cl)).toBe(1);
    expect(await query(db, "SELECT name FROM datasets")).toEqual([{ name: "keep" }]);
    const again = await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    expect(again.action).toBe("unchanged");
  });

  it("refuses, before dropping anything, when tables hold rows and data loss was not accepted", async () => {
    const { cl, schemas, db } = await fltrDatabase();
    await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u'), ('b', 'u'); INSERT INTO documents (dataset_id, filename, size_bytes, sha256) SELECT id, 'f', 1, repeat('0', 64) FROM datasets");
    const err = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResetRefusedError);
    expect((err as Error).message).toContain("public.datasets: 2 row(s)");
    expect((err as Error).message).toContain("public.documents: 2 row(s)");
    expect((err as Error).message).toContain("reset.acceptDataLoss: 2");
    expect(await query(db, "SELECT count(*)::int AS n FROM documents")).toEqual([{ n: 2 }]);
    expect(await readGeneration(cl)).toBe(1);
    expect(await readHistory(cl)).toHaveLength(4);
  });

  it("nukes and rebuilds: terminates other sessions, drops the schema, restores owner and grants, clears history", async () => {
    const { cl, schemas, db, owner, app } = await fltrDatabase();
    await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('a', 'u')");
    // A marker left by an interrupted no-transaction migration: its effects go with the schema.
    await query(db, `INSERT INTO pgstack.meta (key, value) VALUES ('running:9', '{}')`);
    const bystander = await connectTo(db);
    const logs: string[] = [];
    const out = await resetDatabase(cl, {
      database: db.database,
      generation: 2,
      schemas,
      acceptDataLoss: true,
      logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) },
    });
    expect(out.action).toBe("reset");
    expect(out.previousGeneration).toBe(1);
    expect(out.terminatedBackends).toBeGreaterThanOrEqual(1);
    expect(out.dropped).toContainEqual({ table: "public.datasets", rows: 1 });
    await expect(bystander.query("SELECT 1")).rejects.toThrow();
    expect(logs).toContain(`${db.database}: dropping schema public (CASCADE)`);
    expect(await query(db, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'")).toEqual([{ n: 0 }]);
    expect(await query(db, "SELECT to_regtype('job_status') AS t")).toEqual([{ t: null }]);
    expect(await query(db, "SELECT pg_get_userbyid(nspowner) AS o FROM pg_namespace WHERE nspname = 'public'")).toEqual([{ o: owner }]);
    // The schema's own comment survives, as in a new database (else drift would name it).
    expect(await query(db, "SELECT obj_description('public'::regnamespace, 'pg_namespace') AS c")).toEqual([{ c: "standard public schema" }]);
    expect(await readHistory(cl)).toEqual([]);
    expect(await readGeneration(cl)).toBe(2);
    expect(await query(db, "SELECT key FROM pgstack.meta WHERE key LIKE 'running:%'")).toEqual([]);

    // Re-applying after the reset gives the app role its privileges through the restored defaults.
    await applyMigrations(cl, await loadMigrations("migrations/fltr"), { database: db.database, role: owner });
    expect(await query(db, `SELECT has_table_privilege('${app}', 'public.documents', 'INSERT') AS ok, has_schema_privilege('${app}', 'public', 'USAGE') AS u`)).toEqual([
      { ok: true, u: true },
    ]);
    // A retry of the same generation (e.g. after a crash) does not nuke twice.
    await query(db, "INSERT INTO datasets (name, created_by) VALUES ('after', 'u')");
    expect((await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true })).action).toBe("unchanged");
    expect(await query(db, "SELECT name FROM datasets")).toEqual([{ name: "after" }]);
  });

  it("as a non-superuser admin, ends what it may and names the sessions it may not end; pg_signal_backend lets it end them", async () => {
    const { cl, schemas, db, app } = await fltrDatabase();
    await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    await query(db, `ALTER ROLE ${app} LOGIN PASSWORD 'app-session-pw'; GRANT CONNECT ON DATABASE ${db.database} TO ${app}`);
    const appSession = await connectTo({ ...db, user: app, password: "app-session-pw" });
    const logs: string[] = [];
    const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`warning: ${m}`) };
    const out = await resetDatabase(cl, { database: db.database, generation: 2, schemas, acceptDataLoss: true, logger });
    expect(out.action).toBe("reset");
    expect(logs.find((l) => l.startsWith("warning:"))).toMatch(new RegExp(`cannot end the sessions of ${app} \\(pid \\d+\\)`));
    expect((await appSession.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]);

    // Managed Postgres admins hold pg_signal_backend: then the app's session is ended too.
    await query(superuserConnection(), `GRANT pg_signal_backend TO ${db.user}`);
    try {
      logs.length = 0;
      const again = await resetDatabase(cl, { database: db.database, generation: 3, schemas, acceptDataLoss: true, logger });
      expect(again.terminatedBackends).toBeGreaterThanOrEqual(1);
      expect(logs.some((l) => l.startsWith("warning:"))).toBe(false);
      await expect(appSession.query("SELECT 1")).rejects.toThrow();
    } finally {
      await query(superuserConnection(), `REVOKE pg_signal_backend FROM ${db.user}`);
    }
  });

  it("rebuilds an empty database without asking for data-loss acceptance", async () => {
    const { cl, schemas, db } = await fltrDatabase();
    await resetDatabase(cl, { database: db.database, generation: 1, schemas, acceptDataLoss: false });
    const out = await resetDatabase(cl, { database: db.database, generation: 5, schemas, acceptDataLoss: false });
    expect(out.action).toBe("reset");
    expect(out.dropped.map((d) => d.table)).toEqual(["public.datasets", "public.documents", "public.processing_jobs"]);
  });
});
