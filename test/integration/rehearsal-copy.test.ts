/**
 * The rehearsal's copy built from the migrations, rows streamed with COPY through the driver (no
 * client binary), on PostgreSQL 15 and 18: with a row limit above every table's size the copy
 * holds exactly the source's rows (each table's content digest, the materialized view, the
 * sequences), although the applied migrations seeded rows and a trigger rewrites every insert.
 * The digest is computed inside the copy by a pending migration that reports it as its error.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { rehearse } from "../../infra/lifecycle/rehearsal.js";
import { loadMigrations, sha256, type Migration } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { query } from "../support/db.js";
import { serverOfMajor, type MajorServer } from "../support/servers.js";

function migration(id: number, slug: string, sql: string): Migration {
  const name = `${String(id).padStart(4, "0")}_${slug}`;
  return { id, name, file: `migrations/fltr/${name}.sql`, checksum: sha256(sql), sql, inTransaction: true };
}

/** Applied after fltr's four: a table with every kind of column, a trigger that rewrites inserts, seed rows, a materialized view. */
const NOTES = migration(
  5,
  "create_notes",
  `CREATE TABLE notes (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  parent_id bigint REFERENCES notes (id),
  dataset_id bigint REFERENCES datasets (id) ON DELETE CASCADE,
  body text,
  tags text[],
  score numeric(10, 3),
  meta jsonb,
  shouted text GENERATED ALWAYS AS (upper(body)) STORED
);
CREATE FUNCTION notes_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.body := coalesce(NEW.body, '') || ' (stamped)'; RETURN NEW; END $$;
CREATE TRIGGER notes_stamp BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION notes_stamp();
INSERT INTO notes (body) VALUES ('seeded by the migration');
CREATE MATERIALIZED VIEW dataset_notes AS SELECT d.id, count(n.id) AS notes FROM datasets d LEFT JOIN notes n ON n.dataset_id = d.id GROUP BY d.id;
`,
);

/** Each table's content (every column, generated ones too) and the sequences' values, as one line. */
const DIGEST = `concat_ws(',',
  ${["datasets", "documents", "processing_jobs", "notes", "dataset_notes"].map((t) => `(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM ${t} t)`).join(",\n  ")},
  (SELECT last_value::text FROM datasets_id_seq), (SELECT last_value::text FROM documents_id_seq), (SELECT last_value::text FROM notes_id_seq))`;
const REPORT_DIGEST = migration(6, "report_digest", `DO $$ BEGIN RAISE EXCEPTION 'digest=%', ${DIGEST}; END $$;\n`);

/** A database as a stack leaves it on `admin`'s server: fltr's migrations and NOTES applied as its owner, then rows. */
async function populated(admin: ConnectionOptions, applied: Migration[]): Promise<{ db: ConnectionOptions; owner: string }> {
  const name = `copy_${Date.now().toString(36)}`;
  const owner = `${name}_owner`;
  await query(admin, `CREATE DATABASE ${name}`);
  const db = { ...admin, database: name };
  await query(db, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER SCHEMA public OWNER TO ${owner}`);
  const client = await connect(db);
  try {
    expect((await applyMigrations(client, applied, { database: name, role: owner })).error).toBeUndefined();
    await client.query(`SET ROLE ${owner};
      INSERT INTO datasets (name, description, created_by) SELECT 'ds ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE E'tab\\there, line\\nbreak, back\\\\slash "q" ü ' || g END, 'u' || g % 7 FROM generate_series(1, 300) g;
      INSERT INTO documents (dataset_id, filename, size_bytes, sha256, metadata) SELECT g % 300 + 1, 'f' || g, g * 11, md5(g::text) || md5(g::text), jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)) FROM generate_series(1, 200) g;
      INSERT INTO processing_jobs (document_id, kind, status, attempts, error) SELECT g % 200 + 1, 'embed', (ARRAY['queued','running','succeeded','failed'])[g % 4 + 1]::job_status, g % 3, CASE WHEN g % 4 = 3 THEN 'boom ' || g END FROM generate_series(1, 150) g;
      INSERT INTO notes (parent_id, dataset_id, body, tags, score, meta) SELECT NULL, g % 300 + 1, CASE WHEN g % 9 = 0 THEN NULL ELSE E'note\\t' || g END, ARRAY['x', g::text], g / 7.0, CASE WHEN g % 2 = 0 THEN '{"k": [1, null]}'::jsonb END FROM generate_series(1, 120) g;
      INSERT INTO notes (parent_id, body) SELECT id, 'reply to ' || id FROM notes WHERE id % 3 = 0;
      REFRESH MATERIALIZED VIEW dataset_notes;
      RESET ROLE`);
  } finally {
    await client.end();
  }
  return { db, owner };
}

beforeAll(loadSqlParser);

describe.each([15, 18])("the copy built from the migrations on PostgreSQL %i", (major) => {
  let server: MajorServer;
  let source: { db: ConnectionOptions; owner: string };
  let applied: Migration[];
  let expected: string;

  beforeAll(async () => {
    server = await serverOfMajor(major);
    applied = [...(await loadMigrations("migrations/fltr")), NOTES];
    source = await populated(server.admin, applied);
    expected = (await query<{ d: string }>(source.db, `SELECT ${DIGEST} AS d`))[0]!.d;
  });
  afterAll(async () => {
    await server?.stop();
  });

  const digestOf = (r: Awaited<ReturnType<typeof rehearse>>) => /digest=([0-9a-f,]+)/.exec(r.steps[0]?.error ?? "")?.[1];

  it("holds exactly the source's rows, sequences and materialized view; the build's seed rows are gone and no trigger fired", async () => {
    const running = await query<{ v: string }>(server.admin, "SELECT current_setting('server_version_num') AS v");
    expect(Math.floor(Number(running[0]!.v) / 10000)).toBe(major);
    const lines: string[] = [];
    const report = await rehearse(server.admin, source.db.database, [REPORT_DIGEST], { role: source.owner, applied, method: "build-copy", rowLimit: 1000, logger: (m) => lines.push(m) });
    expect(report.method).toBe("build-copy");
    expect(report.built).toBe(5);
    expect(report.steps[0]?.status).toBe("failed");
    expect(digestOf(report)).toBe(expected);
    const counts = Object.fromEntries((report.copied ?? []).map((c) => [c.table, c.rows]));
    expect(counts).toMatchObject({ "public.datasets": 300, "public.documents": 200, "public.processing_jobs": 150, "public.notes": 161, "pgstack.migrations": 5 });
    expect(lines.join("\n")).not.toMatch(/pg_dump|pg_restore|psql/);
    expect(report.cloneDropped).toBe(true);
  });

  it("the template copy gives the same digest", async () => {
    const report = await rehearse(server.admin, source.db.database, [REPORT_DIGEST], { role: source.owner, applied });
    expect(report.method).toBe("template");
    expect(digestOf(report)).toBe(expected);
  });

  it("with a row limit: at most that many rows per table, no orphan, and the pending migrations run on it", async () => {
    const report = await rehearse(server.admin, source.db.database, [migration(6, "add_flag", "ALTER TABLE notes ADD COLUMN flag boolean NOT NULL DEFAULT false;\nUPDATE notes SET flag = true;\n")], {
      role: source.owner,
      applied,
      method: "build-copy",
      rowLimit: 50,
    });
    const counts = Object.fromEntries((report.copied ?? []).map((c) => [c.table, c.rows]));
    expect(counts["public.datasets"]).toBe(50);
    for (const t of ["public.documents", "public.processing_jobs", "public.notes"]) expect(counts[t]).toBeLessThanOrEqual(50);
    expect(report.steps.map((s) => [s.status, s.rowsAffected])).toEqual([["ok", counts["public.notes"]]]);
  });
});
