/**
 * Flyway's locations: `V<version>__<description>.sql` versioned migrations (versions such as
 * `1`, `1.1`, `1_1`, `2`, compared numerically), `R__<description>.sql` repeatables, `U…` undo
 * scripts, callbacks, and optional `<script>.conf` files (`executeInTransaction=false`).
 * Flyway's history (`flyway_schema_history`) records the version and the script's path.
 */
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { ImportError, cmp, listDir, needsNoTransaction, parse, readText, relative, sanitizeName, unwrapTransaction, type ImportResult, type ImportedMigration } from "./shared.js";

const VERSIONED = /^V(\d+(?:[._]\d+)*)__(.+)\.sql$/;
const REPEATABLE = /^R__(.+)\.sql$/;
const UNDO = /^U(\d+(?:[._]\d+)*)__(.+)\.sql$/;
/** Flyway's callback scripts (beforeMigrate.sql, afterEachMigrate__x.sql, …). */
const CALLBACK = /^(before|after)[A-Za-z]*(__.*)?\.sql$/;
/** Flyway's default placeholder syntax, which it replaces before running a script. */
const PLACEHOLDER = /\$\{([A-Za-z0-9_.:]+)\}/;

/** A Flyway version normalized for comparison: `1_01.0` → `1.1`. */
export function normalizeFlywayVersion(v: string): string {
  const parts = v.split(/[._]/).map((p) => String(BigInt(p)));
  while (parts.length > 1 && parts[parts.length - 1] === "0") parts.pop();
  return parts.join(".");
}

/** Compares two normalized Flyway versions segment by segment. */
export function compareFlywayVersions(a: string, b: string): number {
  const pa = a.split(".").map(BigInt);
  const pb = b.split(".").map(BigInt);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0n;
    const y = pb[i] ?? 0n;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Flyway's checksum of a script: CRC-32 over its lines' UTF-8 bytes with the line breaks left
 * out (Flyway reads line by line, so LF and CRLF give the same value) and the BOM dropped,
 * stored as a signed 32-bit integer.
 */
export function flywayChecksum(text: string): number {
  return crc32(Buffer.from(text.replace(/^\uFEFF/, "").replace(/[\r\n]/g, ""), "utf8")) | 0;
}

/** Converts a Flyway location folder (searched recursively, as Flyway does). */
export async function importFlyway(dir: string): Promise<ImportResult> {
  const files = await walk(dir);
  const notes: string[] = [];
  const versioned: { version: string; m: ImportedMigration }[] = [];
  const repeatable: { description: string; m: ImportedMigration }[] = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const rel = relative(dir, file);
    const base = path.basename(file);
    if (!base.endsWith(".sql")) {
      if (!base.endsWith(".sql.conf")) notes.push(`ignored ${rel}: not an SQL migration`);
      continue;
    }
    const v = VERSIONED.exec(base);
    const r = REPEATABLE.exec(base);
    if (UNDO.test(base)) {
      notes.push(`ignored ${rel}: undo migrations have no pgstack counterpart (pgstack only moves forward; write a new migration to undo)`);
      continue;
    }
    if (CALLBACK.test(base)) {
      notes.push(`ignored ${rel}: a Flyway callback, not a migration; run it yourself if it is still needed`);
      continue;
    }
    if (!v && !r) {
      throw new ImportError(`${file}: not a Flyway migration name (V<version>__<description>.sql or R__<description>.sql)`, "rename or remove the file; Flyway itself would reject or skip it");
    }
    const m = await convert(file, rel, files.includes(`${file}.conf`) ? await readText(`${file}.conf`) : undefined);
    if (v) {
      const version = normalizeFlywayVersion(v[1] ?? "");
      const clash = seen.get(version);
      if (clash) throw new ImportError(`${file}: version ${version} is used twice (also ${clash})`, "give each versioned migration a unique version, as Flyway requires");
      seen.set(version, rel);
      m.name = sanitizeName(v[2] ?? "");
      m.record = { version, script: rel, checksum: m.record["checksum"] ?? "" };
      versioned.push({ version, m });
    } else {
      const description = (r?.[1] ?? "").replace(/_/g, " ");
      m.name = sanitizeName(r?.[1] ?? "");
      m.record = { repeatable: description, script: rel, checksum: m.record["checksum"] ?? "" };
      repeatable.push({ description, m });
    }
  }
  if (versioned.length === 0 && repeatable.length === 0) {
    throw new ImportError(`${dir}: no Flyway migrations (V<version>__<description>.sql)`, "pass a Flyway location folder, usually src/main/resources/db/migration or sql/");
  }
  versioned.sort((a, b) => compareFlywayVersions(a.version, b.version));
  repeatable.sort((a, b) => cmp(a.description, b.description));
  if (repeatable.length > 0) {
    notes.push(
      `repeatable migration(s) ${repeatable.map((x) => x.m.source).join(", ")} placed after the versioned ones, as Flyway runs them; ` +
        "pgstack runs each once: to change one later, add a new migration (e.g. CREATE OR REPLACE VIEW)",
    );
  }
  return { tool: "flyway", migrations: [...versioned.map((x) => x.m), ...repeatable.map((x) => x.m)], notes };
}

async function convert(file: string, rel: string, conf: string | undefined): Promise<ImportedMigration> {
  const text = await readText(file);
  const placeholder = PLACEHOLDER.exec(text);
  if (placeholder) {
    const line = text.slice(0, placeholder.index).split("\n").length;
    throw new ImportError(
      `${file}:${line}: Flyway placeholder \${${placeholder[1]}}: Flyway substitutes it at run time, pgstack runs SQL as written`,
      "replace the placeholder with its value in the file (or in a copy of the folder) and import again",
    );
  }
  const sql = unwrapTransaction(text, file);
  // Flyway's script config: `executeInTransaction=false` runs the script outside a transaction.
  const outside = conf !== undefined && /^\s*executeInTransaction\s*=\s*false\s*$/m.test(conf);
  const checksum = String(flywayChecksum(text));
  return { name: "", source: rel, sql, record: { checksum }, noTransaction: outside || needsNoTransaction(parse(sql, file)) };
}

/** Every file below `dir`, sorted. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await listDir(dir)) {
    const full = path.join(dir, e.name);
    if (e.isDir) out.push(...(await walk(full)));
    else if (e.isFile) out.push(full);
  }
  return out;
}
