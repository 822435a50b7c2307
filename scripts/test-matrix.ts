/**
 * `npm test`: every suite on the PostgreSQL majors it must hold on, one part at a time (the
 * machine's cores go to each part's own workers), with a header per part and, at the end, a
 * table of pass counts and wall times per part and version, so a CI log shows both.
 *
 *   typecheck, unit                      once (no server)
 *   integration                          on 14, 15 and 18 (the files that do not depend on the
 *                                        part's major, {@link INTEGRATION_ON_DEFAULT_ONLY}, on 15
 *                                        only); on 16 and 17 without {@link INTEGRATION_NOT_ON_MIDDLE}
 *   e2e lifecycle, safety, adoption      on 15
 *   e2e safety, adoption                 on 18, the newest major (with `--full`, the lifecycle
 *                                        file too, on 14, 16, 17 and 18: about 7 minutes each)
 *   every other e2e file                 on 15 (Debian's server and client tools), as its own part
 *
 * Usage: `npm test [-- --versions 14,18] [--only unit,integration,e2e] [--full]`. One suite on one
 * version is plain vitest: `PGSTACK_TEST_PG_VERSION=18 npm run test:integration`.
 * Exit code 0 only when every part ran and passed; a part that fails does not stop the others.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TESTED_MAJORS } from "../test/support/postgres.js";

/** The e2e files 15 runs as a part of their own, and `--full` on every major; the rest run on 15 only. */
export const E2E_ON_EVERY_MAJOR = ["test/e2e/lifecycle.test.ts", "test/e2e/safety.test.ts", "test/e2e/adoption.test.ts"];
/**
 * Integration files whose subject does not change with the part's major: the dev server's own
 * embedded PostgreSQL (`devdb`, which never uses the harness's server), a stock 14 the file starts
 * itself (`pg14-public`) and SIGKILLs of applying processes (`crash-concurrency`, 90 s of the
 * suite's 210). They run on 15 only, and with `--full` on every major.
 */
export const INTEGRATION_ON_DEFAULT_ONLY = ["test/integration/devdb.test.ts", "test/integration/crash-concurrency.test.ts", "test/integration/pg14-public.test.ts"];
/**
 * Integration files about pgstack's own logic (input checks, the apply loop, history, state,
 * connections, importers, review plans): 14, 15 and 18, the majors on either side of each
 * catalog and role change, run them; 16 and 17 run the rest, the files that read catalogs,
 * manage roles and memberships, or count rows (about 80 s less per major).
 */
export const INTEGRATION_NOT_ON_MIDDLE = [
  "apply", "apply-reliability", "bad-input", "baseline-memo", "connection", "history-bigint",
  "importers", "migration-state", "quoted-identifiers", "review-plan", "state", "tls",
].map((f) => `test/integration/${f}.test.ts`);
/** The majors between 15 and the newest. */
const MIDDLE_MAJORS = [16, 17];
/**
 * What the newest major runs of the e2e suite by default: the 16+ rules on roles (CREATEROLE, the
 * owner's membership) and the backup refusal through the real engine. The lifecycle file adds
 * about 7 minutes per major and repeats on 18 what 15 runs, whose 16+ parts the integration suite
 * on 18 and `client-tools` (a PostgreSQL 18 server) cover; `--full` runs it on every major.
 */
export const E2E_ON_NEWEST = ["test/e2e/safety.test.ts", "test/e2e/adoption.test.ts"];
/**
 * The e2e files on 15 that copy whole projects or build real tools (another tool's folders, a
 * moved checkout, a shared state backend, a consumer package): a part of their own, so the other
 * files' part stays far from the part time limit (together they took 22:40 on a quiet day).
 */
export const E2E_PROJECT_COPIES = ["adopt-real-tools", "portability", "team-state", "consumer"].map((f) => `test/e2e/${f}.test.ts`);
/** The majors besides 15 that run {@link E2E_ON_NEWEST} by default: the newest. */
export const E2E_MAJORS = [18] as const;
/** The server the suites use when no version is asked for (Debian's, with matching client tools). */
const DEFAULT_MAJOR = 15;
const SUITES = ["typecheck", "unit", "integration", "e2e"] as const;
/** A part still running after this long is stopped and counted as failed, so one hung run cannot eat CI's whole budget. */
const PART_TIMEOUT_MS = 30 * 60_000;
type Suite = (typeof SUITES)[number];

/** One run of one suite on one major (or none). */
interface Part {
  suite: Suite;
  major?: number;
  /** Test files; empty: the whole project. */
  files: string[];
  /** Test files left out of the whole project (`--exclude`). */
  exclude?: string[];
  /** How the header and the summary name the part. */
  label: string;
}

/** What a part gave: counts from vitest's JSON report, or only ok/failed for the typecheck. */
interface Outcome {
  part: Part;
  seconds: number;
  ok: boolean;
  passed?: number;
  failed?: number;
  skipped?: number;
  note?: string;
  /** Each failed test as `file > name: first line of the error`, so CI's tail names it. */
  failures?: string[];
}

/** The parts of vitest's JSON report this script reads. */
interface VitestReport {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites: number;
  testResults: { name: string; message?: string; assertionResults: { fullName: string; status: string; failureMessages?: string[] }[] }[];
}

/** The failed tests and files of a report, one line each, with the first line of each error. */
export function failuresOf(report: VitestReport, root: string): string[] {
  const out: string[] = [];
  const firstLine = (m: string | undefined) => (m ?? "").split("\n").find((l) => l.trim() !== "")?.trim().slice(0, 300) ?? "";
  for (const file of report.testResults) {
    const rel = path.relative(root, file.name) || file.name;
    const failed = file.assertionResults.filter((a) => a.status === "failed");
    for (const a of failed) out.push(`${rel} > ${a.fullName}: ${firstLine(a.failureMessages?.[0])}`);
    // A file that failed outside any test (a hook, or loading it) has only a message.
    if (failed.length === 0 && file.message) out.push(`${rel}: ${firstLine(file.message)}`);
  }
  return out;
}

/** `--versions 14,18` and `--only unit,e2e`; anything else is refused, naming what is accepted. */
export function parseArgs(argv: readonly string[]): { versions: number[]; only: Suite[]; full: boolean } {
  let versions: number[] = [...TESTED_MAJORS];
  let only: Suite[] = [...SUITES];
  let full = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--full") {
      full = true;
      continue;
    }
    const [flag, inline] = arg.split("=", 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (flag === "--versions" && value) {
      versions = value.split(",").map((v) => {
        const n = Number(v);
        if (!(TESTED_MAJORS as readonly number[]).includes(n)) throw new Error(`--versions: ${v} is not one the harness can start; use some of ${TESTED_MAJORS.join(",")}`);
        return n;
      });
    } else if (flag === "--only" && value) {
      only = value.split(",").map((s) => {
        if (!(SUITES as readonly string[]).includes(s)) throw new Error(`--only: ${s} is not a suite; use some of ${SUITES.join(",")}`);
        return s as Suite;
      });
    } else {
      throw new Error(`unknown argument ${arg}: use --versions ${TESTED_MAJORS.join(",")}, --only ${SUITES.join(",")} and/or --full`);
    }
  }
  return { versions, only, full };
}

/** The parts, in the order they run: quick and version-free first, then each major. */
export function plan(versions: readonly number[], only: readonly Suite[], full = false): Part[] {
  const parts: Part[] = [];
  const want = (s: Suite) => only.includes(s);
  if (want("typecheck")) parts.push({ suite: "typecheck", files: [], label: "typecheck" });
  if (want("unit")) parts.push({ suite: "unit", files: [], label: "unit" });
  for (const major of versions) {
    if (want("integration")) {
      if (full || major === DEFAULT_MAJOR) parts.push({ suite: "integration", major, files: [], label: "integration" });
      else if (MIDDLE_MAJORS.includes(major)) parts.push({ suite: "integration", major, files: [], exclude: [...INTEGRATION_ON_DEFAULT_ONLY, ...INTEGRATION_NOT_ON_MIDDLE], label: "integration (catalog, role and row-count files)" });
      else parts.push({ suite: "integration", major, files: [], exclude: INTEGRATION_ON_DEFAULT_ONLY, label: "integration (major-dependent files)" });
    }
    if (!want("e2e")) continue;
    if (major === DEFAULT_MAJOR || full) parts.push({ suite: "e2e", major, files: E2E_ON_EVERY_MAJOR, label: "e2e lifecycle+safety+adoption" });
    else if ((E2E_MAJORS as readonly number[]).includes(major)) parts.push({ suite: "e2e", major, files: E2E_ON_NEWEST, label: "e2e safety+adoption" });
    // The other files as a part of their own: each part has its own time limit, and a slow
    // machine must not push the whole e2e suite over one.
    if (major === DEFAULT_MAJOR) {
      parts.push({ suite: "e2e", major, files: E2E_PROJECT_COPIES, label: "e2e real tools+portability+team state+consumer" });
      parts.push({ suite: "e2e", major, files: [], exclude: [...E2E_ON_EVERY_MAJOR, ...E2E_PROJECT_COPIES], label: "e2e (every other file)" });
    }
  }
  return parts;
}

function header(text: string): void {
  const line = "=".repeat(Math.max(72, text.length + 8));
  console.log(`\n${line}\n=== ${text}\n${line}`);
}

/** A tool of the project's own node_modules. */
function bin(name: string): string {
  return path.join("node_modules", ".bin", name);
}

function where(p: Part): string {
  return p.major === undefined ? "" : `PostgreSQL ${p.major}`;
}

function run(part: Part, reportDir: string): Outcome {
  const started = Date.now();
  header(`${part.label}${part.major === undefined ? "" : ` on ${where(part)}`}`);
  const env = { ...process.env };
  if (part.major !== undefined) env["PGSTACK_TEST_PG_VERSION"] = String(part.major);
  if (part.suite === "typecheck") {
    const r = spawnSync(bin("tsc"), ["-p", "tsconfig.json", "--noEmit"], { stdio: "inherit", env });
    return { part, seconds: (Date.now() - started) / 1000, ok: r.status === 0 };
  }
  if (part.suite === "e2e") {
    // The Pulumi CLI and plugins, built or found once (as `npm run test:e2e` does).
    const t = spawnSync("bash", ["scripts/toolchain.sh"], { stdio: ["ignore", "ignore", "inherit"], env });
    if (t.status !== 0) return { part, seconds: (Date.now() - started) / 1000, ok: false, note: "the toolchain could not be made" };
  }
  const report = path.join(reportDir, `${part.suite}-${part.major ?? "any"}.json`);
  const args = ["run", "--project", part.suite, ...part.files, ...(part.exclude ?? []).flatMap((f) => ["--exclude", f]), "--reporter=default", "--reporter=json", `--outputFile.json=${report}`];
  // vitest itself, not through npx: a timeout's SIGKILL must reach the process that runs the tests.
  const r = spawnSync(bin("vitest"), args, { stdio: "inherit", env, timeout: PART_TIMEOUT_MS, killSignal: "SIGKILL" });
  const seconds = (Date.now() - started) / 1000;
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ETIMEDOUT") return { part, seconds, ok: false, note: `stopped after ${PART_TIMEOUT_MS / 60_000} minutes` };
  if (!fs.existsSync(report)) return { part, seconds, ok: false, note: `vitest exited with ${r.status ?? r.signal} and wrote no report` };
  const j = JSON.parse(fs.readFileSync(report, "utf8")) as VitestReport;
  const failed = j.numFailedTests;
  // A file that fails to load counts no test: the exit code and the suite count catch it.
  const ok = r.status === 0 && failed === 0 && j.numFailedTestSuites === 0 && j.numPassedTests > 0;
  const failures = failuresOf(j, process.cwd());
  return {
    part,
    seconds,
    ok,
    passed: j.numPassedTests,
    failed,
    skipped: j.numPendingTests + j.numTodoTests,
    ...(failures.length > 0 ? { failures } : {}),
    ...(ok || failed > 0 ? {} : { note: `exit code ${r.status ?? r.signal}, ${j.numFailedTestSuites} file(s) failed to run` }),
  };
}

function mmss(seconds: number): string {
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The closing table: one row per part, then the total. */
export function summary(outcomes: readonly Outcome[], totalSeconds: number): string {
  const rows = [["part", "server", "passed", "failed", "skipped", "time", "result"]];
  for (const o of outcomes) {
    rows.push([
      o.part.label,
      where(o.part) || "-",
      o.passed === undefined ? "-" : String(o.passed),
      o.failed === undefined ? "-" : String(o.failed),
      o.skipped === undefined ? "-" : String(o.skipped),
      mmss(o.seconds),
      (o.ok ? "ok" : "FAILED") + (o.note ? ` (${o.note})` : ""),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
  const failed = outcomes.filter((o) => !o.ok).length;
  // The failures last: CI's log keeps only its tail.
  for (const o of outcomes) {
    if (!o.failures?.length) continue;
    lines.push("", `failed in ${o.part.label}${o.part.major === undefined ? "" : ` on ${where(o.part)}`}:`, ...o.failures.map((f) => `  ${f}`));
  }
  lines.push("", `total ${mmss(totalSeconds)}: ${failed === 0 ? `all ${outcomes.length} parts passed` : `${failed} of ${outcomes.length} parts FAILED`}`);
  return lines.join("\n");
}

function main(): void {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  const started = Date.now();
  const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-test-matrix-"));
  const outcomes: Outcome[] = [];
  try {
    for (const part of plan(args.versions, args.only, args.full)) outcomes.push(run(part, reportDir));
  } finally {
    fs.rmSync(reportDir, { recursive: true, force: true });
  }
  header("summary: pass counts per PostgreSQL version");
  console.log(summary(outcomes, (Date.now() - started) / 1000));
  process.exit(outcomes.every((o) => o.ok) ? 0 : 1);
}

if (require.main === module) main();
