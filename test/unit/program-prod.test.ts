import { describe, expect, it } from "vitest";
import { isSecret, runProgram, unwrapSecret } from "../support/mocks.js";

const DATABASE = "postgresql:index/database:Database";

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

  it("protects the databases, takes passwords from secret config and generates none", async () => {
    const run = await runProgram("prod", { adminPassword: "prod-admin-pw", fltrAppPassword: "app-pw-1", fltrAuthAppPassword: "app-pw-2" });
    expect(run.byName("fltr", DATABASE).protect).toBe(true);
    expect(run.byName("fltr_auth", DATABASE).protect).toBe(true);
    expect(run.registrations.some((r) => r.type.endsWith("GeneratedPassword"))).toBe(false);
    const role = run.byName("fltr-role-fltr_app").inputs["password"];
    expect(isSecret(role)).toBe(true);
    expect(unwrapSecret(role)).toBe("app-pw-1");
    expect(unwrapSecret(run.byName("fltr_auth-admin").inputs["password"])).toBe("prod-admin-pw");
    expect(run.byName("fltr_auth-admin").inputs).toMatchObject({ host: "db.internal.example.com", sslmode: "verify-full", username: "pgstack_admin" });
    expect(run.byName("fltr-reset").inputs).toMatchObject({ allowed: false, stack: "prod" });
    expect((run.outputs["fltr"] as Record<string, unknown>)["lastBackup"]).toBe("backups/prod/fltr/mock.dump");
    // Nothing but the secret wrappers may carry a password.
    const plain = JSON.stringify(run.registrations.map((r) => Object.fromEntries(Object.entries(r.inputs).filter(([, v]) => !isSecret(v)))));
    for (const pw of ["prod-admin-pw", "app-pw-1", "app-pw-2"]) expect(plain).not.toContain(pw);
  });
});
