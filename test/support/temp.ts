/**
 * The tests' one way to make a temporary folder: made under the system's temporary folder and
 * removed after the test file that made it (an `afterAll` registered when this module loads,
 * once per test file: vitest isolates the files). Import it from test files and the support
 * modules they use, not from a global setup.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll } from "vitest";

const made: string[] = [];

afterAll(() => {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A new folder `<tmpdir>/<prefix>XXXXXX`, removed after this test file's tests. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
