/**
 * A pending migration that tries to escape the owner role: `RESET ROLE` then `CREATE ROLE sneaky
 * LOGIN CREATEROLE`. Neither the preview's paths (the rehearsal, the declared schema) nor the real
 * apply may act as the admin, and the previews leave the server-wide catalogs exactly as they
 * were. A legitimate `CREATE ROLE reader` (the owner has CREATEROLE) previews, rehearses and
 * applies once.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildDeclaredSchema, connect, DeclaredSchemaError, diffSchemas, loadMigrations, loadSqlParser, readHistory, readSchema, rehearse, sha256, type Migration } from "../../infra/lifecycle/index.js";
import { planServerChanges, readServerObjects, undoServerChanges } from "../../infra/lifecycle/scratch-server.js";
import { shadowBuild } from "../../infra/review/plan.js";
import { migrations as migrationSet, setLogger, type MigrationSetInputs } from "../../infra/providers/kinds.js";
import { adminConnection, closeClients, query } from "../support/db.js";
import { fltrDatabase } from "../support/fixtures.js";
import { serverWide } from "../support/server-wide.js";

afterEach(closeClients);
beforeAll(async () => {
  await loadSqlParser();
  setLogger({ info: () => undefined, warn: () => undefined });
});

const ESCALATE = "RESET ROLE;\nCREATE ROLE sneaky LOGIN CREATEROLE PASSWORD 'sneaky-pw';\nCREATE TABLE escalated (id int PRIMARY KEY);\n";
const pendingOf = (slug: string, sql: string): Migration => ({ id: 5, name: `0005_${slug}`, file: `migrations/fltr/0005_${slug}.sql`, checksum: sha256(sql), sql, inTransaction: true });

/** The MigrationSet's inputs for fltr's four migrations (applied by the fixture) and `extra`. */
async function inputsFor(f: Awaited<ReturnType<typeof fltrDatabase>>, extra: Migration): Promise<MigrationSetInputs> {
  const applied = await readHistory(f.cl);
  return {
    connection: f.db,
    role: f.owner,
    appliedChecksums: applied.map((h) => `migrations/fltr/${h.name}.sql@${h.checksum}`),
    resetGeneration: 1,
    // The pending migration with its SQL, as `check` leaves the inputs.
    migrations: [{ id: extra.id, name: extra.name, file: extra.file, checksum: extra.checksum, inTransaction: true, sql: extra.sql }],
  };
}

describe("a migration that escalates from the owner to the admin", () => {
  it("the rehearsal and the declared schema run it confined: it fails, and pg_roles, pg_auth_members and pg_database are as before", async () => {
    const f = await fltrDatabase("esc");
    const escalate = pendingOf("escalate", ESCALATE);
    const before = await serverWide(f.db.database);
    const fltr = await loadMigrations("migrations/fltr");
    const report = await rehearse(adminConnection(), f.db.database, [escalate], { role: f.owner, applied: fltr });
    expect(report.steps).toHaveLength(1);
    expect(report.steps[0]!.status).toBe("failed");
    expect(report.steps[0]!.error).toMatch(/migrations\/fltr\/0005_escalate\.sql:2:1: permission denied to create role/);
    expect(report.cloneDropped).toBe(true);
    expect(await serverWide(f.db.database)).toEqual(before);

    const err = await buildDeclaredSchema(f.db, [...fltr, escalate], { role: f.owner, cacheDir: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeclaredSchemaError);
    expect((err as Error).message).toContain("permission denied to create role");
    expect(await serverWide(f.db.database)).toEqual(before);
  });

  it("the real apply cannot act as the admin: the migration fails and nothing of it stays", async () => {
    const f = await fltrDatabase("esc");
    const escalate = pendingOf("escalate", ESCALATE);
    const before = await serverWide(f.db.database);
    const err = await migrationSet.create(await inputsFor(f, escalate)).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/0005_escalate.*permission denied to create role/s);
    expect(await serverWide(f.db.database)).toEqual(before);
    expect(await query(f.db, "SELECT to_regclass('public.escalated') AS t")).toEqual([{ t: null }]);
    expect((await readHistory(f.cl)).map((h) => h.name)).not.toContain("0005_escalate");
  });

  it("a legitimate CREATE ROLE reader (the owner has CREATEROLE) rehearses without leaving it, then applies once", async () => {
    const f = await fltrDatabase("esc");
    await query(adminConnection(), `ALTER ROLE ${f.owner} CREATEROLE`);
    const reader = `${f.db.database}_reader`;
    const create = pendingOf("reader", `CREATE ROLE ${reader} NOLOGIN;\nGRANT SELECT ON datasets TO ${reader};\n`);
    const before = await serverWide(f.db.database);
    const fltr = await loadMigrations("migrations/fltr");
    const report = await rehearse(adminConnection(), f.db.database, [create], { role: f.owner, applied: fltr });
    expect(report.steps.map((s) => [s.status, s.error])).toEqual([["ok", undefined]]);
    expect(await serverWide(f.db.database)).toEqual(before);

    const { outs } = await migrationSet.create(await inputsFor(f, create));
    expect(outs.head).toBe("0005_reader");
    expect(await query(adminConnection(), "SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1", [reader])).toEqual([{ n: 1 }]);
    expect(await query(f.db, `SELECT has_table_privilege('${reader}', 'datasets', 'SELECT') AS ok`)).toEqual([{ ok: true }]);
    // No throwaway role is left: only the new role differs from before.
    const after = await serverWide(f.db.database);
    expect(after.roles.filter((r) => !before.roles.some((b) => b["rolname"] === r["rolname"]))).toEqual([{ rolname: reader, rolcreaterole: false, rolcreatedb: false, rolcanlogin: false, rolsuper: false }]);

    // Applied for real, the role exists: every later scratch build replays the migrations without
    // creating it again (not "role already exists"), and leaves it as it is.
    const logs: string[] = [];
    const declared = await buildDeclaredSchema(f.db, [...fltr, create], { role: f.owner, cacheDir: false, logger: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    expect(logs.filter((l) => l.includes("is not replayed"))).toEqual([
      `scratch: migrations/fltr/0005_reader.sql:1:1: CREATE ROLE "${reader}" is not replayed: the role exists on the server already (the migration ran for real); it is kept as it is`,
    ]);
    // Drift in sync: the declared schema is the live one.
    expect(diffSchemas(declared, await readSchema(f.cl))).toEqual([]);
    // The review's schema-after-the-PR builds them all too.
    const { tables } = await shadowBuild(adminConnection(), { name: f.db.database, owner: f.owner, schemas: ["public"] } as Parameters<typeof shadowBuild>[1], [...fltr, create]);
    expect(tables.map((t) => t.name)).toContain("datasets");
    // A second preview's rehearsal of a later migration, with the role in place.
    const next = { ...pendingOf("more", `GRANT SELECT ON datasets TO ${reader};\n`), id: 6, name: "0006_more", file: "migrations/fltr/0006_more.sql" };
    const again = await rehearse(adminConnection(), f.db.database, [next], { role: f.owner, applied: [...fltr, create] });
    expect(again.steps.map((s) => [s.status, s.error])).toEqual([["ok", undefined]]);
    expect(await serverWide(f.db.database)).toEqual(after);
    expect(await query(f.db, `SELECT has_table_privilege('${reader}', 'datasets', 'SELECT') AS ok`)).toEqual([{ ok: true }]);
    await query(f.db, `GRANT ${reader} TO CURRENT_USER; DROP OWNED BY ${reader}; DROP ROLE ${reader}`);
  });

  it("a role the run created but cannot remove is reported with Postgres' reason, not only logged", async () => {
    const f = await fltrDatabase("esc");
    const peek = `${f.db.database}_peek`;
    const admin = await connect(adminConnection());
    try {
      const before = await readServerObjects(admin);
      const changes = planServerChanges([pendingOf("peek", `CREATE ROLE ${peek} NOLOGIN;\n`)], before);
      // What a migration's dynamic SQL could leave: a privilege on a database that outlives the run.
      await admin.query(`CREATE ROLE ${peek} NOLOGIN; GRANT CONNECT ON DATABASE ${f.db.database} TO ${peek}`);
      const warned: string[] = [];
      const left = await undoServerChanges(admin, before, changes, { info: () => undefined, warn: (m) => warned.push(m) });
      expect(left[0]).toMatch(new RegExp(`^role "${peek}" \\(role "${peek}" cannot be dropped because some objects depend on it \\(privileges for database ${f.db.database}\\)\\)$`));
      expect(warned).toEqual([`scratch: could not remove the role "${peek}": ${left[0]!.slice(`role "${peek}" (`.length, -1)}`]);
    } finally {
      await admin.query(`REVOKE CONNECT ON DATABASE ${f.db.database} FROM ${peek}; DROP ROLE IF EXISTS ${peek}`);
      await admin.end();
    }
  });
});
