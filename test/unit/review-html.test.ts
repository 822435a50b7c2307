/**
 * The HTML review page in a real browser: Debian's headless Chromium, driven by puppeteer-core.
 * The page must load with no console error and no request leaving the machine, and Mermaid
 * (inlined from the pinned npm package) must draw one SVG entity per table of each diagram.
 * A screenshot goes to test/artifacts/review.png (git-ignored).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import puppeteer from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadMermaidBundle, renderHtml } from "../../infra/review/html.js";
import { renderMarkdown } from "../../infra/review/markdown.js";
import { buildDiagram } from "../../infra/review/mermaid.js";
import { AFTER, BEFORE, sampleDatabase, sampleReport, table } from "../fixtures/review/sample.js";

const ARTIFACTS = path.resolve("test", "artifacts");
const SCREENSHOT = path.join(ARTIFACTS, "review.png");

/** Debian's chromium, or PGSTACK_CHROMIUM; never a silent skip when it is missing. */
function chromiumPath(): string {
  const configured = process.env["PGSTACK_CHROMIUM"];
  if (configured) return configured;
  try {
    return execFileSync("sh", ["-c", "command -v chromium"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error("chromium is not installed: run `bash scripts/setup.sh` (as root it installs Debian's chromium package), or set PGSTACK_CHROMIUM to a Chromium binary");
  }
}

const report = sampleReport([
  sampleDatabase(),
  sampleDatabase({
    database: "fltr_auth",
    reset: undefined,
    drift: [],
    access: [],
    diagram: buildDiagram([], [table("users", ["id text"], ["id"]), table("sessions", ["id text", "user_id text"], ["id"], ["user_id -> users.id"])]),
  }),
]);

let browser: Awaited<ReturnType<typeof puppeteer.launch>> | undefined;
afterAll(async () => {
  await browser?.close();
});

describe("the HTML report in headless Chromium", () => {
  const consoleErrors: string[] = [];
  const requests: string[] = [];
  let page: Awaited<ReturnType<NonNullable<typeof browser>["newPage"]>>;

  beforeAll(async () => {
    const executablePath = chromiumPath();
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    const file = path.join(ARTIFACTS, "review.html");
    fs.writeFileSync(file, renderHtml(report, loadMermaidBundle()));
    browser = await puppeteer.launch({ executablePath, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
    page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    page.on("console", (m) => {
      if (m.type() === "error") consoleErrors.push(m.text());
    });
    page.on("pageerror", (e) => consoleErrors.push(String(e)));
    page.on("request", (r) => requests.push(r.url().slice(0, 40)));
    await page.goto(`file://${file}`, { waitUntil: "load" });
    await page.waitForFunction("document.body.dataset.mermaid !== undefined", { timeout: 30_000 });
  }, 60_000);

  it("renders with no console error and requests nothing beyond the page itself", async () => {
    expect(await page.evaluate("document.body.dataset.mermaid")).toBe("done");
    expect(consoleErrors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith("file://") && !u.startsWith("data:"))).toEqual([]);
    expect(await page.evaluate('document.querySelector("h1").textContent')).toBe("⚠️ needs review (4 findings) — pgstack review of stack dev");
  });

  it("draws one SVG per diagram with one entity node per table, labelled with the table's name", async () => {
    // Strings, not functions: the project compiles without the DOM library.
    const diagrams = (await page.evaluate(`[...document.querySelectorAll("pre.mermaid")].map((pre) => ({
        tables: Number(pre.dataset.tables),
        svgs: pre.querySelectorAll("svg").length,
        nodes: pre.querySelectorAll("svg g.node[id*='-entity-']").length,
        labels: [...pre.querySelectorAll("svg g.node .label.name")].map((l) => (l.textContent || "").trim()),
      }))`)) as { tables: number; svgs: number; nodes: number; labels: string[] }[];
    expect(diagrams.map((d) => d.tables)).toEqual([report.databases[0]!.diagram!.tables.length, 2]);
    for (const d of diagrams) {
      expect(d.svgs).toBe(1);
      expect(d.nodes).toBe(d.tables);
    }
    expect(diagrams[0]!.labels.sort()).toEqual(["audit.audit log (added)", "datasets", "document_tags (added)", "documents (changed)", "tags (added)"]);
    expect(diagrams[1]!.labels.sort()).toEqual(["sessions (added)", "users (added)"]);
    expect(AFTER.length).toBe(diagrams[0]!.nodes);
    expect(BEFORE.length).toBeGreaterThan(0);
  });

  it("the Markdown comment's Mermaid blocks parse in the same Mermaid", async () => {
    const blocks = [...renderMarkdown(report).matchAll(/^```mermaid\n([\s\S]*?)\n```$/gm)].map((m) => m[1]);
    expect(blocks).toHaveLength(2);
    const results = (await page.evaluate(
      `Promise.all(${JSON.stringify(blocks)}.map((src) => mermaid.parse(src).then((r) => r && r.diagramType, (e) => "error: " + e.message)))`,
    )) as string[];
    expect(results).toEqual(["er", "er"]);
  });

  it("shows the same sections as the Markdown, SQL collapsed, and writes the screenshot", async () => {
    const text = (await page.evaluate("document.body.innerText")) as string;
    for (const s of ["Database fltr", "Migrations: 4 applied, 1 pending", "squawk/require-concurrent-index-creation", "Data at risk: none found (dev policy: warn).", "Rehearsal: 1 pending migration(s) on a full copy", "✅ ok", "Reset: ⚠️ generation 1 → 2", "Drift:", "Roles and grants:", "Schema after the PR:"]) {
      expect(text).toContain(s);
    }
    expect(await page.evaluate('document.querySelector("details").open')).toBe(false);
    fs.rmSync(SCREENSHOT, { force: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const png = fs.readFileSync(SCREENSHOT);
    expect(png.subarray(1, 4).toString()).toBe("PNG");
    expect(png.length).toBeGreaterThan(20_000);
  });
});
