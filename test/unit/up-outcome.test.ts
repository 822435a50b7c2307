/** `npm run up`'s line per database, from engine events shaped as Pulumi writes them (scripts/up/outcome.ts). */
import { describe, expect, it } from "vitest";
import { formatOutcomes, OutcomeTracker, type EngineEvent } from "../../scripts/up/outcome.js";

const urn = (name: string, type = "pulumi-nodejs:dynamic/pgstack:MigrationSet") => `urn:pulumi:prod::pgstack::pgstack:index:PostgresDatabase$${type}::${name}`;
const pre = (name: string, op = "create", planning = true): EngineEvent => ({ resourcePreEvent: { metadata: { op, urn: urn(name) }, planning } });
const out = (name: string, op = "create"): EngineEvent => ({ resOutputsEvent: { metadata: { op, urn: urn(name) } } });

describe("OutcomeTracker", () => {
  it("tells applied, failed (with its error), stopped part-way, not started and unchanged apart", () => {
    const t = new OutcomeTracker(["shop", "shop_auth", "billing", "ledger", "audit"]);
    const events: EngineEvent[] = [
      // The preview plans: the component (not counted), and two changes per database; audit has none.
      ...["shop", "shop_auth", "billing", "ledger"].flatMap((d) => [pre(d), pre(`${d}-database`), pre(`${d}-migrations`)]),
      pre("audit-migrations", "same"),
      // The update: shop done, shop_auth's migrations fail, billing half-way, ledger never begun.
      pre("shop-database", "create", false), out("shop-database"), out("shop-migrations"), out("shop"),
      out("shop_auth-database"),
      { resOpFailedEvent: { metadata: { op: "create", urn: urn("shop_auth-migrations") } } },
      { diagnosticEvent: { urn: urn("shop_auth-migrations"), severity: "error", message: "\u001b[31mMigration 0004_x failed: migrations/shop_auth/0004_x.sql:3:1: boom\u001b[0m\n  detail" } },
      { diagnosticEvent: { urn: urn("shop_auth-migrations"), severity: "error", message: "update failed" } },
      out("billing-database"),
      out("audit-migrations", "same"),
    ];
    for (const e of events) t.add(e);
    const byDb = Object.fromEntries(t.outcomes().map((o) => [o.database, o]));
    expect(byDb["shop"]).toMatchObject({ outcome: "applied", planned: 2, done: 2 });
    expect(byDb["shop_auth"]).toMatchObject({ outcome: "failed", done: 1, planned: 2, error: "Migration 0004_x failed: migrations/shop_auth/0004_x.sql:3:1: boom" });
    expect(byDb["billing"]).toMatchObject({ outcome: "stopped part-way", done: 1, planned: 2, notDone: ["billing-migrations"] });
    expect(byDb["ledger"]).toMatchObject({ outcome: "not started", done: 0, planned: 2 });
    expect(byDb["audit"]).toMatchObject({ outcome: "unchanged", planned: 0 });
    // "shop" is a prefix of "shop_auth": resources are told apart by the hyphen after the name.
    expect(byDb["shop"]?.notDone).toEqual([]);

    expect(formatOutcomes(t.outcomes())).toEqual([
      "per database: 2 done, 1 failed, 2 not finished",
      "  shop       applied (2 changes)",
      "  shop_auth  FAILED (1 of 2 changes done): Migration 0004_x failed: migrations/shop_auth/0004_x.sql:3:1: boom",
      "  billing    stopped part-way (1 of 2 changes done; not done: billing-migrations)",
      "  ledger     not started (2 changes pending)",
      "  audit      unchanged",
      "  Fix the failure and run `npm run up` again: what is done stays done, the rest resumes.",
    ]);
  });

  it("a run where everything is done says so, with no advice", () => {
    const t = new OutcomeTracker(["a", "b"]);
    for (const e of [pre("a-migrations", "update"), out("a-migrations", "update")]) t.add(e);
    expect(formatOutcomes(t.outcomes())).toEqual(["per database: 2 done, 0 failed, 0 not finished", "  a  applied (1 change)", "  b  unchanged"]);
  });
});
