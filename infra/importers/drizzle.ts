/**
 * Drizzle Kit's folder (`out` in drizzle.config.ts): `NNNN_tag.sql` files whose order and
 * identity come from `meta/_journal.json`, with statements separated by `--> statement-breakpoint`.
 * Drizzle's history (`drizzle.__drizzle_migrations`) records each file's sha256 and the
 * journal's `when`, so both go into the provenance record.
 */
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { z } from "zod";
import { sha256 } from "../lifecycle/source.js";
import { ImportError, listDir, needsNoTransaction, parse, readText, sanitizeName, type ImportResult, type ImportedMigration } from "./shared.js";

const JOURNAL = "meta/_journal.json";
const BREAKPOINT = "--> statement-breakpoint";
/** `postgresql`; drizzle-kit before 0.21 wrote `pg`, and today's drizzle-kit still migrates such folders. */
const POSTGRES_DIALECTS = ["postgresql", "pg"];

const journalSchema = z.object({
  dialect: z.string(),
  entries: z.array(z.object({ idx: z.number().int(), when: z.number().int(), tag: z.string().min(1), breakpoints: z.boolean().optional() })),
});

/** Converts a Drizzle Kit migrations folder, in the journal's order. */
export async function importDrizzle(dir: string): Promise<ImportResult> {
  const journalFile = path.join(dir, JOURNAL);
  const journal = await readJournal(journalFile);
  if (!POSTGRES_DIALECTS.includes(journal.dialect)) {
    throw new ImportError(`${journalFile}: the journal's dialect is "${journal.dialect}", not "postgresql"`, "import only a PostgreSQL Drizzle project's migrations");
  }
  const sqlFiles = (await listDir(dir)).filter((e) => e.isFile && e.name.endsWith(".sql")).map((e) => e.name);
  const tags = new Set(journal.entries.map((e) => e.tag));
  // drizzle-kit migrate runs what the journal lists and nothing else: a file it would never run is not imported.
  const notes = sqlFiles
    .filter((f) => !tags.has(f.slice(0, -4)))
    .map((f) => `ignored ${f}: no entry in ${JOURNAL}, so drizzle-kit migrate never runs it (add the entry with \`drizzle-kit generate\` if it should run)`);
  const entries = [...journal.entries].sort((a, b) => a.idx - b.idx);
  const migrations: ImportedMigration[] = [];
  for (const entry of entries) {
    const file = path.join(dir, `${entry.tag}.sql`);
    if (!sqlFiles.includes(`${entry.tag}.sql`)) {
      throw new ImportError(`${journalFile}: entry ${entry.idx} names "${entry.tag}", but ${file} does not exist`, "restore the file from version control, or remove the entry from the journal");
    }
    // Drizzle hashes the file's text exactly as read; so do we, to match its history rows.
    const hash = sha256(await fs.readFile(file));
    const text = await readText(file);
    const raw = text.split(BREAKPOINT);
    // Each chunk is checked on its own, padded to its place, so an error names the file's line.
    let line = 0;
    for (const chunk of raw) {
      parse("\n".repeat(line) + chunk, file);
      line += chunk.split("\n").length - 1;
    }
    const sql = raw.map((c) => terminate(c.trim())).filter((c) => c !== "").join("\n\n");
    migrations.push({
      name: sanitizeName(entry.tag.replace(/^\d+_/, "")),
      source: `${entry.tag}.sql`,
      sql,
      record: { tag: entry.tag, when: String(entry.when), hash },
      noTransaction: needsNoTransaction(parse(sql, file)),
    });
  }
  if (migrations.some((m) => m.noTransaction)) {
    notes.push("drizzle runs every migration in one transaction; statements that cannot (CONCURRENTLY) now run with -- pgstack:no-transaction");
  }
  return { tool: "drizzle", migrations, notes };
}

async function readJournal(file: string): Promise<z.infer<typeof journalSchema>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readText(file));
  } catch (err) {
    if (err instanceof ImportError && /ENOENT/.test(err.message)) {
      throw new ImportError(`${file} not found: this is not a Drizzle Kit migrations folder`, "pass the folder named by `out` in drizzle.config.ts (it holds meta/_journal.json)");
    }
    if (err instanceof SyntaxError) throw new ImportError(`${file}: not valid JSON: ${err.message}`, "restore the journal from version control");
    throw err;
  }
  const parsed = journalSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ImportError(`${file}: unexpected journal format at ${issue?.path.join(".") || "(root)"}: ${issue?.message}`, "restore the journal from version control");
  }
  return parsed.data;
}

/**
 * Drizzle runs each chunk between breakpoints on its own, so a chunk may lack its final `;`.
 * Joined into one file, it needs one; after a trailing comment, on its own line.
 */
function terminate(chunk: string): string {
  if (chunk === "" || chunk.endsWith(";")) return chunk;
  const lastLine = chunk.slice(chunk.lastIndexOf("\n") + 1);
  return /^\s*--/.test(lastLine) || chunk.endsWith("*/") ? `${chunk}\n;` : `${chunk};`;
}
