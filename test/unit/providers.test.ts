import { describe, expect, it } from "vitest";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { legacyDriftStatus } from "../../infra/lifecycle/inventory.js";
import { driftStatus } from "../../infra/providers/drift.js";
import { existingObjectsError, guard, migrations, password, providerChanged, reset, same, verification, type MigrationInput, type ResetInputs } from "../../infra/providers/kinds.js";

const resetInputs = (over: Partial<ResetInputs> = {}): ResetInputs => ({
  connection: { host: "h", port: 1, user: "u", password: "pw", database: "fltr" },
  stack: "prod",
  configPath: "pgstack:databases[0].reset",
  generation: 1,
  allowed: false,
  acceptDataLoss: false,
  schemas: [],
  backup: "b.dump",
  ...over,
});

describe("DatabaseReset provider (pure parts)", () => {
  it("check refuses a generation change where resets are not allowed, saying how to allow it", async () => {
    const { failures } = await reset.check(resetInputs(), resetInputs({ generation: 2 }));
    expect(failures).toHaveLength(1);
    // No property name: the engine would print `property generation value {…} has a problem:` first.
    expect(failures[0]?.property).toBe("");
    expect(failures[0]?.reason).toContain('stack "prod" does not allow resetting database "fltr" (generation 1 → 2)');
    expect(failures[0]?.reason).toContain("set pgstack:databases[0].reset.allowed: true");
  });

  it("check lets a first create (adoption), an unchanged generation, and an allowed bump through", async () => {
    expect((await reset.check(undefined, resetInputs())).failures).toEqual([]);
    expect((await reset.check(resetInputs(), resetInputs({ acceptDataLoss: true }))).failures).toEqual([]);
    expect((await reset.check(resetInputs({ allowed: true }), resetInputs({ generation: 2, allowed: true }))).failures).toEqual([]);
  });

  it("diff replaces on a new generation, deleting before replacing", async () => {
    const olds = { ...resetInputs(), action: "adopted" as const, previousGeneration: null, droppedTables: [], recordedGeneration: 1 };
    expect(await reset.diff("id", olds, resetInputs({ generation: 2 }))).toEqual({ changes: true, replaces: ["generation"], deleteBeforeReplace: true });
    expect(await reset.diff("id", olds, resetInputs())).toMatchObject({ changes: false, replaces: [] });
  });
});

describe("diffs compare values, not key order", () => {
  it("same() ignores key order (the state stores keys sorted) but not values or array order", () => {
    expect(same({ b: 1, a: { d: [1, 2], c: "x" } }, { a: { c: "x", d: [1, 2] }, b: 1 })).toBe(true);
    expect(same({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(same({ a: 1 }, { a: 1, b: undefined })).toBe(false);
  });

  it("a reset read back from the state (sorted keys) shows no change", async () => {
    const news = resetInputs({ schemas: [{ name: "public", owner: "o", grants: [{ role: "app", schema: ["USAGE"], tables: [], sequences: [] }] }] });
    const fromState = { ...news, schemas: [{ owner: "o", name: "public", grants: [{ tables: [], sequences: [], schema: ["USAGE" as const], role: "app" }] }], action: "adopted" as const, previousGeneration: null, droppedTables: [], recordedGeneration: 1 };
    expect((await reset.diff("id", fromState, news)).changes).toBe(false);
    expect((await reset.diff("id", fromState, { ...news, schemas: [{ ...news.schemas[0]!, owner: "other" }] })).changes).toBe(true);
  });
});

describe("provider code stored in old states is rewritten on the next up", () => {
  const old = "exports.handler = /* captured /home/a/pgstack/infra/providers/handlers.ts */ ...";
  const now = "exports.handler = /* resolved from the working directory */ ...";

  it("providerChanged compares the serialized providers, and ignores states without one", () => {
    expect(providerChanged({ __provider: old }, { __provider: now })).toBe(true);
    expect(providerChanged({ __provider: now }, { __provider: now })).toBe(false);
    expect(providerChanged({}, { __provider: now })).toBe(false);
  });

  it("every resource kind reports the change as an update, never a replacement", async () => {
    const olds = { ...resetInputs(), action: "adopted" as const, previousGeneration: null, droppedTables: [], recordedGeneration: 1, __provider: old };
    expect(await reset.diff("id", olds, { ...resetInputs(), __provider: now } as ResetInputs)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: true });
    const pw = await password.diff("id", { length: 32, value: "x", __provider: old } as never, { length: 32, __provider: now } as never);
    expect(pw).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    const guardInputs = { connection: resetInputs().connection, stack: "dev", objects: [] };
    expect((await guard.diff("id", { ...guardInputs, __provider: old } as never, { ...guardInputs, __provider: now } as never)).changes).toBe(true);
    expect((await guard.diff("id", guardInputs, guardInputs)).changes).toBe(false);
  });

  it("a GeneratedPassword updated for new provider code keeps its value", async () => {
    const { outs } = await password.update("id", { length: 32, value: "kept-value" }, { length: 32 });
    expect(outs.value).toBe("kept-value");
  });
});

describe("refusing existing objects", () => {
  it("names each object, its config path and how to adopt it", () => {
    const msg = existingObjectsError("dev", "127.0.0.1:5432", [
      { kind: "role", name: "fltr_owner", configPath: "pgstack:databases[0].roles[0]", type: "postgresql:index/role:Role", resourceName: "fltr-role-fltr_owner" },
      { kind: "database", name: "fltr", configPath: "pgstack:databases[0]", type: "postgresql:index/database:Database", resourceName: "fltr" },
    ]);
    expect(msg).toContain('stack "dev" would create 2 objects that already exist on 127.0.0.1:5432');
    expect(msg).toContain('role "fltr_owner" (pgstack:databases[0].roles[0]): to adopt it, set pgstack:databases[0].roles[0].adopt: true');
    expect(msg).toContain("pulumi import postgresql:index/database:Database fltr fltr -s dev");
  });
});

describe("the drift status", () => {
  const lines = ["+ table public.x (not in migrations)", "~ public.users: + grant PUBLIC: SELECT (not declared)"];
  it("says in sync when the config accepts every line, and lists only the lines it does not accept", () => {
    expect(driftStatus([], [])).toBe("in sync");
    expect(driftStatus(lines, lines)).toBe(`in sync (2 accepted difference(s): ${lines.join("; ")})`);
    expect(driftStatus(lines, [lines[0]!])).toBe(`drifted: ${lines[1]} (and 1 accepted)`);
    expect(driftStatus(lines, [])).toBe(`drifted: ${lines.join("; ")}`);
  });
  it("of a state from before the comparison with the migrations: the fingerprint against the last up", () => {
    expect(legacyDriftStatus("f", "f")).toBe("in sync");
    expect(legacyDriftStatus("g", "f")).toMatch(/^drifted: the structure changed since the last up .*run `pulumi up` to measure it/);
  });
});

describe("SchemaVerification provider (pure parts)", () => {
  it("diff reports a change when the head is unknown in a preview (the migrations will run), and when it moves", async () => {
    const base = { connection: resetInputs().connection, schemas: ["public"], expectations: { tables: [], foreignKeys: [] }, migrationHead: "0001_a" };
    const olds = { ...base, inventory: [], fingerprint: "f", verifiedFingerprint: "f", drift: "in sync" };
    expect((await verification.diff("id", olds, { ...base, migrationHead: unknownValue })).changes).toBe(true);
    expect((await verification.diff("id", olds, base)).changes).toBe(false);
    expect((await verification.diff("id", olds, { ...base, migrationHead: "0002_b" })).changes).toBe(true);
    // A change of the declared grants re-verifies, so the grants pgstack makes are not drift.
    const grants = [{ name: "public", owner: "o", grants: [{ role: "app", schema: ["USAGE" as const], tables: ["SELECT" as const], sequences: [] }] }];
    expect((await verification.diff("id", { ...olds, grants }, { ...base, grants })).changes).toBe(false);
    expect((await verification.diff("id", { ...olds, grants }, { ...base, grants: [{ ...grants[0]!, grants: [] }] })).changes).toBe(true);
    expect((await verification.diff("id", { ...olds, fingerprint: "drifted" }, base)).changes).toBe(true);
  });
});

describe("MigrationSet provider (pure parts)", () => {
  const m = (id: number, sql: string): MigrationInput => ({ id, name: `000${id}_m`, file: `migrations/fltr/000${id}_m.sql`, checksum: `${sql.length}`.padStart(64, "0"), inTransaction: true, sql });
  const inputs = (ms: MigrationInput[], resetGeneration = 1) => ({ connection: resetInputs().connection, role: "o", migrations: ms, resetGeneration });

  it("check refuses an edited applied migration, naming the file", async () => {
    const { failures } = await migrations.check(inputs([m(1, "a")]), inputs([m(1, "abc"), m(2, "x")]));
    expect(failures).toHaveLength(1);
    expect(failures[0]?.reason).toContain("migrations/fltr/0001_m.sql was edited after it was applied");
  });

  it("check allows edits when the reset generation changes (history starts again)", async () => {
    expect((await migrations.check(inputs([m(1, "a")]), inputs([m(1, "abc")], 2))).failures).toEqual([]);
  });

  it("diff reports pending migrations as changes, and nothing when all are applied", async () => {
    const olds = { ...inputs([m(1, "a")]), applied: [`0001_m@${m(1, "a").checksum.slice(0, 12)}`], head: "0001_m" };
    expect((await migrations.diff("id", olds, inputs([m(1, "a")]))).changes).toBe(false);
    expect((await migrations.diff("id", olds, inputs([m(1, "a"), m(2, "b")]))).changes).toBe(true);
    expect((await migrations.diff("id", { ...olds, applied: [] }, inputs([m(1, "a")]))).changes).toBe(true);
  });
});
