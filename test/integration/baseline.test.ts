/**
 * Adoption (baseline) on a real PostgreSQL, as a non-superuser admin: a `create_all`-style
 * database (tables made by hand, no history) is matched against the migrations in a scratch
 * database, recorded as baselined up to the version it equals, and only the rest runs. A database
 * that matches no version, or not the stated one, is refused with the difference; nothing changes.
 */
import pg from "pg";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { BaselineRefusedError, baselineAdopter, planBaseline, type BaselineOptions } from "../../infra/lifecycle/baseline.js";
import { SCRATCH_PREFIX } from "../../infra/lifecycle/scratch.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { adminConnection, closeClients, connectTo, freshDatabase, letAdminGrant, query, superuserConnection } from "../support/db.js";
import { inline } from "../support/migrations.js";
import { readSchema } from "../../infra/lifecycle/schema/index.js";
import { schemaReadScans } from "../support/catalog-scans.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

/** Four migrations, in the shape of fltr_auth's: users, teams, a column with an index, credits. */
const FILES = {
  "0001_create_users.sql": "CREATE TABLE users (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  email text NOT NULL UNIQUE,\n  created_at timestamptz NOT NULL DEFAULT now()\n);\n",
  "0002_add_teams.sql": "CREATE TABLE teams (\n  id serial PRIMARY KEY,\n  owner_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,\n  name varchar(80) NOT NULL CHECK (name <> '')\n);\n",
  "0003_add_user_team.sql": "ALTER TABLE users ADD COLUMN team_id integer REFERENCES teams (id);\nCREATE INDEX users_team_idx ON users (team_id);\n",
  "0004_create_credits.sql": "CREATE TABLE credits (\n  user_id bigint NOT NULL REFERENCES users (id),\n  amount numeric(12, 2) NOT NULL DEFAULT 0\n);\n",
};

/** What `create_all` would have made: the schema of 0001..0003 in one go, columns in model order. */
const CREATE_ALL_AT_3 = `
  CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY, team_id integer, email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
                      CONSTRAINT users_pkey PRIMARY KEY (id), CONSTRAINT users_email_key UNIQUE (email));
  CREATE TABLE teams (id serial PRIMARY KEY, owner_id bigint NOT NULL, name varchar(80) NOT NULL CONSTRAINT teams_name_check CHECK (name <> ''));
  ALTER TABLE teams ADD CONSTRAINT teams_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
  ALTER TABLE users ADD CONSTRAINT users_team_id_fkey FOREIGN KEY (team_id) REFERENCES teams (id);
  CREATE INDEX users_team_idx ON users (team_id);
  INSERT INTO users (email) VALUES ('ada@example.com');`;

async function createAllDatabase(extra = "") {
  const db = await freshDatabase("adopt");
  await query(db, CREATE_ALL_AT_3 + extra);
  const cl = await connectTo(db);
  const logs: string[] = [];
  const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`warning: ${m}`) };
  const options: BaselineOptions = { connection: db, schemas: ["public"], logger, configPath: "pgstack:databases[0].baseline" };
  return { db, cl, logs, logger, options };
}

async function shadowsLeft(): Promise<string[]> {
  const rows = await query<{ d: string }>(adminConnection(), "SELECT datname AS d FROM pg_database WHERE starts_with(datname, $1)", [SCRATCH_PREFIX]);
  return rows.map((r) => r.d);
}

describe("adoption of an existing database (baseline)", () => {
  it("a create_all database at version 3 of 4: 0001..0003 are recorded as baselined without running, only 0004 runs", async () => {
    const { db, cl, logs, options } = await createAllDatabase();
    const migrations = await inline(FILES);
    const before = await shadowsLeft();

    // The preview's plan, read-only: it names N.
    const plan = await planBaseline(cl, migrations, db.database, options);
    expect(plan?.count).toBe(3);
    expect(plan?.source).toBe("detected");
    expect(plan?.message).toBe(`${db.database}: adopting an existing schema at 0003_add_user_team: 0001..0003 will be recorded as applied without running; 0004 will run`);
    expect(await query(db, "SELECT to_regclass('pgstack.migrations') AS t")).toEqual([{ t: null }]);
    // One build: the CREATE TABLE statements told which versions to read in full.
    expect(logs.filter((l) => l.includes("comparing every version in full"))).toEqual([]);

    const result = await applyMigrations(cl, migrations, { database: db.database, logger: options.logger, adopt: baselineAdopter(db.database, options)});
    expect(result.error).toBeUndefined();
    expect(result.baselined).toBe(3);
    expect(result.results.map((r) => [r.name, r.status])).toEqual([["0004_create_credits", "Success"]]);
    expect(logs).toContain(`${db.database}: adopting an existing schema at 0003_add_user_team: 0001..0003 were recorded as applied without running; 0004 will run`);
    expect(logs.some((l) => l.startsWith(`${db.database}: applied 0004_create_credits (1/1,`))).toBe(true);

    const history = await readHistory(cl);
    expect(history.map((h) => [h.id, h.name, h.checksum, h.baselined])).toEqual(migrations.map((m) => [m.id, m.name, m.checksum, m.id <= 3]));
    // Nothing of 0001..0003 ran again: the hand-made row is still the only one, and credits exists.
    expect(await query(db, "SELECT email FROM users")).toEqual([{ email: "ada@example.com" }]);
    expect(await query(db, "SELECT to_regclass('public.credits')::text AS t")).toEqual([{ t: "credits" }]);
    // The shadow was dropped; a second apply is a no-op and does not adopt again.
    expect(await shadowsLeft()).toEqual(before);
    const again = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, options)});
    expect([again.results, again.baselined]).toEqual([[], undefined]);
  });

  it("planning reads the live schema once: the same read decides whether to adopt and is compared", async () => {
    const { db, cl, options } = await createAllDatabase();
    await cl.end();
    const migrations = await inline(FILES);
    // One schema read's worth of catalog scans, measured on the same database.
    const start = await schemaReadScans(db);
    const reader = await connectTo(db);
    await readSchema(reader, { schemas: ["public"] });
    await reader.end();
    const one = (await schemaReadScans(db)) - start;
    expect(one).toBeGreaterThan(0);
    const before = await schemaReadScans(db);
    const planner = await connectTo(db);
    expect((await planBaseline(planner, migrations, db.database, options))?.count).toBe(3);
    await planner.end();
    expect((await schemaReadScans(db)) - before).toBe(one);
  });

  it("the build reads in full only the versions with the live tables: not the empty one, and no snapshot after the last", async () => {
    const { db, cl, options } = await createAllDatabase();
    await cl.end();
    const migrations = await inline(FILES);
    // Every query a client sends to the scratch database, by the reader's message (which sets the path first).
    const sent = vi.spyOn(pg.Client.prototype, "query");
    try {
      expect((await planBaseline(await connectTo(db), migrations, db.database, options))?.count).toBe(3);
      const inScratch = sent.mock.calls.flatMap(([sql], i) => {
        const client = sent.mock.contexts[i] as pg.Client | undefined;
        return client?.database?.startsWith(SCRATCH_PREFIX) && typeof sql === "string" ? [sql] : [];
      });
      // The table keys at versions 0, 1, 2 and 4 (0003 only alters users and adds an index: version 3
      // has version 2's tables, unread); the whole schema at 2 and 3, the versions with users and teams.
      expect(inScratch.filter((sql) => sql.includes("AS key FROM pg_class c")).length).toBe(4);
      expect(inScratch.filter((sql) => sql.includes("pgstack.saved_search_path")).length).toBe(2);
    } finally {
      sent.mockRestore();
    }
  });

  it("a table the CREATE TABLE statements do not name (made in a DO block) costs a second build that reads every version, with the same answer", async () => {
    const files = {
      "0001_create_a.sql": "CREATE TABLE a (id int PRIMARY KEY);\n",
      "0002_create_b.sql": "DO $$ BEGIN EXECUTE 'CREATE TABLE b (id int PRIMARY KEY)'; END $$;\n",
      "0003_b_note.sql": "ALTER TABLE b ADD COLUMN note text;\n",
    };
    const db = await freshDatabase("adopt");
    await query(db, "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY, note text);");
    const cl = await connectTo(db);
    const logs: string[] = [];
    const plan = await planBaseline(cl, await inline(files), db.database, { connection: db, schemas: ["public"], logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(plan?.count).toBe(3);
    expect(logs).toContain(`${db.database}: comparing every version in full`);
  });

  it("a database that matches no version is refused with the difference against the closest one; nothing changes", async () => {
    const { db, cl, logs, options } = await createAllDatabase("ALTER TABLE users ADD COLUMN nickname text; DROP INDEX users_team_idx;");
    const migrations = await inline(FILES);
    const err = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, options)}).catch((e: unknown) => e);
    // No version matched, so the closest one is found among all of them, each read in full.
    expect(logs).toContain(`${db.database}: comparing every version in full`);
    expect(err).toBeInstanceOf(BaselineRefusedError);
    const message = (err as Error).message;
    expect(message).toContain(
      `database "${db.database}" has tables but no pgstack history, and its schema equals no version of the migrations; ` +
        "the closest is 0003_add_user_team, with 2 difference(s) (+ only in the database, - only in the migrations); nothing was applied or recorded:\n" +
        "    ~ public.users: + column nickname text (only in the database)\n" +
        "    - index public.users_team_idx (only in the migrations)\n" +
        "  → make the database equal one version (undo the hand-made changes), or add a migration so that one version describes it; " +
        "to name the version yourself, set pgstack:databases[0].baseline: <version> (pgstack still verifies it); then run again",
    );
    // Nothing recorded, nothing run, no shadow left.
    expect(await query(db, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 0 }]);
    expect(await query(db, "SELECT to_regclass('public.credits') AS t")).toEqual([{ t: null }]);
    expect(await shadowsLeft()).toEqual([]);
  });

  it("a stated baseline is verified: a wrong one is refused with the difference, the right one is used", async () => {
    const { db, cl, options } = await createAllDatabase();
    const migrations = await inline(FILES);
    const wrong = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, { ...options, stated: 2 })}).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(BaselineRefusedError);
    expect((wrong as Error).message).toContain(
      `database "${db.database}": pgstack:databases[0].baseline: 2 says its schema is at 0002_add_teams, but it differs from that version in 3 place(s); nothing was applied or recorded:\n` +
        "    ~ public.users: + column team_id integer (only in the database)\n" +
        "    ~ public.users: + constraint users_team_id_fkey FOREIGN KEY (team_id) REFERENCES public.teams(id) (only in the database)\n" +
        "    + index public.users_team_idx (only in the database)\n",
    );
    expect(await query(db, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 0 }]);

    const missing = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, { ...options, stated: 7 })}).catch((e: unknown) => e);
    expect((missing as Error).message).toContain("pgstack:databases[0].baseline names version 7, but no migration file has that version");

    const right = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, { ...options, stated: 3 })});
    expect([right.error, right.baselined, right.results.map((r) => r.name)]).toEqual([undefined, 3, ["0004_create_credits"]]);
  });

  it("another tool's history (the foreignApplied hook) gives the candidate, still verified", async () => {
    const migrations = await inline(FILES);
    const short = await createAllDatabase();
    const refused = await applyMigrations(short.cl, migrations, {
      database: short.db.database,
      adopt: baselineAdopter(short.db.database, { ...short.options, foreignApplied: async () => ({ tool: "drizzle", versions: [1, 2] }) }),
    }).catch((e: unknown) => e);
    expect((refused as Error).message).toContain(`database "${short.db.database}": drizzle's history says its schema is at 0002_add_teams, but it differs from that version in 3 place(s)`);

    const gap = await applyMigrations(short.cl, migrations, {
      database: short.db.database,
      adopt: baselineAdopter(short.db.database, { ...short.options, foreignApplied: async () => ({ tool: "flyway", versions: [1, 3] }) }),
    }).catch((e: unknown) => e);
    expect((gap as Error).message).toContain("flyway's history lists versions 1, 3, which are not the first migrations in order (1, 2, 3)");

    const ok = await applyMigrations(short.cl, migrations, {
      database: short.db.database,
      adopt: baselineAdopter(short.db.database, { ...short.options, foreignApplied: async (client) => ((await client.query("SELECT 1")).rowCount === 1 ? { tool: "drizzle", versions: [3, 1, 2] } : null) }),
    });
    expect([ok.error, ok.baselined]).toEqual([undefined, 3]);
  });

  it("a migration that fails in the shadow is reported; the shadow is dropped and the live database unchanged", async () => {
    const { db, cl, options } = await createAllDatabase();
    const migrations = await inline({ ...FILES, "0002_add_teams.sql": "CREATE TABLE teams (owner_id bigint REFERENCES userz (id));\n" });
    const err = await applyMigrations(cl, migrations, { database: db.database, adopt: baselineAdopter(db.database, options)}).catch((e: unknown) => e);
    expect((err as Error).message).toContain("the migrations do not apply to an empty database, so no version can be compared: ");
    expect((err as Error).message).toContain('relation "userz" does not exist');
    expect(await shadowsLeft()).toEqual([]);
    expect(await query(db, "SELECT count(*)::int AS n FROM pgstack.migrations")).toEqual([{ n: 0 }]);
  });

  it("tables no migration creates (another tool's history table) are left out of the comparison, and named", async () => {
    const { db, cl, logs, options } = await createAllDatabase("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('c0ffee');");
    const res = await applyMigrations(cl, await inline(FILES), { database: db.database, adopt: baselineAdopter(db.database, options)});
    expect([res.error, res.baselined, res.results.map((r) => r.name)]).toEqual([undefined, 3, ["0004_create_credits"]]);
    expect(logs).toContain(`${db.database}: no migration creates public.alembic_version; left as it is and not compared`);
    expect(await query(db, "SELECT version_num FROM alembic_version")).toEqual([{ version_num: "c0ffee" }]);
  });

  it("a database whose tables are all unknown to the migrations is not an adoption: every migration runs beside them", async () => {
    const db = await freshDatabase("adopt");
    await query(db, "CREATE TABLE keep_me (id int); INSERT INTO keep_me VALUES (1);");
    const cl = await connectTo(db);
    const logs: string[] = [];
    const res = await applyMigrations(cl, await inline(FILES), {
      database: db.database,
      adopt: baselineAdopter(db.database, { connection: db, schemas: ["public"], logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } }),
    });
    expect([res.error, res.baselined, res.results.length]).toEqual([undefined, undefined, 4]);
    expect(logs).toContain(`${db.database}: none of its tables (public.keep_me) is created by a migration; every migration runs`);
    expect((await readHistory(cl)).every((h) => !h.baselined)).toBe(true);
    expect(await query(db, "SELECT count(*)::int AS n FROM keep_me")).toEqual([{ n: 1 }]);
  });

  it("an empty database is not an adoption: every migration runs", async () => {
    const db = await freshDatabase("adopt");
    const cl = await connectTo(db);
    const res = await applyMigrations(cl, await inline(FILES), { database: db.database, adopt: baselineAdopter(db.database, { connection: db, schemas: ["public"] })});
    expect([res.error, res.baselined, res.results.length]).toEqual([undefined, undefined, 4]);
  });
});

describe("the scratch database needs CREATEDB", () => {
  it("an admin without it gets a clear refusal naming what to grant; nothing changes", async () => {
    const { db, options } = await createAllDatabase();
    const role = `${db.database}_nocreatedb`;
    // Another admin a DBA made (as the superuser; the suites' admin cannot grant itself to a role it created).
    await query(superuserConnection(), `CREATE ROLE ${role} LOGIN PASSWORD 'pw-${role}' NOCREATEDB CREATEROLE; GRANT ALL ON DATABASE ${db.database} TO ${role}`);
    // On 16+ the DBA lets it grant the owner (the suites' admin) to pgstack's throwaway role; CREATEDB is what it lacks.
    await letAdminGrant(adminConnection().user, role);
    const weak = { ...db, user: role, password: `pw-${role}` };
    const cl = await connectTo(weak);
    const err = await planBaseline(cl, await inline(FILES), db.database, { ...options, connection: weak }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(new RegExp(`^cannot create the scratch database ${SCRATCH_PREFIX}\\d+_[0-9a-z]+_baseline_[0-9a-f]{8} \\(baseline\\): permission denied to create database; nothing was changed\\n  → the admin needs CREATEDB`));
    expect(await shadowsLeft()).toEqual([]);
  });
});
