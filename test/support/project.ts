/**
 * A throwaway copy of the pgstack project for end-to-end runs: the program, the migrations and
 * the stack files, with node_modules linked. Tests add and edit migration files in the copy.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The repository root. */
export const repoRoot = path.resolve(__dirname, "..", "..");

/** Copies the project to a temp dir and returns its path. */
export function copyProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-e2e-"));
  for (const f of ["Pulumi.yaml", "package.json", "tsconfig.json"]) fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  for (const d of ["infra", "migrations"]) fs.cpSync(path.join(repoRoot, d), path.join(dir, d), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}
