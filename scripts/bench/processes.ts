/** Child processes: psql and pg_dump (the floors), with the password in the environment only. */
import { spawn } from "node:child_process";
import * as path from "node:path";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { DEBIAN_BIN } from "../../test/support/postgres.js";

/** The real binaries: /usr/bin/psql on Debian is a Perl wrapper whose start-up would be timed. */
export const PSQL = path.join(DEBIAN_BIN, "psql");
export const PG_DUMP = path.join(DEBIAN_BIN, "pg_dump");

/**
 * Runs a binary; rejects with its stderr on an exit code not in `okCodes` (`diff` exits 1 when
 * the files differ). Returns stdout when captured.
 */
export function runBinary(cmd: string, args: string[], env: NodeJS.ProcessEnv, captureStdout = false, okCodes: readonly number[] = [0]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", captureStdout ? "pipe" : "ignore", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (code !== null && okCodes.includes(code)) resolve(Buffer.concat(out).toString("utf8"));
      else reject(new Error(`${path.basename(cmd)} exited with ${code ?? signal}: ${Buffer.concat(err).toString("utf8").trim().slice(0, 2000)}`));
    });
  });
}

/** Environment for libpq binaries: the password goes through PGPASSWORD, never argv. */
export function libpqEnv(c: ConnectionOptions): NodeJS.ProcessEnv {
  return { ...process.env, PGPASSWORD: c.password ?? "", PGSSLMODE: c.sslmode ?? "disable", PGAPPNAME: "pgstack-bench" };
}

/** `-h -p -U -d` for a libpq binary. */
export function libpqArgs(c: ConnectionOptions): string[] {
  return ["-h", c.host, "-p", String(c.port), "-U", c.user, "-d", c.database];
}

/** Runs a psql driver script in one session, stopping at the first error. */
export function runPsqlDriver(c: ConnectionOptions, driver: string): Promise<string> {
  return runBinary(PSQL, ["-X", "-q", "-v", "ON_ERROR_STOP=1", ...libpqArgs(c), "-f", driver], libpqEnv(c));
}

