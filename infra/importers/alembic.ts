/**
 * The output of `alembic upgrade head --sql` (offline mode): one script where each revision
 * starts with `-- Running upgrade <down> -> <revision>`, wrapped in BEGIN/COMMIT (once, or per
 * revision with `transaction_per_migration`), plus alembic's bookkeeping of `alembic_version`.
 * Each revision becomes one pgstack migration; the bookkeeping and BEGIN/COMMIT are dropped.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import type { Statement } from "../lifecycle/sql.js";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, type ImportResult, type ImportedMigration } from "./shared.js";

/** alembic's step comment: `-- Running upgrade  -> abc` (first) or `-- Running upgrade abc -> def`. */
const STEP = /^-- Running (\S+) ?(.*?) -> (.*?)\s*$/gm;

/** Converts an `alembic upgrade … --sql` script: pass the file, or a folder holding exactly one `.sql` file. */
export async function importAlembicSql(input: string): Promise<ImportResult> {
  const file = await scriptFile(input);
  const text = await readText(file);
  const base = path.basename(file);
  const steps = [...text.matchAll(STEP)];
  if (steps.length === 0) {
    throw new ImportError(`${file}: no "-- Running upgrade a -> b" comments: not the output of \`alembic upgrade head --sql\``, "generate it with `alembic upgrade head --sql > upgrade.sql` and import that file");
  }
  const other = steps.find((s) => s[1] !== "upgrade");
  if (other) {
    const line = text.slice(0, other.index).split("\n").length;
    throw new ImportError(`${file}:${line}: "${other[0].trim()}": only upgrade steps can be imported`, "generate the script with `alembic upgrade head --sql` from an empty database (no downgrade or stamp)");
  }
  const preamble = kept(parse(text.slice(0, steps[0]?.index ?? 0), file));
  if (preamble.length > 0) {
    throw new ImportError(`${file}: SQL before the first "-- Running upgrade" comment: ${preamble[0]?.sql.split("\n")[0]}`, "this is not plain alembic output; move that SQL into a revision");
  }
  const notes = ["dropped alembic's bookkeeping (alembic_version) and its BEGIN/COMMIT: pgstack runs each migration in its own transaction"];
  const migrations: ImportedMigration[] = steps.map((step, i) => {
    const start = (step.index ?? 0) + step[0].length;
    const section = text.slice(start, steps[i + 1]?.index ?? text.length);
    const down = (step[2] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const revisions = (step[3] ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const revision = revisions[0] ?? "";
    if (revisions.length !== 1) throw new ImportError(`${file}: "${step[0].trim()}" does not name one revision`, "import the output of `alembic upgrade head --sql`, unchanged");
    // Padded with the lines before it, so a syntax error's line:column is the script's own.
    const before = text.slice(0, start).split("\n").length - 1;
    const statements = kept(parse("\n".repeat(before) + section, file));
    // A merge point or an empty revision yields "": convertFolder keeps it as a no-op.
    const sql = statements.map((s) => `${s.sql};`).join("\n\n");
    return {
      name: sanitizeName(revision),
      source: `${base}: upgrade ${down.join(",") || "(base)"} -> ${revision}`,
      sql,
      record: { revision, down: down.join(",") },
      noTransaction: needsNoTransaction(statements),
    };
  });
  return { tool: "alembic", migrations, notes };
}

/** The statements that are the revision's own: no BEGIN/COMMIT, nothing on `alembic_version`. */
function kept(statements: readonly Statement[]): Statement[] {
  return statements.filter((s) => s.kind !== "TransactionStmt" && !onAlembicVersion(s));
}

/** CREATE TABLE / INSERT / UPDATE / DELETE whose target is `alembic_version` (any schema). */
function onAlembicVersion(s: Statement): boolean {
  if (!["CreateStmt", "InsertStmt", "UpdateStmt", "DeleteStmt"].includes(s.kind)) return false;
  const relation = s.node["relation"] as { relname?: string } | undefined;
  return relation?.relname === "alembic_version";
}

async function scriptFile(input: string): Promise<string> {
  let isDir = false;
  try {
    isDir = (await fs.stat(input)).isDirectory();
  } catch {
    throw new ImportError(`${input} not found`, "pass the file written by `alembic upgrade head --sql > upgrade.sql`");
  }
  if (!isDir) return input;
  const sql = (await listDir(input)).filter((e) => e.isFile && e.name.endsWith(".sql"));
  if (sql.length !== 1) {
    throw new ImportError(`${input}: expected one .sql file (the output of \`alembic upgrade head --sql\`), found ${sql.length}`, "pass the script file itself");
  }
  return path.join(input, sql[0]?.name ?? "");
}
