/** The goose importer on a folder in goose's own layout (`test/fixtures/importers/goose`). */
import * as fs from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { convertFolder, writeMigrations } from "../../infra/importers/index.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";
import { body, copyFixture, FIX, names, tempDir, text } from "../support/importer-fixtures.js";

const tmp = tempDir("pgstack-import-goose-");
beforeAll(loadSqlParser);
const copy = (tool: string) => copyFixture(tmp, tool);

describe("goose", () => {
  it("keeps the Up section in version order (numbered, then timestamped), drops the annotations, honours NO TRANSACTION", async () => {
    const c = await convertFolder("goose", `${FIX}/goose`);
    expect(c.tool).toBe("goose");
    expect(names(c)).toEqual(["0001_create_authors.sql", "0002_create_books.sql", "0003_touch_books.sql", "0004_index_books_title.sql", "0005_add_books_isbn.sql"]);
    expect(text(c, "0001_create_authors.sql")).toBe(
      "-- imported from goose: 00001_create_authors.sql\n-- import record: version=1\n\n" + "CREATE TABLE authors (\n  id bigserial PRIMARY KEY,\n  name text NOT NULL\n);\n",
    );
    // StatementBegin/End only tell goose where a statement with semicolons ends; the function stays whole.
    expect(body(c, "0003_touch_books.sql")).toBe(
      "\nCREATE FUNCTION touch_updated_at() RETURNS trigger\nLANGUAGE plpgsql AS $$\nBEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$;\n\n" +
        "CREATE TRIGGER books_touch BEFORE UPDATE ON books FOR EACH ROW EXECUTE FUNCTION touch_updated_at();\n",
    );
    expect(text(c, "0004_index_books_title.sql")?.split("\n").slice(0, 3)).toEqual([
      "-- imported from goose: 00004_index_books_title.sql",
      "-- import record: version=4",
      "-- pgstack:no-transaction",
    ]);
    expect(text(c, "0005_add_books_isbn.sql")).toContain("-- import record: version=20240601120000\n");
    for (const f of c.files) expect(f.text).not.toMatch(/\+goose|DROP TABLE|DROP INDEX|DROP COLUMN/);
    expect(c.notes).toEqual([]);
    // The files load with pgstack's own loader (a syntax check of every statement).
    const out = path.join(fs.mkdtempSync(path.join(tmp, "goose-out-")), "books");
    await writeMigrations(out, c.files);
    expect((await loadMigrations(out)).map((m) => [m.name, m.inTransaction])).toEqual([
      ["0001_create_authors", true],
      ["0002_create_books", true],
      ["0003_touch_books", true],
      ["0004_index_books_title", false],
      ["0005_add_books_isbn", true],
    ]);
  });

  it("notes the files goose would skip; refuses a Go migration, a duplicate version, SQL before Up, ENVSUB ON and a file without Up", async () => {
    const skipped = copy("goose");
    fs.writeFileSync(path.join(skipped, "helpers.go"), "package migrations\n");
    fs.writeFileSync(path.join(skipped, "0_zero.sql"), "-- +goose Up\nSELECT 1;\n");
    expect((await convertFolder("goose", skipped)).notes).toEqual([
      "ignored 0_zero.sql: not <version>_<name>.sql with a version of 1 or more, so goose does not run it either",
      "ignored helpers.go: not <version>_<name>.sql with a version of 1 or more, so goose does not run it either",
    ]);
    const cases: [string, string, string][] = [
      ["00005_seed.go", "package migrations\n", "00005_seed.go: a Go migration; pgstack imports SQL migrations only"],
      ["01_again.sql", "-- +goose Up\nSELECT 1;\n", "01_again.sql: version 1 is used twice (also 00001_create_authors.sql)"],
      ["00005_early.sql", "-- a comment is fine\nCREATE TABLE early (id int);\n-- +goose Up\nSELECT 1;\n", "00005_early.sql:2: SQL before `-- +goose Up`"],
      ["00005_env.sql", "-- +goose ENVSUB ON\n-- +goose Up\nCREATE ROLE ${APP_ROLE};\n", "00005_env.sql:1: `-- +goose ENVSUB ON` makes goose replace ${VARIABLES}"],
      ["00005_plain.sql", "CREATE TABLE plain (id int);\n", "00005_plain.sql:1: SQL before `-- +goose Up`"],
      ["00005_noup.sql", "-- just a comment\n", "00005_noup.sql: no `-- +goose Up` section"],
      ["00005_two.sql", "-- +goose Up\nSELECT 1;\n-- +goose up\nSELECT 2;\n", "00005_two.sql:3: a second `-- +goose Up`"],
      ["00005_odd.sql", "-- +goose Up\n-- +goose Sideways\nSELECT 1;\n", '00005_odd.sql:2: unknown goose annotation "Sideways"'],
    ];
    for (const [file, content, message] of cases) {
      const dir = copy("goose");
      fs.writeFileSync(path.join(dir, file), content);
      await expect(convertFolder("goose", dir), file).rejects.toThrow(`${path.join(dir, message.split(":")[0]!)}${message.slice(message.indexOf(":"))}`);
    }
  });
});
