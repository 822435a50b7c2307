/**
 * A reset of a database whose migrations create a managed schema: the reset drops it and leaves it
 * to the migration, and the MigrationSet gives it its owner, grants and default privileges again.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadSqlParser, sha256, type ManagedSchema } from "../../infra/lifecycle/index.js";
import { migrations, reset, type MigrationInput, type MigrationSetInputs, type ResetInputs } from "../../infra/providers/kinds.js";
import { closeClients, freshDatabase, query } from "../support/db.js";

afterEach(closeClients);
beforeAll(loadSqlParser);

const BILLING = `CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, amount int NOT NULL);
`;
const LATER = "CREATE TABLE billing.refunds (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);\n";

const input = (id: number, name: string, sql: string): MigrationInput => ({ id, name, file: `migrations/billing/${name}.sql`, checksum: sha256(Buffer.from(sql)), inTransaction: true, sql });

describe("a reset of a database whose migrations create a managed schema", () => {
  it("drops billing without recreating it; the re-run migrations create it and it gets its owner, grants and default privileges again", async () => {
    const conn = await freshDatabase("rms");
    const owner = `${conn.database}_owner`;
    const app = `${conn.database}_app`;
    await query(conn, `CREATE ROLE ${owner}; CREATE ROLE ${app}; GRANT ${owner} TO CURRENT_USER; ALTER DATABASE ${conn.database} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}`);
    const schemas: ManagedSchema[] = [
      { name: "public", owner, grants: [] },
      { name: "billing", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT"], sequences: ["USAGE"] }] },
    ];
    const r1: ResetInputs = { connection: conn, stack: "dev", configPath: "pgstack:databases[0].reset", generation: 1, allowed: true, acceptDataLoss: false, schemas, createdByMigrations: ["billing"], backup: "b1" };
    const m1: MigrationSetInputs = {
      connection: conn,
      role: owner,
      migrations: [input(1, "0001_billing", BILLING), input(2, "0002_refunds", LATER)],
      resetGeneration: 1,
      schemas: ["public", "billing"],
      grants: schemas,
    };
    const canSelect = async (table: string) =>
      (await query<{ ok: boolean }>(conn, `SELECT has_schema_privilege('${app}', 'billing', 'USAGE') AND has_table_privilege('${app}', '${table}', 'SELECT') AS ok`))[0]!.ok;

    expect((await reset.create(r1)).outs.action).toBe("adopted");
    const mig1 = (await migrations.create(m1)).outs;
    expect(mig1.applied).toHaveLength(2);
    // A fresh database: the grants come right after the migration that created the schema.
    expect(await canSelect("billing.invoices")).toBe(true);
    await query(conn, "INSERT INTO billing.invoices (amount) VALUES (5)");

    const r2: ResetInputs = { ...r1, generation: 2, acceptDataLoss: true, backup: "b2" };
    const reset2 = (await reset.create(r2)).outs;
    expect(reset2.action).toBe("reset");
    expect(reset2.droppedTables).toContain("billing.invoices (1 rows)");
    // Left to the migration: recreating it here would make `CREATE SCHEMA billing` fail.
    expect(await query(conn, "SELECT to_regnamespace('billing') IS NULL AS gone")).toEqual([{ gone: true }]);

    const mig2 = (await migrations.update("id", mig1, { ...m1, resetGeneration: 2 })).outs;
    expect(mig2.applied).toEqual(mig1.applied);
    const [billing] = await query<{ owner: string }>(conn, "SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'billing'");
    expect(billing?.owner).toBe(owner);
    // Grants on what the migrations created, and default privileges for what the owner creates next.
    expect(await canSelect("billing.invoices")).toBe(true);
    expect(await canSelect("billing.refunds")).toBe(true);
    expect(await query(conn, `SELECT has_sequence_privilege('${app}', 'billing.invoices_id_seq', 'USAGE') AS ok`)).toEqual([{ ok: true }]);
    await query(conn, `SET ROLE ${owner}; CREATE TABLE billing.later (id int)`);
    expect(await canSelect("billing.later")).toBe(true);
  });

  it("without the list, a reset recreates billing and the re-run CREATE SCHEMA fails: the reason for it", async () => {
    const conn = await freshDatabase("rms");
    const owner = `${conn.database}_owner`;
    await query(conn, `CREATE ROLE ${owner}; GRANT ${owner} TO CURRENT_USER; ALTER DATABASE ${conn.database} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}`);
    const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [] }, { name: "billing", owner, grants: [] }];
    const r1: ResetInputs = { connection: conn, stack: "dev", configPath: "pgstack:databases[0].reset", generation: 1, allowed: true, acceptDataLoss: true, schemas, backup: "b1" };
    const m1: MigrationSetInputs = { connection: conn, role: owner, migrations: [input(1, "0001_billing", BILLING)], resetGeneration: 1, schemas: ["public", "billing"], grants: schemas };
    await reset.create(r1);
    const mig1 = (await migrations.create(m1)).outs;
    await reset.create({ ...r1, generation: 2 });
    await expect(migrations.update("id", mig1, { ...m1, resetGeneration: 2 })).rejects.toThrow(/already exists/);
  });
});
