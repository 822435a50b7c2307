/** Names that need quotes, from the stack config through verification against a real database. */
import { beforeAll, describe, expect, it } from "vitest";
import { expectationsOf, parseStackConfig } from "../../infra/config.js";
import { VerificationError } from "../../infra/lifecycle/errors.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { verification } from "../../infra/providers/verification.js";
import { freshDatabase, query } from "../support/db.js";
import { inventoryByTable, inventoryFromState } from "../../infra/lifecycle/inventory.js";

beforeAll(loadSqlParser);

function expectations(tables: string[], foreignKeys: string[]) {
  const cfg = parseStackConfig(
    { server: { embedded: true }, databases: [{ name: "bazaar", owner: "bazaar_owner", roles: [{ name: "bazaar_owner" }], schemas: ["public", "media"], expect: { tables, foreignKeys } }] },
    "dev",
  );
  return expectationsOf(cfg.databases[0]!);
}

describe("quoted identifiers end to end", () => {
  it("verifies hyphenated, capitalised and spaced names from the config against a real database", async () => {
    const db = await freshDatabase("quoted");
    await query(
      db,
      `CREATE TABLE users (id bigint PRIMARY KEY);
       CREATE TABLE "bazaar-vid_exports" (id bigint PRIMARY KEY, "User Id" bigint REFERENCES users (id));
       CREATE SCHEMA media;
       CREATE TABLE media."Clips" (id bigint PRIMARY KEY, export_id bigint REFERENCES "bazaar-vid_exports" (id));`,
    );
    const good = expectations(['"bazaar-vid_exports"', 'public."bazaar-vid_exports"', 'media."Clips"', "users"], [
      '"bazaar-vid_exports"."User Id" -> users.id',
      'media."Clips".export_id -> public."bazaar-vid_exports".id',
    ]);
    const out = (await verification.create({ connection: db, schemas: ["public", "media"], expectations: good, migrationHead: null })).outs;
    const inventory = inventoryByTable(inventoryFromState(out.inventory));
    expect(Object.values(inventory).map((t) => t.rows)).toEqual([0, 0, 0]);
    // Outputs name tables and foreign keys as SQL would: quoted only where a name needs it.
    expect(Object.keys(inventory).sort()).toEqual(['media."Clips"', 'public."bazaar-vid_exports"', "public.users"]);
    expect(inventory['public."bazaar-vid_exports"']?.foreignKeys).toEqual(['"User Id" -> public.users(id) on delete no action']);
    expect(inventory['media."Clips"']?.foreignKeys).toEqual(['export_id -> public."bazaar-vid_exports"(id) on delete no action']);

    const bad = expectations(['"Bazaar-Vid_Exports"'], ['"bazaar-vid_exports".id -> users.id']);
    const err = await verification.create({ connection: db, schemas: ["public", "media"], expectations: bad, migrationHead: null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    expect((err as VerificationError).unmet).toEqual([
      'table "Bazaar-Vid_Exports" is missing',
      'foreign key "bazaar-vid_exports".id -> users.id is missing ("bazaar-vid_exports" has: "User Id" -> users(id))',
    ]);
  });
});
