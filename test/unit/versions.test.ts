/** Version parsing: timestamp versions, the limit of what the history holds, and the gap rule. */
import { beforeAll, describe, expect, it } from "vitest";
import { MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { MAX_VERSION } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { inline } from "../support/migrations.js";

beforeAll(loadSqlParser);

const sourceError = async (files: Record<string, string>) => {
  const err = await inline(files).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MigrationSourceError);
  return (err as Error).message;
};

describe("migration versions", () => {
  it("the limit is 2^53 - 1: every version is a JS number exactly, and fits the bigint history", () => {
    expect(MAX_VERSION).toBe(9007199254740991);
    expect(BigInt(MAX_VERSION) < 2n ** 63n).toBe(true);
  });

  it("timestamp versions load in order, exactly, without the gap rule", async () => {
    const ms = await inline({ "20240102090000_b.sql": "SELECT 2;", "20240101120000_a.sql": "SELECT 1;", "9007199254740991_last.sql": "SELECT 3;" });
    expect(ms.map((m) => [m.id, m.name])).toEqual([
      [20240101120000, "20240101120000_a"],
      [20240102090000, "20240102090000_b"],
      [9007199254740991, "9007199254740991_last"],
    ]);
  });

  it("sequential files followed by timestamp files load; a gap among the sequential ones is still refused", async () => {
    expect((await inline({ "0001_a.sql": "SELECT 1;", "0002_b.sql": "SELECT 1;", "20240101120000_c.sql": "SELECT 1;" })).map((m) => m.id)).toEqual([1, 2, 20240101120000]);
    expect(await sourceError({ "0001_a.sql": "SELECT 1;", "0003_b.sql": "SELECT 1;", "20240101120000_c.sql": "SELECT 1;" })).toContain(
      "mem/0003_b.sql:1:1: version 2 is missing: the migrations jump from 0001_a.sql to 0003_b.sql",
    );
  });

  it("one above the limit is refused by exact comparison (Number() would round it onto the limit)", async () => {
    expect(Number("9007199254740993")).toBe(9007199254740992);
    expect(await sourceError({ "0001_a.sql": "SELECT 1;", "9007199254740992_z.sql": "SELECT 1;" })).toBe(
      "mem/9007199254740992_z.sql:1:1: version 9007199254740992 is too large: pgstack records versions up to 9007199254740991 (2^53 − 1)\n" +
        "  → number migrations 0001, 0002, 0003, … or by timestamp (YYYYMMDDhhmmss, 14 digits)",
    );
  });
});
