/**
 * Where a stack's embedded dev server keeps its files. Shared by the program (which reads the
 * admin password) and `scripts/devdb.ts` (which creates and starts the server).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PgstackError } from "./lifecycle/errors.js";

/**
 * `.pgstack/<stack>/` under the project root: ignored by git, kept between runs.
 * `PGSTACK_STATE_DIR` moves the `.pgstack` folder (tests use a temporary one).
 */
export function devServerDir(projectRoot: string, stack: string): string {
  return path.join(process.env["PGSTACK_STATE_DIR"] ?? path.join(projectRoot, ".pgstack"), stack);
}

/** The file holding the generated admin password of a stack's embedded server (mode 0600). */
export function devPasswordFile(projectRoot: string, stack: string): string {
  return path.join(devServerDir(projectRoot, stack), "admin-password");
}

/** Reads the embedded server's admin password, or explains how to create the server. */
export function readDevPassword(projectRoot: string, stack: string): string {
  const file = devPasswordFile(projectRoot, stack);
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    throw new PgstackError(
      "DEV_SERVER_MISSING",
      `stack "${stack}" uses an embedded dev server (pgstack:server.embedded: true), but it has not been set up ` +
        `(${path.relative(projectRoot, file)} is missing)`,
      { hint: "run `npm run up` (or `npm run db:start`) to create and start it" },
    );
  }
}
