/**
 * dbmate's folder (`db/migrations`): `<version>_<name>.sql` files, each with a
 * `-- migrate:up` section and usually a `-- migrate:down` one; `-- migrate:up transaction:false`
 * runs the up section outside a transaction. Its history (`schema_migrations`) holds one row
 * per applied version.
 */
import * as path from "node:path";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, unwrapTransaction, type ImportResult, type ImportedMigration } from "./shared.js";

const FILE = /^(\d+)_(.*)\.sql$/;
/** dbmate's section markers, with options after them (`transaction:false`). */
const MARKER = /^--\s*migrate:(up|down)\b(.*)$/gm;

/** Converts a dbmate migrations folder, in version order (dbmate sorts the file names). */
export async function importDbmate(dir: string): Promise<ImportResult> {
  const notes: string[] = [];
  const migrations: ImportedMigration[] = [];
  const seen = new Map<string, string>();
  for (const e of await listDir(dir)) {
    if (!e.isFile) continue;
    const m = FILE.exec(e.name);
    if (!m) {
      notes.push(`ignored ${e.name}: not <version>_<name>.sql`);
      continue;
    }
    const version = m[1] ?? "";
    const clash = seen.get(version);
    if (clash) throw new ImportError(`${path.join(dir, e.name)}: version ${version} is used twice (also ${clash})`, "give each migration a unique version, as dbmate requires");
    seen.set(version, e.name);
    const file = path.join(dir, e.name);
    const { sql, options } = upSection(await readText(file), file);
    const unknown = Object.keys(options).filter((k) => k !== "transaction");
    if (unknown.length > 0) notes.push(`${e.name}: ignored dbmate option(s) ${unknown.join(", ")}`);
    const body = unwrapTransaction(sql, file);
    migrations.push({
      name: sanitizeName(m[2] ?? ""),
      source: e.name,
      sql: body,
      record: { version },
      noTransaction: options["transaction"] === "false" || needsNoTransaction(parse(body, file)),
    });
  }
  if (migrations.length === 0) throw new ImportError(`${dir}: no dbmate migrations (<version>_<name>.sql)`, "pass dbmate's migrations folder, usually db/migrations");
  return { tool: "dbmate", migrations, notes };
}

/** The `-- migrate:up` section and its options; anything outside both sections is refused, as dbmate does. */
function upSection(text: string, file: string): { sql: string; options: Record<string, string> } {
  const markers = [...text.matchAll(MARKER)];
  const lineOf = (i: number) => text.slice(0, i).split("\n").length;
  const ups = markers.filter((m) => m[1] === "up");
  if (ups.length !== 1) {
    throw new ImportError(
      `${file}: ${ups.length === 0 ? "no `-- migrate:up` section" : `${ups.length} \`-- migrate:up\` sections (lines ${ups.map((u) => lineOf(u.index ?? 0)).join(", ")})`}`,
      "a dbmate migration has exactly one `-- migrate:up` section (and optionally one `-- migrate:down`)",
    );
  }
  const up = ups[0]!;
  const before = text.slice(0, markers[0]?.index ?? 0);
  if (parse(stripComments(before), file).length > 0) {
    throw new ImportError(`${file}:1: SQL before the first \`-- migrate:\` marker`, "move it into the `-- migrate:up` section; dbmate refuses such files too");
  }
  const start = (up.index ?? 0) + up[0].length;
  const next = markers.find((m) => (m.index ?? 0) > (up.index ?? 0));
  const options: Record<string, string> = {};
  for (const token of (up[2] ?? "").trim().split(/\s+/).filter(Boolean)) {
    const [k = "", v = ""] = token.split(":");
    options[k] = v;
  }
  // Padded with the lines before it, so errors in the section point at the file's own lines.
  const padding = "\n".repeat(text.slice(0, start).split("\n").length - 1);
  return { sql: padding + text.slice(start, next?.index ?? text.length), options };
}

/** Comments only, so an all-comment preamble parses as nothing. */
function stripComments(sql: string): string {
  return sql.replace(/--[^\n]*/g, "");
}
