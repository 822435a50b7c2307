/**
 * Adoption's plan is made once per process: the MigrationSet's check, the safety check and the
 * apply of one `pulumi` run each plan a database's adoption, and only the first builds the
 * migrations in a scratch database. A database changed in between (a column by hand, a history
 * row) is planned again; the apply still reads the live schema before it records.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import { BaselineRefusedError, baselineAdopter, planBaseline, type BaselineOptions } from "../../infra/lifecycle/baseline.js";
import { readHistory } from "../../infra/lifecycle/history.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { adminConnection, closeClients, connectTo, freshDatabase, query } from "../support/db.js";
import { inline } from "../support/migrations.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

const FILES = {
  "0001_create_users.sql": "CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);\n",
  "0002_add_teams.sql": "CREATE TABLE teams (id serial PRIMARY KEY, owner_id bigint NOT NULL REFERENCES users (id));\n",
  "0003_create_credits.sql": "CREATE TABLE credits (user_id bigint NOT NULL REFERENCES users (id), amount numeric(12, 2) NOT NULL DEFAULT 0);\n",
};
const AT_2 = `CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);
  CREATE TABLE teams (id serial PRIMARY KEY, owner_id bigint NOT NULL REFERENCES users (id));
  INSERT INTO users (email) VALUES ('ada@example.com');`;

const BUILD = "comparing it with the migrations in a scratch database";
const REUSED = "that plan holds (no new scratch build)";

/** A database at version 2 of 3 with no pgstack history, and a logger that keeps its lines. */
async function adoptable() {
  const db = await freshDatabase("memo");
  await query(db, AT_2);
  const logs: string[] = [];
  const options: BaselineOptions = { connection: db, schemas: ["public"], logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } };
  const builds = () => logs.filter((l) => l.includes(BUILD)).length;
  const reuses = () => logs.filter((l) => l.includes(REUSED)).length;
  return { db, logs, options, builds, reuses };
}

describe("adoption's plan, once per process", () => {
  it("the preview's two plans and the apply build the migrations once; the apply records what the plan found", async () => {
    const { db, options, builds, reuses } = await adoptable();
    const migrations = await inline(FILES);
    // The MigrationSet's check, then the safety check (its own connection, as in the provider).
    const first = await planBaseline(await connectTo(db), migrations, db.database, options);
    const second = await planBaseline(await connectTo(db), migrations, db.database, options);
    expect(first?.count).toBe(2);
    expect(second).toEqual(first);
    expect([builds(), reuses()]).toEqual([1, 1]);

    const cl = await connectTo(db);
    const result = await applyMigrations(cl, migrations, { database: db.database, logger: options.logger, adopt: baselineAdopter(db.database, options) });
    expect(result.error).toBeUndefined();
    expect(result.baselined).toBe(2);
    expect(result.results.map((r) => r.name)).toEqual(["0003_create_credits"]);
    expect([builds(), reuses()]).toEqual([1, 2]);
    expect((await readHistory(cl)).map((h) => [h.name, h.baselined])).toEqual([["0001_create_users", true], ["0002_add_teams", true], ["0003_create_credits", false]]);
  });

  it("two plans at once (the checks run in parallel) share one build", async () => {
    const { db, options, builds } = await adoptable();
    const migrations = await inline(FILES);
    const [a, b] = await Promise.all([planBaseline(await connectTo(db), migrations, db.database, options), planBaseline(await connectTo(db), migrations, db.database, options)]);
    expect(a?.count).toBe(2);
    expect(b).toEqual(a);
    expect(builds()).toBe(1);
  });

  it("a database changed after the preview is planned again, and the apply refuses it without recording", async () => {
    const { db, options, builds, reuses } = await adoptable();
    const migrations = await inline(FILES);
    expect((await planBaseline(await connectTo(db), migrations, db.database, options))?.count).toBe(2);
    // Between the preview and `up`, someone adds a column by hand.
    await query(db, "ALTER TABLE teams ADD COLUMN nickname text");
    const cl = await connectTo(db);
    const apply = applyMigrations(cl, migrations, { database: db.database, logger: options.logger, adopt: baselineAdopter(db.database, options) });
    await expect(apply).rejects.toThrow(/public\.teams: \+ column nickname text/);
    expect([builds(), reuses()]).toEqual([2, 0]);
    expect(await readHistory(cl)).toEqual([]);

    // The refusal is the plan's answer for that schema: kept, as a plan is.
    await expect(planBaseline(cl, migrations, db.database, options)).rejects.toBeInstanceOf(BaselineRefusedError);
    expect([builds(), reuses()]).toEqual([2, 1]);
    // Other settings are another plan: a stated version is built and verified.
    await expect(planBaseline(cl, migrations, db.database, { ...options, stated: 1 })).rejects.toBeInstanceOf(BaselineRefusedError);
    expect(builds()).toBe(3);
  });

  it("an edited migration, or the same name in a database created again, is planned again", async () => {
    const { db, options, builds } = await adoptable();
    const migrations = await inline(FILES);
    await planBaseline(await connectTo(db), migrations, db.database, options);
    const edited = await inline({ ...FILES, "0003_create_credits.sql": "CREATE TABLE credits (user_id bigint NOT NULL REFERENCES users (id));\n" });
    expect((await planBaseline(await connectTo(db), edited, db.database, options))?.count).toBe(2);
    expect(builds()).toBe(2);

    // Dropped and created again with the same schema: another database (its oid), planned again.
    await closeClients();
    await query(adminConnection(), `DROP DATABASE "${db.database}"`);
    await query(adminConnection(), `CREATE DATABASE "${db.database}"`);
    await query(db, AT_2);
    expect((await planBaseline(await connectTo(db), migrations, db.database, options))?.count).toBe(2);
    expect(builds()).toBe(3);
  });
});
