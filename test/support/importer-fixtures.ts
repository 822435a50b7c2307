/** The importers' fixture folders (`test/fixtures/importers/<tool>`) and helpers to read conversions. */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Conversion } from "../../infra/importers/index.js";

export const FIX = "test/fixtures/importers";

/** A fixture file's text. */
export const read = (p: string) => fs.readFileSync(path.join(FIX, p), "utf8");
/** The pgstack file names of a conversion. */
export const names = (c: Conversion) => c.files.map((f) => f.file);
/** A converted file's whole text. */
export const text = (c: Conversion, file: string) => c.files.find((f) => f.file === file)?.text;
/** A converted file's text after its two provenance lines. */
export const body = (c: Conversion, file: string) => text(c, file)?.split("\n").slice(2).join("\n");

/** A temporary folder for one test file, removed after its tests (support/temp.ts). */
export { tempDir } from "./temp.js";

/** A copy of a fixture folder under `tmp`, to break it for one test. */
export function copyFixture(tmp: string, tool: string): string {
  const dir = fs.mkdtempSync(path.join(tmp, `${tool}-`));
  fs.cpSync(path.join(FIX, tool), dir, { recursive: true });
  return dir;
}
