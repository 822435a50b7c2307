import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseArgs, runExtraModules } from "../../scripts/bench.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function moduleFile(name: string, body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-bench-mod-"));
  dirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, body);
  return file;
}

describe("npm run bench: options and extra modules", () => {
  it("defaults are the issue's sizes; --quick shrinks them; explicit flags win; bad flags are refused", () => {
    expect(parseArgs([])).toMatchObject({ rounds: 3, migrations: 500, previewDatabases: 4, previewMigrations: 500, stateMigrations: 2000, quick: false, only: [] });
    expect(parseArgs(["--quick"])).toMatchObject({ rounds: 1, migrations: 100, quick: true });
    expect(parseArgs(["--quick", "--migrations=250", "--only", "apply,state"])).toMatchObject({ migrations: 250, only: ["apply", "state"] });
    expect(() => parseArgs(["--only", "speed"])).toThrow(/unknown measure "speed"/);
    expect(() => parseArgs(["--rounds", "0"])).toThrow(/--rounds needs a positive integer/);
    expect(() => parseArgs(["--fast"])).toThrow(/unknown argument "--fast"/);
  });

  it("runs the extra modules that exist, merges their keys, and skips missing ones", async () => {
    const a = moduleFile("bench-a.ts", "export async function run() { return { safetyRatio: 1.05, safetyMet: true }; }\n");
    const b = moduleFile("bench-b.ts", "export async function run() { return { driftSeconds: 0.25, note: 'ok' }; }\n");
    const { summary, lines } = await runExtraModules([a, path.join(path.dirname(a), "absent.ts"), b]);
    expect(summary).toEqual({ safetyRatio: 1.05, safetyMet: true, driftSeconds: 0.25, note: "ok" });
    expect(lines).toHaveLength(2);
  });

  it("refuses a module without run() and two modules reporting the same key", async () => {
    const bad = moduleFile("bench-bad.ts", "export const x = 1;\n");
    await expect(runExtraModules([bad])).rejects.toThrow(/does not export `async function run\(\)`/);
    const one = moduleFile("bench-one.ts", "export async function run() { return { k: 1 }; }\n");
    const two = moduleFile("bench-two.ts", "export async function run() { return { k: 2 }; }\n");
    await expect(runExtraModules([one, two])).rejects.toThrow(/key "k" is already reported/);
  });
});
