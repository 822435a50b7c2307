/**
 * golang-migrate's source folder: `<version>_<title>.up.sql` and `<version>_<title>.down.sql`
 * pairs, applied in numeric version order. Only the up files are imported. Its history
 * (`schema_migrations`) holds one row: the current version and a dirty flag.
 */
import * as path from "node:path";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, unwrapTransaction, type ImportResult, type ImportedMigration } from "./shared.js";

/** golang-migrate's own file-name pattern. */
const FILE = /^(\d+)_(.*)\.(up|down)\.(.+)$/;

/** Converts a golang-migrate folder, in version order. */
export async function importGolangMigrate(dir: string): Promise<ImportResult> {
  const notes: string[] = [];
  const ups = new Map<bigint, string>();
  const downs = new Set<bigint>();
  for (const e of await listDir(dir)) {
    if (!e.isFile) continue;
    const m = FILE.exec(e.name);
    if (!m) {
      notes.push(`ignored ${e.name}: not <version>_<title>.up.sql`);
      continue;
    }
    const version = BigInt(m[1] ?? "0");
    if (m[4] !== "sql") throw new ImportError(`${path.join(dir, e.name)}: only .sql migrations can be imported`, "convert the file to SQL, or remove it");
    if (m[3] === "down") {
      downs.add(version);
      continue;
    }
    const clash = ups.get(version);
    if (clash) throw new ImportError(`${path.join(dir, e.name)}: version ${version} is used twice (also ${clash})`, "give each migration a unique version, as golang-migrate requires");
    ups.set(version, e.name);
  }
  const orphans = [...downs].filter((v) => !ups.has(v));
  if (orphans.length > 0) {
    throw new ImportError(`${dir}: version(s) ${orphans.join(", ")} have a .down.sql but no .up.sql`, "restore the missing .up.sql file, or delete the lone .down.sql");
  }
  if (ups.size === 0) throw new ImportError(`${dir}: no golang-migrate migrations (<version>_<title>.up.sql)`, "pass the folder given to `migrate -path`");
  if (downs.size > 0) notes.push(`ignored ${downs.size} .down.sql file(s): pgstack only moves forward`);
  const migrations: ImportedMigration[] = [];
  for (const [version, base] of [...ups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const file = path.join(dir, base);
    // golang-migrate leaves transactions to the file; pgstack wraps each migration in one.
    const sql = unwrapTransaction(await readText(file), file);
    migrations.push({
      name: sanitizeName(FILE.exec(base)?.[2] ?? ""),
      source: base,
      sql,
      record: { version: String(version) },
      noTransaction: needsNoTransaction(parse(sql, file)),
    });
  }
  return { tool: "golang-migrate", migrations, notes };
}
