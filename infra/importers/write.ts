/**
 * Writing an import: the converted files are checked with pgstack's own source loader (names,
 * numbering, directives, the real Postgres parser) before anything is written, then written to
 * a temporary folder next to the target and renamed into place, so a failure leaves nothing
 * half-written.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { MigrationSourceError, errorMessage } from "../lifecycle/errors.js";
import { loadMigrations, type Migration, type MigrationFileReader } from "../lifecycle/source.js";
import { loadSqlParser } from "../lifecycle/sql.js";
import { ImportError } from "./shared.js";

/** One pgstack file to write. */
export interface ConvertedFile {
  /** `0003_add_teams.sql`. */
  file: string;
  /** Where it came from, relative to the imported folder. */
  source: string;
  /** The file's full text (provenance comment included). */
  text: string;
  noTransaction: boolean;
}

/** Options for {@link writeMigrations}. */
export interface WriteOptions {
  /** Replace a target folder that already holds files. */
  force?: boolean;
  /** Check everything, write nothing. */
  dryRun?: boolean;
}

/** What {@link writeMigrations} did. */
export interface WriteResult {
  /** The migrations as pgstack loads them (from the written folder, or from memory on a dry run). */
  migrations: Migration[];
  /** Files the target held before and that were replaced (`--force`). */
  replaced: number;
  written: boolean;
}

/** Validates `files` as pgstack migrations in `outDir`, then (unless `dryRun`) writes them atomically. */
export async function writeMigrations(outDir: string, files: readonly ConvertedFile[], options: WriteOptions = {}): Promise<WriteResult> {
  await loadSqlParser();
  const existing = await existingEntries(outDir);
  if (existing.length > 0 && !options.force) {
    throw new ImportError(
      `${outDir} already holds ${existing.length} file(s) (${existing.slice(0, 3).join(", ")}${existing.length > 3 ? ", …" : ""}); nothing was written`,
      "import into an empty or new folder (--out, --db), or pass --force to replace the folder's contents",
    );
  }
  const migrations = await validate(outDir, files);
  if (options.dryRun) return { migrations, replaced: existing.length, written: false };

  const parent = path.dirname(path.resolve(outDir));
  await fs.mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const temp = path.join(parent, `.${path.basename(outDir)}.import-${tag}`);
  const old = path.join(parent, `.${path.basename(outDir)}.replaced-${tag}`);
  try {
    await fs.mkdir(temp);
    for (const f of files) await fs.writeFile(path.join(temp, f.file), f.text, { flag: "wx" });
    // Hidden files (.gitkeep) are not migrations; they move over with the folder.
    for (const hidden of await hiddenEntries(outDir)) await fs.cp(path.join(outDir, hidden), path.join(temp, hidden), { recursive: true });
    // Read back from disk: what pgstack will load is what was checked.
    const written = await loadMigrations(temp);
    if (written.length !== files.length) throw new Error(`internal: wrote ${files.length} files, loaded ${written.length}`);
    if (await exists(outDir)) await fs.rename(outDir, old);
    await fs.rename(temp, outDir);
  } catch (err) {
    await fs.rm(temp, { recursive: true, force: true });
    if (await exists(old)) await fs.rename(old, outDir).catch(() => undefined);
    if (err instanceof ImportError) throw err;
    throw new ImportError(`could not write ${outDir}: ${errorMessage(err)}`, "nothing was written; fix the cause and import again", err);
  }
  await fs.rm(old, { recursive: true, force: true });
  return { migrations: await loadMigrations(outDir), replaced: existing.length, written: true };
}

/** Loads the files as pgstack would, from memory; a refusal names the tool's source file. */
async function validate(outDir: string, files: readonly ConvertedFile[]): Promise<Migration[]> {
  const byName = new Map(files.map((f) => [f.file, f]));
  const reader: MigrationFileReader = {
    listSqlFiles: async () => [...byName.keys()],
    read: async (file) => Buffer.from(byName.get(path.basename(file))?.text ?? "", "utf8"),
  };
  try {
    return await loadMigrations(outDir, reader);
  } catch (err) {
    if (!(err instanceof MigrationSourceError)) throw err;
    const sources = files.filter((f) => err.message.includes(f.file)).map((f) => `${f.file} comes from ${f.source}`);
    throw new ImportError(
      `the converted migrations would be refused by pgstack; nothing was written:\n  ${err.message.replace(/\n/g, "\n  ")}` +
        (sources.length > 0 ? `\n  (${sources.join("; ")}; its first lines are the provenance comment)` : ""),
      "fix the tool's migration file named above and import again",
      err,
    );
  }
}

/** Entry names in `dir`, hidden ones (.gitkeep) left out; empty when it does not exist. */
async function existingEntries(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => !e.startsWith("."));
}

async function hiddenEntries(dir: string): Promise<string[]> {
  return (await entries(dir)).filter((e) => e.startsWith("."));
}

async function entries(dir: string): Promise<string[]> {
  try {
    const stat = await fs.stat(dir);
    if (!stat.isDirectory()) throw new ImportError(`${dir} exists and is not a folder`, "choose another --out or --db");
    return (await fs.readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}
