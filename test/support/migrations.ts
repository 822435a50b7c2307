/** Inline migrations for tests: the source takes an injected reader, so no files are needed. */
import { expect } from "vitest";
import { MigrationSourceError } from "../../infra/lifecycle/errors.js";
import { loadMigrations, type Migration, type MigrationFileReader } from "../../infra/lifecycle/source.js";
import { loadSqlParser } from "../../infra/lifecycle/sql.js";

/** A reader over an in-memory folder: `{ "0001_a.sql": "CREATE TABLE …" }`. */
export function memoryReader(files: Record<string, string>): MigrationFileReader {
  return {
    listSqlFiles: async () => Object.keys(files),
    read: async (file) => {
      const base = file.split("/").pop() ?? file;
      const text = files[base];
      if (text === undefined) throw new Error(`no such file ${file}`);
      return Buffer.from(text, "utf8");
    },
  };
}

/** Loads inline migrations as if they were `mem/<name>.sql`. */
export async function inline(files: Record<string, string>): Promise<Migration[]> {
  await loadSqlParser();
  return loadMigrations("mem", memoryReader(files));
}

/** The {@link MigrationSourceError} loading inline migrations throws (asserted to be one). */
export async function sourceError(files: Record<string, string>): Promise<MigrationSourceError> {
  const err = await inline(files).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(MigrationSourceError);
  return err as MigrationSourceError;
}
