/**
 * goose's folder: `<version>_<name>.sql` files (sequential `00001_…` or timestamped
 * `20240101120000_…`), each with a `-- +goose Up` section and usually a `-- +goose Down` one.
 * `-- +goose StatementBegin` / `StatementEnd` wrap statements that hold semicolons (goose splits
 * on them; pgstack's parser does not need the hint), and `-- +goose NO TRANSACTION` runs the file
 * outside a transaction. Its history (`goose_db_version`) holds a row per up and per down.
 */
import * as path from "node:path";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, unwrapTransaction, type ImportResult, type ImportedMigration } from "./shared.js";

/** goose's file name: the version is what comes before the first `_` (a positive int64). */
const FILE = /^(\d+)_(.*)\.(sql|go)$/;
/** An annotation line: `-- +goose Up`, in any letter case, at the start of the line. */
const ANNOTATION = /^--\s*\+goose\s+(.*?)\s*$/i;
const INT64_MAX = 2n ** 63n - 1n;

/** Converts a goose migrations folder, in numeric version order (as goose applies them). */
export async function importGoose(dir: string): Promise<ImportResult> {
  const notes: string[] = [];
  const found = new Map<bigint, string>();
  for (const e of await listDir(dir)) {
    if (!e.isFile) continue;
    const m = FILE.exec(e.name);
    const version = m ? BigInt(m[1] ?? "0") : 0n;
    // goose skips what does not look like a migration (helpers.go, README.md), and so do we.
    if (!m || version < 1n || version > INT64_MAX || e.name.endsWith("_test.go")) {
      if (e.name.endsWith(".sql") || e.name.endsWith(".go")) notes.push(`ignored ${e.name}: not <version>_<name>.sql with a version of 1 or more, so goose does not run it either`);
      continue;
    }
    const clash = found.get(version);
    if (clash) throw new ImportError(`${path.join(dir, e.name)}: version ${version} is used twice (also ${clash})`, "give each migration a unique version, as goose requires");
    if (m[3] === "go") {
      throw new ImportError(
        `${path.join(dir, e.name)}: a Go migration; pgstack imports SQL migrations only`,
        "rewrite it as a .sql migration (the SQL it runs), or remove it from the folder if it has no effect on the schema; nothing was written",
      );
    }
    found.set(version, e.name);
  }
  if (found.size === 0) throw new ImportError(`${dir}: no goose migrations (<version>_<name>.sql)`, "pass the folder given to `goose -dir`");
  const migrations: ImportedMigration[] = [];
  for (const [version, base] of [...found].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const file = path.join(dir, base);
    const { sql, noTransaction } = upSection(await readText(file), file);
    const body = unwrapTransaction(sql, file);
    migrations.push({
      name: sanitizeName(FILE.exec(base)?.[2] ?? ""),
      source: base,
      sql: body,
      // goose_db_version.version_id is a bigint: `00001` is recorded as 1.
      record: { version: String(version) },
      noTransaction: noTransaction || needsNoTransaction(parse(body, file)),
    });
  }
  return { tool: "goose", migrations, notes };
}

/**
 * The `-- +goose Up` section, with every annotation line blanked (so errors keep the file's line
 * numbers), and whether the file says `NO TRANSACTION`. Refused as goose refuses it: no or two Up
 * sections, SQL before Up, an unknown annotation; and `ENVSUB ON`, whose values pgstack cannot know.
 */
function upSection(text: string, file: string): { sql: string; noTransaction: boolean } {
  const lines = text.split("\n");
  let section: "before" | "up" | "down" = "before";
  let ups = 0;
  let noTransaction = false;
  const up: string[] = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    const a = ANNOTATION.exec(line);
    const where = `${file}:${i + 1}`;
    if (!a) {
      if (section === "before" && line.trim() !== "" && !/^\s*--/.test(line)) {
        throw new ImportError(`${where}: SQL before \`-- +goose Up\``, "move it into the Up section; goose refuses such files too");
      }
      up.push(section === "up" ? line : "");
      return;
    }
    up.push("");
    const annotation = (a[1] ?? "").toLowerCase().replace(/\s+/g, " ");
    if (annotation === "up") {
      ups += 1;
      if (ups > 1) throw new ImportError(`${where}: a second \`-- +goose Up\``, "a goose migration has exactly one Up section (and optionally one Down)");
      section = "up";
    } else if (annotation === "down") {
      if (section === "before") throw new ImportError(`${where}: \`-- +goose Down\` before \`-- +goose Up\``, "put the Up section first, as goose requires");
      section = "down";
    } else if (annotation === "no transaction") {
      noTransaction = true;
    } else if (annotation === "envsub on") {
      if (section !== "down") {
        throw new ImportError(
          `${where}: \`-- +goose ENVSUB ON\` makes goose replace \${VARIABLES} from its environment, which pgstack cannot know`,
          "write the values into the file (or remove the annotation if nothing is substituted), then import again; nothing was written",
        );
      }
    } else if (!["statementbegin", "statementend", "envsub off"].includes(annotation)) {
      throw new ImportError(`${where}: unknown goose annotation "${a[1]}"`, "use Up, Down, StatementBegin, StatementEnd, NO TRANSACTION or ENVSUB ON/OFF, as goose does");
    }
  });
  if (ups === 0) throw new ImportError(`${file}: no \`-- +goose Up\` section`, "a goose migration starts with `-- +goose Up`; goose refuses the file too");
  return { sql: up.join("\n"), noTransaction };
}
