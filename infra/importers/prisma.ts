/**
 * Prisma Migrate's folder (`prisma/migrations`): one `<timestamp>_name/migration.sql` per
 * migration, applied in folder-name order, and `migration_lock.toml` naming the provider.
 * Prisma's history (`_prisma_migrations`) records the folder name and the sha256 of migration.sql.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { sha256 } from "../lifecycle/source.js";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, unwrapTransaction, type ImportResult, type ImportedMigration } from "./shared.js";

/** Converts a Prisma Migrate folder, in folder-name order. */
export async function importPrisma(dir: string): Promise<ImportResult> {
  const entries = await listDir(dir);
  const notes: string[] = [];
  const lock = entries.find((e) => e.isFile && e.name === "migration_lock.toml");
  if (lock) {
    const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(await readText(path.join(dir, lock.name)))?.[1];
    if (provider && provider !== "postgresql") {
      throw new ImportError(`${path.join(dir, lock.name)}: provider is "${provider}", not "postgresql"`, "import only a PostgreSQL Prisma project's migrations");
    }
  } else {
    notes.push("no migration_lock.toml: the folder's provider could not be checked");
  }
  const folders = entries.filter((e) => e.isDir);
  if (folders.length === 0) {
    throw new ImportError(`${dir}: no migration folders (<timestamp>_name/migration.sql)`, "pass Prisma's migrations folder, usually prisma/migrations");
  }
  const migrations: ImportedMigration[] = [];
  for (const folder of folders) {
    const file = path.join(dir, folder.name, "migration.sql");
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(file);
    } catch {
      throw new ImportError(
        `${path.join(dir, folder.name)}: a Prisma migration folder without migration.sql`,
        "restore migration.sql from version control, or delete the folder if it is not a migration (Prisma would fail on it too)",
      );
    }
    const sql = unwrapTransaction(await readText(file), file);
    migrations.push({
      name: sanitizeName(folder.name.replace(/^\d+_/, "")),
      source: `${folder.name}/migration.sql`,
      sql,
      record: { migration: folder.name, checksum: sha256(bytes), ...otherLineEndings(bytes) },
      noTransaction: needsNoTransaction(parse(sql, file)),
    });
  }
  for (const e of entries) {
    if (e.isFile && e.name !== "migration_lock.toml") notes.push(`ignored ${e.name}: Prisma only runs <folder>/migration.sql`);
  }
  return { tool: "prisma", migrations, notes };
}

/**
 * Prisma also accepts the checksum of the script with the other line endings (a checkout on
 * Windows turns LF into CRLF), so both variants are recorded when they differ.
 */
function otherLineEndings(bytes: Buffer): { alt?: string } {
  const text = bytes.toString("utf8");
  const lf = text.replace(/\r\n/g, "\n");
  const crlf = lf.replace(/\n/g, "\r\n");
  const alt = [...new Set([sha256(lf), sha256(crlf)])].filter((c) => c !== sha256(bytes));
  return alt.length > 0 ? { alt: alt.join(",") } : {};
}
