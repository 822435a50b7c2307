/**
 * A throwaway pgstack project for end-to-end runs: Pulumi.yaml (minus `main`: the program runs
 * inline from the repository) and a copy of the migrations, which tests add to and edit.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { inlineWorkDir, projectRoot } from "../../scripts/pulumi-env.js";

/** Creates the project in a temp dir and returns its path. */
export function copyProject(): string {
  const dir = inlineWorkDir(fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-e2e-")));
  fs.cpSync(path.join(projectRoot, "migrations"), path.join(dir, "migrations"), { recursive: true });
  // Pulumi's dynamic-provider host resolves @pulumi/pulumi from its working directory.
  fs.symlinkSync(path.join(projectRoot, "node_modules"), path.join(dir, "node_modules"), "dir");
  return dir;
}
