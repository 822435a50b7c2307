/**
 * The client tools a backup runs (pg_dump, and pg_restore to bring it back), checked against the
 * server before anything runs. pg_dump refuses a server of a newer major version ("aborting
 * because of server version mismatch"), so a stack whose backup would fail must be refused in
 * preview, not half-way through `up`.
 *
 * The backup script and the preview's check find pg_dump with the same shell lines
 * ({@link PG_DUMP_LOOKUP}): the check runs them, so it judges exactly the binary the backup runs.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { majorOf, type ServerVersion } from "./connection.js";

/**
 * Shell lines that set `PG_DUMP` to the pg_dump a backup runs: `$PGSTACK_PG_DUMP`, else the newest
 * of Debian's versioned binaries (`/usr/lib/postgresql/<major>/bin/pg_dump`; `/usr/bin/pg_dump` is
 * a wrapper that may pick another one), else `pg_dump` on the PATH; empty when there is none.
 * The newest, because pg_dump dumps servers of its own major version and older.
 */
export const PG_DUMP_LOOKUP = [
  'PG_DUMP="${PGSTACK_PG_DUMP:-}"',
  'if [ -z "$PG_DUMP" ]; then for c in $(ls -d /usr/lib/postgresql/*/bin/pg_dump 2>/dev/null | sort -t/ -k5,5nr) "$(command -v pg_dump || true)"; do if [ -x "$c" ]; then PG_DUMP="$c"; break; fi; done; fi',
].join("\n");

/** A client binary and the version it reports. */
export interface ClientTool {
  file: string;
  /** As `--version` prints it: `15.14`. */
  version: string;
  /** `15` (for 9.x: `9.6`, as a number 9.6). */
  major: number;
}

/**
 * pg_dump's rule, as its documentation states it: it dumps servers of its own major version and
 * older, back to 9.2 (pg_dump 15 and later) or 8.0 (before); a newer server is refused.
 */
export function pgDumpCanDump(clientMajor: number, serverNum: number): boolean {
  const oldest = clientMajor >= 15 ? 90_200 : 80_000;
  return serverNum >= oldest && majorOf(serverNum) <= clientMajor;
}

/** The version a client binary reports (`pg_dump (PostgreSQL) 15.14 (Debian …)` → 15.14), or undefined when it cannot run. */
export async function clientVersion(file: string): Promise<ClientTool | undefined> {
  const out = await new Promise<string | undefined>((resolve) =>
    execFile(file, ["--version"], { timeout: 10_000 }, (err, stdout) => resolve(err ? undefined : String(stdout))),
  );
  const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out ?? "");
  if (!m) return undefined;
  const first = Number(m[1]);
  const second = m[2] === undefined ? undefined : Number(m[2]);
  return { file, version: second === undefined ? String(first) : `${first}.${second}`, major: first >= 10 ? first : first + (second ?? 0) / 10 };
}

/** The pg_dump a backup would run, found by {@link PG_DUMP_LOOKUP} (empty string: none). */
export async function locatePgDump(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve) =>
    execFile("sh", ["-c", `${PG_DUMP_LOOKUP}\nprintf '%s' "$PG_DUMP"`], { env, timeout: 10_000 }, (err, stdout) => resolve(err ? "" : String(stdout))),
  );
}

/** What the backup would run with: pg_dump, and the pg_restore beside it (when there is one). */
export interface BackupClients {
  /** What the lookup found ("" when nothing). */
  pgDumpFile: string;
  pgDump?: ClientTool;
  pgRestore?: ClientTool;
}

/** Finds pg_dump as the backup does, and reads its version and that of the pg_restore in the same folder. */
export async function findBackupClients(env: NodeJS.ProcessEnv = process.env): Promise<BackupClients> {
  const pgDumpFile = await locatePgDump(env);
  if (!pgDumpFile) return { pgDumpFile };
  const [pgDump, pgRestore] = await Promise.all([clientVersion(pgDumpFile), clientVersion(path.join(path.dirname(pgDumpFile), "pg_restore"))]);
  return { pgDumpFile, ...(pgDump ? { pgDump } : {}), ...(pgRestore ? { pgRestore } : {}) };
}

/**
 * Why a backup of `server` cannot be taken or restored with `clients`, in three lines (the
 * server's version, the client's, the fix), or undefined when it can. `configPath` names the
 * database's config (`pgstack:databases[0]`), for its `backup: false`; `server` names the host.
 */
export function backupClientProblem(where: { server: string; configPath: string }, version: ServerVersion, clients: BackupClients): string[] | undefined {
  const serverLine = `the server ${where.server} runs PostgreSQL ${version.version}`;
  const fix = `→ install the PostgreSQL ${version.major} client tools and set PGSTACK_PG_DUMP to their pg_dump (pg_restore beside it), or set ${where.configPath}.backup: false to take no backup`;
  const { pgDump, pgRestore } = clients;
  if (!clients.pgDumpFile) return [serverLine, "no pg_dump was found (PGSTACK_PG_DUMP unset, none in /usr/lib/postgresql/*/bin or on the PATH), and every backup runs one", fix];
  if (!pgDump) return [serverLine, `the backup's pg_dump (${clients.pgDumpFile}) does not run or does not say its version (\`${clients.pgDumpFile} --version\`)`, fix];
  if (!pgDumpCanDump(pgDump.major, version.num)) {
    const range = version.major > pgDump.major ? `PostgreSQL ${pgDump.major} and older` : `PostgreSQL ${pgDump.major >= 15 ? "9.2" : "8.0"} and newer`;
    return [serverLine, `the backup's pg_dump ${pgDump.version} (${pgDump.file}) dumps only ${range}, and refuses this server`, fix];
  }
  // The dump is in pg_dump's archive format: an older pg_restore cannot read it.
  if (pgRestore && pgRestore.major < pgDump.major) {
    return [serverLine, `the pg_restore ${pgRestore.version} beside the backup's pg_dump ${pgDump.version} (${pgRestore.file}) cannot read its dumps`, fix];
  }
  return undefined;
}
