/** Quoted identifiers: parsing dotted names, displaying them, and the config's expect entries. */
import { describe, expect, it } from "vitest";
import { ConfigError, expectationsOf, parseStackConfig } from "../../infra/config.js";
import { displayIdent, displayQualified, parseQualifiedName } from "../../infra/lifecycle/identifiers.js";
import { parseForeignKeyRef, parseTableRef, verify } from "../../infra/lifecycle/verify.js";
import type { Inventory, TableInfo } from "../../infra/lifecycle/introspect.js";
import { emptySnapshot } from "../../infra/lifecycle/schema/model.js";

function config(tables: string[], foreignKeys: string[] = []) {
  return {
    server: { embedded: true },
    databases: [{ name: "bazaar", owner: "bazaar_owner", roles: [{ name: "bazaar_owner" }], schemas: ["public", "media"], expect: { tables, foreignKeys } }],
  };
}

function issuesOf(raw: unknown): string[] {
  try {
    parseStackConfig(raw, "dev");
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error("expected the config to be rejected");
}

describe("parseQualifiedName", () => {
  it.each([
    ["users", ["users"]],
    ["public.users", ["public", "users"]],
    ['"bazaar-vid_exports"', ["bazaar-vid_exports"]],
    ['public."bazaar-vid_exports"', ["public", "bazaar-vid_exports"]],
    ['"My Schema"."Users".id', ["My Schema", "Users", "id"]],
    ['"a.b"."say ""hi"""', ["a.b", 'say "hi"']],
  ])("reads %s", (text, parts) => {
    expect(parseQualifiedName(text)).toEqual({ ok: true, parts });
  });

  it.each([
    ["bazaar-vid_exports", `"bazaar-vid_exports" needs double quotes in SQL (it has a hyphen at character 7); write '"bazaar-vid_exports"'`],
    ["public.bazaar-vid_exports", `write 'public."bazaar-vid_exports"'`],
    ["Users", `"Users" has capitals; Postgres folds unquoted names to lowercase, so write "users" for the table created as Users, or '"Users"' for one created with quotes`],
    ['"unterminated', "unterminated double quote at character 1"],
    ['""', "empty quoted name"],
    ["public.", "ends with a dot"],
    [".users", "empty name part at character 1"],
    ['"a"b', 'has "b" after a quoted name at character 4'],
    ["", "must not be empty"],
    [`"${"x".repeat(64)}"`, "longer than Postgres' 63 bytes"],
  ])("refuses %s, saying what to write", (text, message) => {
    const p = parseQualifiedName(text);
    expect(p.ok).toBe(false);
    expect(p.ok ? "" : p.problem).toContain(message);
  });

  it("reads back whatever displayQualified writes (names with quotes, dots, capitals, spaces, hyphens)", () => {
    const alphabet = ['"', ".", "-", " ", "A", "z", "_", "1", "$", "é", "->"];
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 500; i++) {
      const parts = Array.from({ length: 1 + rand(3) }, () => Array.from({ length: 1 + rand(6) }, () => alphabet[rand(alphabet.length)]).join(""));
      expect(parseQualifiedName(displayQualified(...parts))).toEqual({ ok: true, parts });
    }
  });

  it("quotes only the names that need it", () => {
    expect(displayIdent("users")).toBe("users");
    expect(displayIdent("bazaar-vid_exports")).toBe('"bazaar-vid_exports"');
    expect(displayIdent("Users")).toBe('"Users"');
    expect(displayQualified("public", 'say "hi"')).toBe('public."say ""hi"""');
  });
});

describe("expect.tables and expect.foreignKeys with quoted names", () => {
  it("accepts quoted names and parses them into schema, table and column", () => {
    const cfg = parseStackConfig(
      config(['"bazaar-vid_exports"', 'media."Clips"', "users"], ['"bazaar-vid_exports".user_id -> users.id', 'media."Clips"."Owner Id" -> public."bazaar-vid_exports".id']),
      "dev",
    );
    expect(expectationsOf(cfg.databases[0]!)).toEqual({
      tables: [
        { schema: "public", table: "bazaar-vid_exports" },
        { schema: "media", table: "Clips" },
        { schema: "public", table: "users" },
      ],
      foreignKeys: [
        { from: { schema: "public", table: "bazaar-vid_exports", column: "user_id" }, to: { schema: "public", table: "users", column: "id" } },
        { from: { schema: "media", table: "Clips", column: "Owner Id" }, to: { schema: "public", table: "bazaar-vid_exports", column: "id" } },
      ],
    });
  });

  it.each([
    [["bazaar-vid_exports"], [], `pgstack:databases[0].expect.tables[0]: "bazaar-vid_exports" needs double quotes in SQL (it has a hyphen at character 7); write '"bazaar-vid_exports"'`],
    [["a.b.c"], [], `pgstack:databases[0].expect.tables[0]: "a.b.c" has 3 dotted parts; write table or schema.table`],
    [['other."X"'], [], `pgstack:databases[0].expect.tables[0]: schema "other" of "other."X"" is not in databases[0].schemas`],
    [[], ["bazaar-vid_exports.user_id -> users.id"], `pgstack:databases[0].expect.foreignKeys[0]: in "bazaar-vid_exports.user_id -> users.id", "bazaar-vid_exports.user_id": "bazaar-vid_exports" needs double quotes in SQL (it has a hyphen at character 7); write '"bazaar-vid_exports".user_id'`],
    [[], ["exports.user_id => users.id"], `pgstack:databases[0].expect.foreignKeys[0]: "exports.user_id => users.id" has no ->; write "table.column -> table.column"`],
    [[], ["exports -> users.id"], `pgstack:databases[0].expect.foreignKeys[0]: in "exports -> users.id", "exports" is not table.column`],
  ])("refuses %j %j with its config path and what to write", (tables, fks, message) => {
    expect(issuesOf(config(tables, fks)).join("\n")).toContain(message);
  });

  it("parses an arrow inside a quoted name as part of the name", () => {
    const p = parseForeignKeyRef('"a->b".x -> y.id');
    expect(p).toEqual({ ok: true, value: { from: { schema: "public", table: "a->b", column: "x" }, to: { schema: "public", table: "y", column: "id" } } });
    expect(parseTableRef(" users ")).toEqual({ ok: true, value: { schema: "public", table: "users" } });
  });
});

describe("verify with quoted names", () => {
  const table = (schema: string, name: string, extra: Partial<TableInfo> = {}): TableInfo => ({
    schema, name, owner: "o", estimatedRows: 0, columns: [{ name: "id", type: "bigint", nullable: false, default: null }],
    primaryKey: ["id"], foreignKeys: [], constraints: [], grants: [], indexes: [], ...extra,
  });
  it("finds quoted tables and foreign keys, and names missing ones quoted", () => {
    const inv: Inventory = {
      fingerprint: "x",
      snapshot: emptySnapshot(),
      tables: [
        table("public", "users"),
        table("public", "bazaar-vid_exports", {
          columns: [{ name: "user_id", type: "bigint", nullable: true, default: null }],
          foreignKeys: [{ name: "fk", columns: ["user_id"], references: { schema: "public", table: "users", columns: ["id"] }, onDelete: "no action" }],
        }),
      ],
    };
    const ok = expectationsOf(parseStackConfig(config(['"bazaar-vid_exports"'], ['"bazaar-vid_exports".user_id -> users.id']), "dev").databases[0]!);
    expect(verify(inv, ok)).toEqual([]);
    const missing = expectationsOf(parseStackConfig(config(['"Bazaar Exports"', 'media."Clips"'], ['users.id -> "bazaar-vid_exports".user_id']), "dev").databases[0]!);
    expect(verify(inv, missing)).toEqual([
      'table "Bazaar Exports" is missing',
      'table media."Clips" is missing',
      'foreign key users.id -> "bazaar-vid_exports".user_id is missing (users has no foreign keys)',
    ]);
  });
});
