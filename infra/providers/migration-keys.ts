/**
 * How the program and the MigrationSet name migrations without their SQL: the program's list
 * ({@link ListedMigration}) and the history's keys ({@link appliedKey}). Its own module, light on
 * imports, because the program uses it too: the providers' modules load only in the provider.
 */
import * as path from "node:path";
import { isRepeatableName, REPEATABLE_ID } from "../lifecycle/source.js";

/** A migration as a resource input: everything preview shows. `sql` is absent for applied ones. */
export interface MigrationInput {
  id: number;
  name: string;
  file: string;
  checksum: string;
  inTransaction: boolean;
  sql?: string;
}

/**
 * A migration as the program lists it: `<file>@<sha256>`, followed by {@link NO_TRANSACTION_MARK}
 * for a file marked `-- pgstack:no-transaction`, where the providers can read the file; the whole
 * {@link MigrationInput} (with its SQL) where they cannot. One string rather than an object per
 * migration: the engine carries each object as a protobuf `Struct` of five values, to the engine and
 * then to `check`, which cost a no-op preview of a long history more than anything the providers do.
 */
export type ListedMigration = MigrationInput | string;

/** What follows the checksum of a {@link ListedMigration} that runs outside a transaction. */
export const NO_TRANSACTION_MARK = " no-transaction";

/** The string the program lists a migration as, when the providers read its file ({@link ListedMigration}). */
export function listedMigration(m: { file: string; checksum: string; inTransaction: boolean }): string {
  return `${m.file}@${m.checksum}${m.inTransaction ? "" : NO_TRANSACTION_MARK}`;
}

/** The migration a {@link ListedMigration} names (without SQL, for a string). */
export function fromListed(entry: ListedMigration): MigrationInput {
  if (typeof entry !== "string") return entry;
  const noTransaction = entry.endsWith(NO_TRANSACTION_MARK);
  const m = fromAppliedKey(noTransaction ? entry.slice(0, -NO_TRANSACTION_MARK.length) : entry, undefined);
  return { ...m, inTransaction: !noTransaction };
}

/** `0003_y@<sha256>` (in `dir`) or `migrations/x/0003_y.sql@<sha256>` → the migration it names, without SQL. */
export function fromAppliedKey(key: string, dir: string | undefined): MigrationInput {
  const at = key.lastIndexOf("@");
  const left = key.slice(0, at);
  const file = left.includes("/") || dir === undefined ? left : `${dir}/${left}.sql`;
  const name = path.posix.basename(file).replace(/\.sql$/, "");
  const id = isRepeatableName(name) ? REPEATABLE_ID : Number(/^\d+/.exec(name)?.[0] ?? Number.NaN);
  return { id, name, file, checksum: key.slice(at + 1), inTransaction: true };
}

/** The key a migration is recorded under in a MigrationSet's `appliedChecksums` (relative to `dir`, the files' common folder). */
export function appliedKey(m: { name: string; file: string; checksum: string }, dir: string | undefined): string {
  return dir !== undefined && m.file === `${dir}/${m.name}.sql` ? `${m.name}@${m.checksum}` : `${m.file}@${m.checksum}`;
}
