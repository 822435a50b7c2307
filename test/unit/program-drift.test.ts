import { describe, expect, it } from "vitest";
import { loadMigrations, loadSqlParser } from "../../infra/lifecycle/index.js";
import { migrationsDigest } from "../../infra/lifecycle/drift.js";
import { runProgram } from "../support/mocks.js";

describe("the program passes each verification its declared schema and drift policy", () => {
  it("prod refuses drift, dev warns; the digest is that of the files; driftReport is an output", async () => {
    const prod = await runProgram("prod", { adminPassword: "a", fltrAppPassword: "b", fltrAuthAppPassword: "c" });
    await loadSqlParser();
    const digest = migrationsDigest(await loadMigrations("migrations/fltr"));
    expect(prod.byName("fltr-verification").inputs["declared"]).toEqual({
      dir: "migrations/fltr",
      digest,
      role: "fltr_owner",
      policy: "refuse",
      accept: [],
      configPath: "pgstack:databases[0].drift",
    });
    expect((prod.outputs["fltr"] as Record<string, unknown>)["driftReport"]).toEqual([]);
    const dev = await runProgram("dev");
    expect(dev.byName("fltr_auth-verification").inputs["declared"]).toMatchObject({ dir: "migrations/fltr_auth", role: "fltr_auth_owner", policy: "warn", configPath: "pgstack:databases[1].drift" });
  }, 60_000);
});
