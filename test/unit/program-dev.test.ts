import { beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { isSecret, mockId, runProgram, unwrapSecret, type MockRun } from "../support/mocks.js";

const DATABASE = "postgresql:index/database:Database";

let run: MockRun;
beforeAll(async () => {
  run = await runProgram("dev");
}, 60_000);

describe("the dev stack's program (mocked engine)", () => {
  it("declares, per database, the same @pulumi/postgresql and @pulumi/command objects as prod, plus a generated password", () => {
    const names = run.registrations.map((r) => `${r.type} ${r.name}`).sort();
    for (const db of ["fltr", "fltr_auth"]) {
      expect(names).toEqual(
        expect.arrayContaining([
          `pgstack:index:PostgresDatabase ${db}`,
          `pulumi:providers:postgresql ${db}-admin`,
          `pulumi-nodejs:dynamic/pgstack:ExistingObjectsGuard ${db}-guard`,
          `postgresql:index/role:Role ${db}-role-${db}_owner`,
          `postgresql:index/role:Role ${db}-role-${db}_app`,
          `pulumi-nodejs:dynamic/pgstack:GeneratedPassword ${db}-${db}_app-password`,
          `pulumi-nodejs:dynamic/pgstack:OwnerMembership ${db}-admin-in-owner`,
          `${DATABASE} ${db}`,
          `postgresql:index/schema:Schema ${db}-schema-public`,
          `command:local:Command ${db}-backup`,
          `pulumi-nodejs:dynamic/pgstack:DatabaseReset ${db}-reset`,
          `pulumi-nodejs:dynamic/pgstack:MigrationSet ${db}-migrations`,
          `pulumi-nodejs:dynamic/pgstack:SchemaVerification ${db}-verification`,
          `pulumi-nodejs:dynamic/pgstack:MigrationSafety ${db}-safety`,
        ]),
      );
    }
    expect(run.registrations).toHaveLength(2 * 19);
  });

  it("serializes the dynamic providers without any absolute path (state works from any checkout)", () => {
    const provider = String(run.byName("fltr-reset").inputs["__provider"]);
    expect(provider).toContain('"reset"');
    expect(provider).toContain("process.cwd()");
    expect(provider).toContain(`"handlers.ts"`);
    // The code is found as the program's own require("pgstack") finds it: the installed package, or this project.
    expect(provider).toContain('"pgstack/package.json"');
    expect(provider).toContain('"pgstack/providers"');
    expect(provider).not.toContain(process.cwd());
    expect(provider).not.toMatch(/["'`]\/(home|root|tmp|work|usr)\//);
    expect(provider.length).toBeLessThan(20_000);
    // Every kind serializes to the same code but its kind: no checkout-specific text anywhere.
    expect(String(run.byName("fltr_auth-reset").inputs["__provider"])).toBe(provider);
  });

  it("refuses existing roles and databases before creating them, unless adopted", () => {
    const guard = run.byName("fltr-guard");
    const objects = unwrapSecret(guard.inputs["objects"]) as { kind: string; name: string; configPath: string }[];
    expect(objects.map((o) => `${o.kind} ${o.name} ${o.configPath}`)).toEqual([
      "role fltr_owner pgstack:databases[0].roles[0]",
      "role fltr_app pgstack:databases[0].roles[1]",
      "database fltr pgstack:databases[0]",
    ]);
    expect(run.byName("fltr-role-fltr_owner").dependencies).toContain(guard.urn);
    expect(run.byName("fltr", DATABASE).dependencies).toContain(guard.urn);
  });

  it("grants existing and future tables and sequences, and makes the admin a member of the owner", () => {
    expect(run.byName("fltr-grant-fltr_app-public-tables").inputs).toMatchObject({ objectType: "table", privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"], role: "fltr_app", schema: "public" });
    expect(run.byName("fltr-grant-fltr_app-public-default-tables").inputs).toMatchObject({ objectType: "table", owner: "fltr_owner", role: "fltr_app" });
    expect(run.byName("fltr-grant-fltr_app-public-sequences").inputs).toMatchObject({ objectType: "sequence", privileges: ["USAGE", "SELECT"] });
    const membership = run.byName("fltr-admin-in-owner");
    expect(membership.inputs).toMatchObject({ owner: "fltr_owner" });
    // The GrantRole of stacks made before is this resource, replaced by deleting it first.
    expect(membership.aliases.join(" ")).toContain("postgresql:index/grantRole:GrantRole");
    expect(membership.deleteBeforeReplace).toBe(true);
    expect(run.byName("fltr", DATABASE).dependencies).toContain(run.byName("fltr-admin-in-owner").urn);
  });

  it("orders roles → database → schema (with grants) → backup → reset → migrations → verification", () => {
    const r = (n: string) => run.byName(n, n === "fltr" ? DATABASE : undefined);
    const urn = (n: string) => r(n).urn;
    expect(r("fltr").dependencies).toEqual(expect.arrayContaining([urn("fltr-role-fltr_owner"), urn("fltr-role-fltr_app")]));
    expect(r("fltr-schema-public").dependencies).toContain(urn("fltr"));
    expect(r("fltr-backup").dependencies).toEqual(expect.arrayContaining([urn("fltr"), urn("fltr-schema-public"), urn("fltr-grant-fltr_app-public-tables")]));
    expect(r("fltr-reset").dependencies).toEqual(expect.arrayContaining([urn("fltr-backup"), urn("fltr-schema-public")]));
    expect(r("fltr-migrations").dependencies).toContain(urn("fltr-reset"));
    expect(r("fltr-verification").dependencies).toContain(urn("fltr-migrations"));
    // The backup is answered slowly by the mock: the reset must not even be requested before it.
    expect(r("fltr-reset").requestedAt).toBeGreaterThanOrEqual(r("fltr-backup").completedAt);
    // Data flows too: values only the mocks supplied reach the dependents.
    expect(r("fltr-verification").inputs["migrationHead"]).toBe("mock-head-fltr-migrations");
    expect(r("fltr-reset").inputs["backup"]).toBe("backups/dev/fltr/mock.dump");
  });

  it("keeps connections and passwords secret and deletes everything inside a database with it", () => {
    for (const n of ["fltr-reset", "fltr-migrations", "fltr-verification"]) expect(run.byName(n).additionalSecretOutputs).toContain("connection");
    for (const n of ["fltr-schema-public", "fltr-grant-fltr_app-public-tables", "fltr-backup", "fltr-reset", "fltr-migrations", "fltr-verification"]) {
      expect(run.byName(n).deletedWith).toBe(run.byName("fltr", DATABASE).urn);
    }
    expect(isSecret(run.byName("fltr-backup").inputs["environment"])).toBe(true);
    expect(run.byName("fltr_auth-fltr_auth_app-password").additionalSecretOutputs).toEqual(["value"]);
  });

  it("does not protect dev databases, whose resets are allowed", () => {
    expect(run.byName("fltr", DATABASE).protect).toBe(false);
    expect(run.byName("fltr_auth", DATABASE).protect).toBe(false);
  });

  it("passes the schema grants, the migrations (names and checksums: the providers read the SQL they need from the files), and the generation to the dynamic resources", async () => {
    expect(unwrapSecret(run.byName("fltr-reset").inputs["schemas"])).toEqual([
      { name: "public", owner: "fltr_owner", grants: [{ role: "fltr_app", schema: ["USAGE"], tables: ["SELECT", "INSERT", "UPDATE", "DELETE"], sequences: ["USAGE", "SELECT"] }] },
    ]);
    const m = run.byName("fltr-migrations").inputs as { migrations: unknown[]; role: string };
    const sha = (f: string) => createHash("sha256").update(fs.readFileSync(f)).digest("hex");
    // The program runs in the project folder, as the providers do: no SQL travels to the engine,
    // and each migration is one string (file, checksum, and the no-transaction mark), not an object.
    expect(m.migrations).toEqual([
      `migrations/fltr/0001_create_datasets.sql@${sha("migrations/fltr/0001_create_datasets.sql")}`,
      `migrations/fltr/0002_create_documents.sql@${sha("migrations/fltr/0002_create_documents.sql")}`,
      `migrations/fltr/0003_create_processing_jobs.sql@${sha("migrations/fltr/0003_create_processing_jobs.sql")}`,
      `migrations/fltr/0004_index_jobs_by_status.sql@${sha("migrations/fltr/0004_index_jobs_by_status.sql")} no-transaction`,
    ]);
    expect((run.byName("fltr-safety").inputs as typeof m).migrations).toEqual(m.migrations);
    // What the providers read back from those strings (imported here: the mocks are set first).
    const { fromListed } = await import("../../infra/providers/migrations.js");
    expect(m.migrations.map((x) => fromListed(x as string))).toMatchObject([
      { id: 1, name: "0001_create_datasets", inTransaction: true },
      { id: 2, name: "0002_create_documents" },
      { id: 3, name: "0003_create_processing_jobs" },
      { id: 4, name: "0004_index_jobs_by_status", file: "migrations/fltr/0004_index_jobs_by_status.sql", checksum: sha("migrations/fltr/0004_index_jobs_by_status.sql"), inTransaction: false },
    ]);
    expect(m.role).toBe("fltr_owner");
    expect(run.byName("fltr-reset").inputs).toMatchObject({ generation: 1, allowed: true, stack: "dev", configPath: "pgstack:databases[0].reset" });
    // The script rides in the environment, so a failure shows pg_dump's error, not the script.
    const backup = run.byName("fltr-backup").inputs as { create: string; update: string; logging: string; environment: Record<string, unknown> };
    expect([backup.create, backup.logging]).toEqual(['sh -c "$PGSTACK_BACKUP"', "none"]);
    expect(unwrapSecret(backup.environment)).toMatchObject({ PGSTACK_BACKUP: expect.stringContaining("mkdir -p 'backups/dev/fltr'") });
    expect(backup.update).toBe('printf "%s" "$PULUMI_COMMAND_STDOUT"');
    expect(run.byName("fltr-guard").inputs["backup"]).toEqual({ enabled: true, configPath: "pgstack:databases[0]", generation: 1, everyDeploy: false });
    expect(run.byName("fltr-backup").inputs["triggers"]).toEqual([1]);
  });

  it("exports per-database outputs built from what the engine returned", () => {
    const auth = run.outputs["fltr_auth"] as Record<string, unknown>;
    expect(auth["tables"]).toEqual({
      public: ["accounts", "api_key_credits", "credit_transactions", "sessions", "subscriptions", "teams", "user_credits", "users", "verifications"],
    });
    expect(auth["foreignKeys"]).toEqual([
      "public.api_key_credits.user_id -> public.users.id",
      "public.credit_transactions.user_id -> public.users.id",
      "public.user_credits.user_id -> public.users.id",
    ]);
    // The verification's state keeps one JSON text per table; the stack outputs show the objects.
    const inventory = auth["inventory"] as Record<string, { foreignKeys: string[]; primaryKey: string[] }>;
    expect(Object.keys(inventory)).toContain("public.users");
    expect(inventory["public.user_credits"]).toMatchObject({ primaryKey: ["id"], foreignKeys: ["user_id -> public.users(id) on delete cascade"] });
    expect(auth["migrationHead"]).toBe("mock-head-fltr_auth-migrations");
    expect(auth["fingerprint"]).toBe("mock-fingerprint-fltr_auth-verification");
    expect(auth["resetGeneration"]).toBe(1);
    expect(auth["lastBackup"]).toBe("backups/dev/fltr_auth/mock.dump");
    expect(auth["drift"]).toBe("in sync");
    expect(run.byName("fltr_auth", DATABASE).urn).toContain("fltr_auth");
    expect(mockId("fltr")).toBe("mock-id-fltr");
  });

  it("gives login roles a generated password (from the mock) and the embedded server's password from the local file", () => {
    const appPassword = run.byName("fltr-role-fltr_app").inputs["password"];
    expect(isSecret(appPassword)).toBe(true);
    expect(unwrapSecret(appPassword)).toBe("mock-generated-fltr-fltr_app-password");
    expect(run.byName("fltr-role-fltr_owner").inputs["password"]).toBeUndefined();
    const connection = run.byName("fltr-migrations").inputs["connection"];
    expect(isSecret(connection)).toBe(true);
    expect(unwrapSecret(connection)).toMatchObject({ user: "postgres", port: 54329, database: "fltr", password: "dev-admin-password-from-file" });
    expect(unwrapSecret(run.byName("fltr-guard").inputs["connection"])).toMatchObject({ database: "postgres" });
  });
});
