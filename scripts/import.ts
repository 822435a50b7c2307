/**
 * `npm run import -- --from <tool> <dir> --db <name> [--out migrations] [--dry-run] [--force]`:
 * converts another tool's migrations into `migrations/<db>/NNNN_name.sql`, checks them with
 * pgstack's own loader and writes them atomically. Prints what became what.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { SOURCES, convertFolder, isSourceFormat, writeMigrations } from "../infra/importers/index.js";
import { toPgstackError, UsageError } from "../infra/lifecycle/errors.js";
import { identifierProblem } from "../infra/lifecycle/identifiers.js";
import { loadSqlParser, splitStatements } from "../infra/lifecycle/sql.js";

const USAGE = `usage: npm run import -- --from <${Object.keys(SOURCES).join("|")}> <dir> --db <name> [--out migrations] [--dry-run] [--force]

  <dir>      the tool's migrations folder (for alembic-sql: the file written by \`alembic upgrade head --sql\`)
  --db       the database's name in the stack config; files go to <out>/<db>/
  --out      the migrations root (default: migrations)
  --dry-run  convert and check everything, write nothing
  --force    replace the files already in <out>/<db>/`;


async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        from: { type: "string" },
        db: { type: "string" },
        out: { type: "string", default: "migrations" },
        "dry-run": { type: "boolean", default: false },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const from = values.from;
  if (!from) throw new UsageError("--from is required");
  if (!isSourceFormat(from)) throw new UsageError(`--from "${from}" is not a known format; use one of ${Object.keys(SOURCES).join(", ")}`);
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "the folder to import is missing" : `one folder expected, got ${positionals.join(" ")}`);
  const db = values.db;
  if (!db) throw new UsageError("--db is required (the database's name in the stack config)");
  const problem = identifierProblem(db);
  if (problem) throw new UsageError(`--db "${db}" ${problem}`);
  const dir = positionals[0] ?? "";
  const target = path.join(values.out, db);

  await loadSqlParser();
  const conversion = await convertFolder(from, dir);
  const result = await writeMigrations(target, conversion.files, { force: values.force, dryRun: values["dry-run"] });

  const rows = conversion.files.map((f, i) => {
    const m = result.migrations[i];
    const statements = m ? splitStatements(m.sql, m.file).length : 0;
    return [f.file, f.source, String(statements), f.noTransaction ? "no-transaction" : ""];
  });
  process.stdout.write(`import from ${from}: ${dir} → ${target} (${rows.length} migrations)\n\n`);
  process.stdout.write(table(["pgstack file", `${conversion.tool} source`, "statements", "runs"], rows));
  for (const n of conversion.notes) process.stdout.write(`\nnote: ${n}`);
  if (conversion.notes.length > 0) process.stdout.write("\n");
  const replaced = result.replaced > 0 ? `, replacing its ${result.replaced} earlier file(s)` : "";
  process.stdout.write(
    values["dry-run"] ? `\ndry run: the files pass pgstack's checks; nothing was written to ${target}${replaced ? ` (it would replace ${result.replaced} file(s))` : ""}\n` : `\nwrote ${rows.length} files to ${target}${replaced}\n`,
  );
  return 0;
}

/** A plain text table, columns padded to their widest cell. */
function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: string[]) => `  ${cells.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join("  ").trimEnd()}\n`;
  return line(head) + line(widths.map((w) => "-".repeat(w))) + rows.map(line).join("");
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    // A PgstackError's message, never a stack trace; an unexpected error as an internal one.
    if (err instanceof UsageError) process.stderr.write(`import: ${err.message}\n\n${USAGE}\n`);
    else process.stderr.write(`import failed: ${toPgstackError(err, "npm run import").message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
