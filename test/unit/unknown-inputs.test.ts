/**
 * The preview of a program that creates its server in the same plan: the server's address is
 * unknown, and the providers' checks must neither connect nor fail.
 */
import { describe, expect, it } from "vitest";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { hasUnknown, readOrGone, UNKNOWN_INPUT } from "../../infra/providers/common.js";
import { guard, migrations, safety } from "../../infra/providers/kinds.js";
import { PROFILES } from "../../infra/lifecycle/safety/index.js";

// A connection to nowhere: any attempt to connect would fail the test (port 1 refuses).
const unknownHost = { host: UNKNOWN_INPUT, port: 1, user: "admin", password: "pw", database: "shop" };

describe("inputs not known yet (the server is created by the same program)", () => {
  it("UNKNOWN_INPUT is the Pulumi SDK's own marker, found anywhere inside a value", () => {
    expect(UNKNOWN_INPUT).toBe(unknownValue);
    expect(hasUnknown(unknownValue)).toBe(true);
    expect(hasUnknown({ a: [{ b: unknownValue }] })).toBe(true);
    expect(hasUnknown({ host: "127.0.0.1", port: 5432, list: ["x"] })).toBe(false);
  });

  it("readOrGone treats an unknown connection as a database that does not exist yet, without connecting", async () => {
    let ran = false;
    expect(await readOrGone(unknownHost, async () => (ran = true))).toBeUndefined();
    expect(ran).toBe(false);
  });

  it("the guard, the safety check and the MigrationSet's check pass without connecting", async () => {
    const objects = [{ kind: "role" as const, name: "shop_owner", configPath: "p", type: "t", resourceName: "r" }];
    for (const connection of [unknownHost, unknownValue]) {
      const g = await guard.check(undefined, { connection, stack: "dev", objects } as never);
      expect(g.failures).toEqual([]);
      const s = await safety.check(undefined, {
        connection,
        role: "shop_owner",
        migrations: [{ id: 1, name: "0001_init", file: "migrations/shop/0001_init.sql", checksum: "a".repeat(64), inTransaction: true, sql: "CREATE TABLE t (id int);" }],
        policy: PROFILES.prod,
        configPath: "pgstack:safety",
        resetGeneration: 1,
        schemas: ["public"],
        databaseConfigPath: "databases.shop",
      } as never);
      expect(s.failures).toEqual([]);
      expect(s.inputs.migrations).toEqual([`0001_init@${"a".repeat(12)}`]);
      const m = await migrations.check(undefined, {
        connection,
        role: "shop_owner",
        migrations: [{ id: 1, name: "0001_init", file: "migrations/shop/0001_init.sql", checksum: "a".repeat(64), inTransaction: true, sql: "CREATE TABLE t (id int);" }],
        resetGeneration: 1,
        schemas: ["public"],
        configPath: "databases.shop",
      } as never);
      expect(m.failures).toEqual([]);
    }
  });
});
