/**
 * A throwaway copy of the pgstack project for end-to-end runs: Pulumi.yaml and the migrations,
 * with node_modules linked. The program itself runs from the repository. Tests add and edit migration files in the copy.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import yaml from "js-yaml";

/** The repository root. */
export const repoRoot = path.resolve(__dirname, "..", "..");

/** Copies the project to a temp dir and returns its path. */
export function copyProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-e2e-"));
  for (const f of ["package.json", "tsconfig.json"]) fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  // The project file as committed, minus `main`: the program runs inline from the repository,
  // and the CLI checks that `main` exists.
  const project = yaml.load(fs.readFileSync(path.join(repoRoot, "Pulumi.yaml"), "utf8")) as Record<string, unknown>;
  delete project["main"];
  fs.writeFileSync(path.join(dir, "Pulumi.yaml"), yaml.dump(project));
  for (const d of ["migrations"]) fs.cpSync(path.join(repoRoot, d), path.join(dir, d), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}
