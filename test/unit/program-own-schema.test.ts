/**
 * A managed schema that a migration creates (`CREATE SCHEMA billing`) belongs to the migrations,
 * under the mocked engine: its Schema resource and grants come after the MigrationSet (so a fresh
 * database does not pre-create it and fail the migration with "already exists"); the schemas no
 * migration creates keep their place before the backup and the reset.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { runProgram, type MockRun } from "../support/mocks.js";
import { rawStackConfig } from "../support/stack-config.js";

describe("a managed schema a migration creates (mocked engine, prod stack)", () => {
  let run: MockRun;
  beforeAll(async () => {
    const [fltr] = structuredClone(rawStackConfig("prod").databases) as Record<string, unknown>[];
    fltr!["migrations"] = "test/fixtures/own-schema";
    fltr!["schemas"] = ["public", "billing"];
    fltr!["expect"] = { tables: ["customers", "billing.invoices"] };
    const grant = { role: "fltr_app", schemaPrivileges: ["USAGE"], tablePrivileges: ["SELECT"], sequencePrivileges: [] };
    fltr!["grants"] = [
      { ...grant, schema: "public" },
      { ...grant, schema: "billing" },
    ];
    run = await runProgram("prod", { adminPassword: "a", fltrAppPassword: "b" }, [fltr]);
  }, 60_000);

  it("its Schema and grants depend on the MigrationSet; the backup and the reset do not wait for them", () => {
    const urn = (n: string) => run.byName(n).urn;
    const migrations = urn("fltr-migrations");
    expect(run.byName("fltr-schema-billing").dependencies).toContain(migrations);
    expect(run.byName("fltr-grant-fltr_app-billing-schema").dependencies).toContain(urn("fltr-schema-billing"));
    expect(run.byName("fltr-grant-fltr_app-billing-tables").dependencies).toContain(urn("fltr-schema-billing"));
    expect(run.byName("fltr-schema-public").dependencies).not.toContain(migrations);
    for (const n of ["fltr-backup", "fltr-reset"]) {
      expect(run.byName(n).dependencies).toContain(urn("fltr-grant-fltr_app-public-schema"));
      expect(run.byName(n).dependencies).not.toContain(urn("fltr-schema-billing"));
      expect(run.byName(n).dependencies).not.toContain(urn("fltr-grant-fltr_app-billing-schema"));
    }
    expect(run.byName("fltr-verification").dependencies).toEqual(expect.arrayContaining([migrations, urn("fltr-schema-billing"), urn("fltr-grant-fltr_app-billing-tables")]));
  });

  it("a reset leaves it to the migration, and the MigrationSet has its owner and grants to give it again after one", () => {
    expect(run.byName("fltr-reset").inputs["createdByMigrations"]).toEqual(["billing"]);
    expect(run.byName("fltr-migrations").inputs["grants"]).toContainEqual({
      name: "billing",
      owner: "fltr_owner",
      grants: [{ role: "fltr_app", schema: ["USAGE"], tables: ["SELECT"], sequences: [] }],
    });
  });
});
