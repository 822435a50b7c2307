/**
 * The migration source: a folder of `NNNN_name.sql` files becomes an ordered list of
 * migrations with checksums and directives. The file system is handed in, so tests can pass
 * migrations inline.
 */
import { createHash } from "node:crypto";
import * as path from "node:path";
import { MigrationSourceError, errorMessage } from "./errors.js";
import { splitStatements, type Statement } from "./sql.js";
import { lineColumnAt } from "./text.js";

/** One versioned migration, ready to apply. */
export interface Migration {
  /** The numeric version from the file name (`0003_x.sql` → 3). Unique and ascending. */
  id: number;
  /** The file name without extension, e.g. `0003_add_teams`. Recorded in the history. */
  name: string;
  /** Path of the file, used in error messages (`file:line:column`). */
  file: string;
  /** sha256 of the file's bytes, hex. An applied migration's checksum may never change. */
  checksum: string;
  /** The SQL text. */
  sql: string;
  /** False when the file carries `-- pgstack:no-transaction` (e.g. `CREATE INDEX CONCURRENTLY`). */
  inTransaction: boolean;
}

/** Reads migration files. `listSqlFiles` returns base names; `read` returns bytes. */
export interface MigrationFileReader {
  listSqlFiles(dir: string): Promise<string[]>;
  read(file: string): Promise<Buffer>;
}

/** The reader for the real file system. */
export const nodeFileReader: MigrationFileReader = {
  async listSqlFiles(dir) {
    const fs = await import("node:fs/promises");
    const entries = await fs.readdir(dir, { withFileTypes: true });
    return entries.filter((e) => e.isFile() && e.name.endsWith(".sql")).map((e) => e.name);
  },
  async read(file) {
    const fs = await import("node:fs/promises");
    return fs.readFile(file);
  },
};

/** File names look like `0001_create_users.sql`: digits, underscore, a lowercase name. */
const FILE_NAME = /^(\d+)_([a-z0-9_]+)\.sql$/;
/** The directive that makes a migration run outside a transaction. */
const NO_TRANSACTION = /^\s*--\s*pgstack:no-transaction\s*$/m;
/** Any other `pgstack:` directive is a typo we should not silently ignore. */
const ANY_DIRECTIVE = /^\s*--\s*pgstack:([^\s]*)/gm;

/**
 * Loads and validates every migration in `dir`. All problems are collected and thrown
 * together, so a user fixes them in one pass; nothing is applied when any exists.
 */
export async function loadMigrations(dir: string, reader: MigrationFileReader = nodeFileReader): Promise<Migration[]> {
  let names: string[];
  try {
    names = await reader.listSqlFiles(dir);
  } catch (err) {
    throw new MigrationSourceError(`cannot read the migrations folder ${dir}: ${errorMessage(err)}`, {
      hint: "create the folder, or fix `migrations` for this database in the stack config",
      cause: err,
    });
  }
  const problems: MigrationSourceError[] = [];
  const byId = new Map<number, string>();
  const parsed: { id: number; base: string; file: string }[] = [];
  for (const base of names.sort()) {
    const file = path.join(dir, base);
    const m = FILE_NAME.exec(base);
    if (!m) {
      problems.push(
        new MigrationSourceError(`bad migration file name "${base}"`, {
          location: { file, line: 1, column: 1 },
          hint: "name migrations NNNN_snake_case_name.sql, e.g. 0007_add_teams.sql",
        }),
      );
      continue;
    }
    const id = Number(m[1]);
    const clash = byId.get(id);
    if (clash) {
      problems.push(
        new MigrationSourceError(`version ${id} is used twice: ${clash} and ${base}`, {
          location: { file, line: 1, column: 1 },
          hint: "give each migration a unique version number",
        }),
      );
      continue;
    }
    byId.set(id, base);
    parsed.push({ id, base, file });
  }
  parsed.sort((a, b) => a.id - b.id);

  const migrations: Migration[] = [];
  for (const { id, base, file } of parsed) {
    const bytes = await reader.read(file);
    const sql = bytes.toString("utf8");
    try {
      migrations.push(fromText({ id, name: base.replace(/\.sql$/, ""), file, sql, checksum: sha256(bytes) }));
    } catch (err) {
      if (err instanceof MigrationSourceError) problems.push(err);
      else throw err;
    }
  }
  if (problems.length === 1) throw problems[0];
  if (problems.length > 1) {
    throw new MigrationSourceError(
      `${problems.length} problems in ${dir}:\n` + problems.map((p) => `  - ${p.message.replace(/\n/g, "\n    ")}`).join("\n"),
      { hint: "fix the files above; nothing was applied" },
    );
  }
  return migrations;
}

/** Builds a migration from its text, parsing it with the real Postgres parser. */
export function fromText(input: { id: number; name: string; file: string; sql: string; checksum?: string }): Migration {
  for (const d of input.sql.matchAll(ANY_DIRECTIVE)) {
    if (d[1] !== "no-transaction") {
      const offset = d.index ?? 0;
      const line = input.sql.slice(0, offset).split("\n").length;
      throw new MigrationSourceError(`unknown directive "pgstack:${d[1]}"`, {
        location: { file: input.file, line, column: 1 },
        hint: "the only directive is `-- pgstack:no-transaction`",
      });
    }
  }
  const statements = splitStatements(input.sql, input.file);
  if (statements.length === 0) {
    throw new MigrationSourceError("the migration contains no SQL statement", {
      location: { file: input.file, line: 1, column: 1 },
      hint: "add the migration's SQL, or delete the empty file",
    });
  }
  const inTransaction = !NO_TRANSACTION.test(input.sql);
  if (inTransaction) {
    for (const st of statements) {
      const where = { file: input.file, ...lineColumnAt(input.sql, st.offset) };
      if (st.kind === "TransactionStmt") {
        throw new MigrationSourceError(`transaction control statement "${st.sql.split(/\s/)[0]}" in a migration`, {
          location: where,
          hint: "pgstack runs each migration in its own transaction: remove BEGIN/COMMIT, or add `-- pgstack:no-transaction`",
        });
      }
      if (NEEDS_NO_TRANSACTION(st)) {
        throw new MigrationSourceError(`${st.sql.split("\n")[0]} cannot run inside a transaction`, {
          location: where,
          hint: "add the line `-- pgstack:no-transaction` to this file, and keep it to statements that are safe to re-run",
        });
      }
    }
  }
  return {
    id: input.id,
    name: input.name,
    file: input.file,
    checksum: input.checksum ?? sha256(Buffer.from(input.sql, "utf8")),
    sql: input.sql,
    inTransaction,
  };
}

/** Statements Postgres refuses inside a transaction block. */
function NEEDS_NO_TRANSACTION(st: Statement): boolean {
  if (st.kind === "IndexStmt" || st.kind === "ReindexStmt") return st.node["concurrent"] === true || /\bconcurrently\b/i.test(st.sql);
  if (st.kind === "VacuumStmt") return st.node["is_vacuumcmd"] === true; // ANALYZE alone is fine
  if (st.kind === "CreatedbStmt" || st.kind === "DropdbStmt") return true;
  return false;
}

/** Hex sha256. */
export function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}
