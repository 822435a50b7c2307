/**
 * squawk's lint rules, through the squawk-cli binary from npm (`@squawk-cli/<platform>`). The
 * pending migrations are written to a private temporary folder, linted in one run per kind
 * (transactional or not), and the JSON findings are mapped back to each file's line and column.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { PgstackError } from "../errors.js";
import type { Migration } from "../source.js";
import type { Finding } from "./types.js";

const run = promisify(execFile);

/**
 * Rules pgstack leaves out: it sets `lock_timeout` and `statement_timeout` for every migration
 * itself (`pgstack:databases[].session`), and it measures drops and renames with live counts.
 */
export const EXCLUDED_RULES = ["require-lock-timeout", "require-statement-timeout", "ban-drop-table", "ban-drop-column", "renaming-table", "renaming-column", "adding-required-field"];

/** One entry of `squawk --reporter json`. Lines and columns are 0-based. */
interface SquawkViolation {
  file: string;
  line: number;
  column: number;
  level: string;
  message: string;
  help: string | null;
  rule_name: string;
}

/** The squawk binary of this platform, or undefined when its npm package is not installed. */
export function squawkBinary(): string | undefined {
  if (process.env["PGSTACK_SQUAWK"]) return process.env["PGSTACK_SQUAWK"];
  const require = createRequire(__filename);
  try {
    const pkg = require.resolve(`@squawk-cli/${process.platform}-${process.arch}/package.json`);
    const bin = path.join(path.dirname(pkg), "bin", process.platform === "win32" ? "squawk.exe" : "squawk");
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/** Lints the migrations with squawk; each finding is a `lint` finding at the file's line:col. */
export async function lintWithSquawk(pending: readonly Migration[], options: { pgVersion?: string } = {}): Promise<Finding[]> {
  if (pending.length === 0) return [];
  const bin = squawkBinary();
  if (!bin) {
    throw new PgstackError("SQUAWK_MISSING", `the safety check's linter, squawk, is not installed for ${process.platform}-${process.arch}`, {
      hint: "run `npm ci` (it installs @squawk-cli/linux-x64 as an optional dependency), or point PGSTACK_SQUAWK at a squawk binary",
    });
  }
  const { dir, byTemp, groups } = writeForSquawk(pending);
  try {
    // The two kinds in parallel: each is its own squawk process.
    const runs = Object.entries(groups)
      .filter(([, files]) => files.length > 0)
      .map(([kind, files]) => invoke(bin, ["--reporter", "json", "--pg-version", options.pgVersion ?? "15", `--exclude=${EXCLUDED_RULES.join(",")}`, ...(kind === "tx" ? ["--assume-in-transaction"] : []), ...files], dir));
    const findings: Finding[] = [];
    for (const v of (await Promise.all(runs)).flat()) {
      const m = byTemp.get(path.basename(v.file));
      if (!m) continue;
      findings.push({
        rule: `squawk/${v.rule_name}`,
        class: "lint",
        file: m.file,
        line: v.line + 1,
        column: v.column + 1,
        message: v.message,
        safeAlternative: v.help ?? `see https://squawkhq.com/docs/${v.rule_name}`,
      });
    }
    return findings;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Folders for squawk's copies of the files, best first. A RAM-backed one where the system has
 * it: creating 500 small files on a disk-backed /tmp took about 0.25 s here (a tenth of the
 * apply it judges), against 10 ms in /dev/shm. The system's temporary folder is the fallback.
 */
function tempBases(): string[] {
  const shm = "/dev/shm";
  const bases = [os.tmpdir()];
  try {
    if (process.platform === "linux" && fs.statSync(shm).isDirectory()) {
      fs.accessSync(shm, fs.constants.W_OK);
      bases.unshift(shm);
    }
  } catch {
    // no /dev/shm here: the temporary folder only
  }
  return bases;
}

/**
 * Writes the files into a private temporary folder (0700, each file 0600), grouped by kind
 * (transactional or not). Synchronous on purpose: a few milliseconds of plain writes cost the
 * main thread less than hundreds of callbacks competing with the rules and the counts. A
 * folder that fills up (a small /dev/shm) is removed and the next one is tried.
 */
function writeForSquawk(pending: readonly Migration[]): { dir: string; byTemp: Map<string, Migration>; groups: Record<"tx" | "noTx", string[]> } {
  const bases = tempBases();
  for (const [i, base] of bases.entries()) {
    let dir: string | undefined;
    try {
      dir = fs.mkdtempSync(path.join(base, "pgstack-squawk-"));
      const byTemp = new Map<string, Migration>();
      const groups: Record<"tx" | "noTx", string[]> = { tx: [], noTx: [] };
      pending.forEach((m, n) => {
        const name = `${String(n).padStart(5, "0")}.sql`;
        byTemp.set(name, m);
        groups[m.inTransaction ? "tx" : "noTx"].push(name);
        fs.writeFileSync(path.join(dir!, name), m.sql, { mode: 0o600 });
      });
      return { dir, byTemp, groups };
    } catch (err) {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
      if (i === bases.length - 1) throw err;
    }
  }
  throw new Error("internal: no temporary folder for squawk");
}

async function invoke(bin: string, args: string[], cwd: string): Promise<SquawkViolation[]> {
  let stdout: string;
  try {
    ({ stdout } = await run(bin, args, { cwd, maxBuffer: 64 * 1024 * 1024, env: { PATH: process.env["PATH"] ?? "" } }));
  } catch (err) {
    // squawk exits 1 when it found something; its JSON is on stdout all the same.
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (e.code !== 1 || !e.stdout) {
      throw new PgstackError("SQUAWK_FAILED", `the safety check's linter, squawk (${bin}), failed (exit ${e.code}): ${(e.stderr ?? "").trim().split("\n")[0]}`, {
        hint: "run `npm ci` to restore it, or point PGSTACK_SQUAWK at a working squawk binary",
      });
    }
    stdout = e.stdout;
  }
  const text = stdout.trim();
  return text === "" ? [] : (JSON.parse(text) as SquawkViolation[]);
}
