/**
 * The one reader of migration files in the providers. The program sends the migrations' names,
 * files and checksums; the providers read the SQL they need (the pending migrations', the ones a
 * database lost the history of) from the project, where the program found them, and accept a
 * file only with the sha256 they were given.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { decodeUtf8, fromText, loadSqlParser, MigrationSourceError, sha256, type Migration } from "../lifecycle/index.js";
import { programRoot } from "./common.js";

/** A migration as the inputs name it: its SQL may be absent. */
export interface MigrationFile {
  name: string;
  /** Relative to the project (the provider's working directory). */
  file: string;
  /** sha256 of the file's bytes, hex. */
  checksum: string;
  sql?: string;
}

/** Why a migration's file is read, for {@link readMigrationSql}'s messages. */
type ReadReason = "applied again" | "pending";

/**
 * The SQL of a migration the inputs name without it, read from the project (the provider runs in
 * the project folder, where the program found it) and accepted only with the sha256 the inputs
 * give: the one recorded when it was applied, or the one the program read. This is the one
 * reader of migration files in the providers: the pending migrations' SQL in `check` (the
 * program sends names and checksums), and the applied ones' when the database lost their history.
 */
export async function readMigrationSql(m: MigrationFile, why: ReadReason, root: string = programRoot()): Promise<string> {
  const what = why === "pending" ? `${m.name} is pending` : `${m.name} must be applied again`;
  const since = why === "pending" ? "the program read it" : "it was applied";
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(path.resolve(root, m.file));
  } catch (err) {
    throw new MigrationSourceError(`${what}, but its file cannot be read: ${(err as Error).message}`, {
      location: { file: m.file, line: 1, column: 1 },
      hint: why === "pending" ? "run pulumi from the program's folder (where Pulumi.yaml is), with the file in place" : "restore the file as it was applied, or run `pulumi refresh` so the state matches the database",
      cause: err,
    });
  }
  const checksum = sha256(bytes);
  if (checksum !== m.checksum) {
    throw new MigrationSourceError(
      `${what}, but its file changed since ${since} (sha256 then ${m.checksum.slice(0, 12)}…, file now ${checksum.slice(0, 12)}…)`,
      { location: { file: m.file, line: 1, column: 1 }, hint: why === "pending" ? "run the preview again (the file changed during this one); nothing was applied" : "restore the file as it was applied; nothing was applied" },
    );
  }
  const sql = decodeUtf8(bytes, m.file);
  // As the program's loader keeps it (fromText drops a leading BOM).
  return sql.startsWith("\uFEFF") ? sql.slice(1) : sql;
}

/** A migration {@link readMigrationSql} reads to be applied again, as the apply needs it. */
export async function readRecorded(m: MigrationFile & { id: number }, root: string = programRoot()): Promise<Migration> {
  const sql = await readMigrationSql(m, "applied again", root);
  await loadSqlParser();
  return fromText({ id: m.id, name: m.name, file: m.file, sql, checksum: m.checksum });
}

/**
 * The migrations with the SQL of those `wanted` names filled in from their files, when they come
 * without it ({@link readMigrationSql}); the others as given. An empty `sql` counts as none (the
 * core's migrations carry `""` for SQL they were not given).
 */
export async function withSql<T extends MigrationFile>(ms: readonly T[], wanted: (m: T) => boolean = () => true): Promise<T[]> {
  return Promise.all(ms.map(async (m) => (!m.sql && wanted(m) ? { ...m, sql: await readMigrationSql(m, "pending") } : m)));
}
