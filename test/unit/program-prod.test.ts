import { beforeAll, describe, expect, it } from "vitest";
import { isSecret, runProgram, unwrapSecret, type MockRun } from "../support/mocks.js";

const DATABASE = "postgresql:index/database:Database";
const SECRETS = { adminPassword: "prod-admin-pw", fltrAppPassword: "app-pw-1", fltrAuthAppPassword: "app-pw-2" };

describe("the prod stack's program (mocked engine)", () => {
  it("refuses to run without its secrets, listing every missing one with its config path", async () => {
    const err = (await runProgram("prod", { adminPassword: "prod-admin-pw" }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain('stack "prod": the config has 2 problem(s)');
    expect(err.message).toContain(
      'pgstack:databases[0].roles[1].passwordSecret: the secret "pgstack:fltrAppPassword" is not set; run `pulumi config set --secret fltrAppPassword <value> -s prod`',
    );
    expect(err.message).toContain("pgstack:databases[1].roles[1].passwordSecret");
  });

  describe("with its secrets", () => {
    let run: MockRun;
    beforeAll(async () => {
      run = await runProgram("prod", SECRETS);
    }, 60_000);

    it("declares the @pulumi/postgresql provider, roles, database, schema and grants, and a @pulumi/command backup", () => {
      const names = run.registrations.map((r) => `${r.type} ${r.name}`);
      for (const db of ["fltr", "fltr_auth"]) {
        expect(names).toEqual(
          expect.arrayContaining([
            `pulumi:providers:postgresql ${db}-admin`,
            `pulumi-nodejs:dynamic/pgstack:ExistingObjectsGuard ${db}-guard`,
            `postgresql:index/role:Role ${db}-role-${db}_owner`,
            `postgresql:index/role:Role ${db}-role-${db}_app`,
            `pulumi-nodejs:dynamic/pgstack:OwnerMembership ${db}-admin-in-owner`,
            `${DATABASE} ${db}`,
            `postgresql:index/schema:Schema ${db}-schema-public`,
            `postgresql:index/grant:Grant ${db}-grant-${db}_app-public-schema`,
            `postgresql:index/grant:Grant ${db}-grant-${db}_app-public-tables`,
            `postgresql:index/grant:Grant ${db}-grant-${db}_app-public-sequences`,
            `postgresql:index/defaultPrivileges:DefaultPrivileges ${db}-grant-${db}_app-public-default-tables`,
            `postgresql:index/defaultPrivileges:DefaultPrivileges ${db}-grant-${db}_app-public-default-sequences`,
            `command:local:Command ${db}-backup`,
            `pulumi-nodejs:dynamic/pgstack:DatabaseReset ${db}-reset`,
            `pulumi-nodejs:dynamic/pgstack:MigrationSet ${db}-migrations`,
            `pulumi-nodejs:dynamic/pgstack:SchemaVerification ${db}-verification`,
            `pulumi-nodejs:dynamic/pgstack:MigrationSafety ${db}-safety`,
          ]),
        );
      }
      expect(run.registrations).toHaveLength(2 * 18);
    });

    it("orders database → schemas → grants → backup → reset → migrations → verification", () => {
      const r = (n: string) => run.byName(n, n === "fltr" ? DATABASE : undefined);
      const urn = (n: string) => r(n).urn;
      expect(r("fltr-schema-public").dependencies).toContain(urn("fltr"));
      expect(r("fltr-grant-fltr_app-public-schema").dependencies).toContain(urn("fltr-schema-public"));
      expect(r("fltr-backup").dependencies).toEqual(expect.arrayContaining([urn("fltr"), urn("fltr-grant-fltr_app-public-tables")]));
      expect(r("fltr-reset").dependencies).toEqual(expect.arrayContaining([urn("fltr-backup"), urn("fltr-grant-fltr_app-public-schema")]));
      expect(r("fltr-migrations").dependencies).toContain(urn("fltr-reset"));
      expect(r("fltr-verification").dependencies).toContain(urn("fltr-migrations"));
      expect(r("fltr-reset").requestedAt).toBeGreaterThanOrEqual(r("fltr-backup").completedAt);
      expect(r("fltr-reset").inputs["backup"]).toBe("backups/prod/fltr/mock.dump");
    });

    it("protects the databases, takes passwords from secret config and generates none", () => {
      expect(run.byName("fltr", DATABASE).protect).toBe(true);
      expect(run.byName("fltr_auth", DATABASE).protect).toBe(true);
      expect(run.registrations.some((r) => r.type.endsWith("GeneratedPassword"))).toBe(false);
      const role = run.byName("fltr-role-fltr_app").inputs["password"];
      expect(isSecret(role)).toBe(true);
      expect(unwrapSecret(role)).toBe("app-pw-1");
      expect(unwrapSecret(run.byName("fltr_auth-admin").inputs["password"])).toBe("prod-admin-pw");
      // No superuser assumed: managed Postgres gives an admin with CREATEROLE and CREATEDB only.
      expect(run.byName("fltr_auth-admin").inputs).toMatchObject({ host: "db.internal.example.com", sslmode: "verify-full", username: "pgstack_admin", superuser: "false" });
      expect(run.byName("fltr-reset").inputs).toMatchObject({ allowed: false, stack: "prod" });
      expect((run.outputs["fltr"] as Record<string, unknown>)["lastBackup"]).toBe("backups/prod/fltr/mock.dump");
      expect(isSecret(run.byName("fltr-backup").inputs["environment"])).toBe(true);
    });

    it("carries no password outside the secret wrappers", () => {
      const plain = JSON.stringify(run.registrations.map((r) => Object.fromEntries(Object.entries(r.inputs).filter(([, v]) => !isSecret(v)))));
      for (const pw of Object.values(SECRETS)) expect(plain).not.toContain(pw);
      expect(JSON.stringify(run.registrations.map((r) => r.inputs))).toContain("app-pw-1");
    });
  });
});
