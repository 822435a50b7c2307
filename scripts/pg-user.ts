/** Running PostgreSQL server binaries, which refuse to run as root. */
import { execFileSync } from "node:child_process";

/** True when this process runs as root. */
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** `[command, args]` for a server binary: as the `postgres` user when we are root. */
export function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

/** Gives `dir` to the `postgres` user when we are root, so the server can use it. */
export function chownToPostgres(dir: string): void {
  if (isRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
}
