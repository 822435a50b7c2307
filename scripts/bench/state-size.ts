/**
 * stateBytes: the stack state file of one database with S applied migrations (2,000) shaped like
 * a real history (one in ten creates a table), after the next `up` (an up keeps the SQL of the
 * batch it applied until then). The bytes are broken down by resource, as the profile.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import type { TestServer } from "../../test/support/postgres.js";
import { benchDatabase, benchProject } from "./engine.js";
import { writeHistoryFiles } from "./generate.js";
import type { BenchOptions } from "./options.js";
import { progress, since, verdict } from "./stats.js";

export const STATE_BYTES_GOAL = 1_000_000;

export async function benchStateSize(_admin: pg.Client, server: TestServer, tmp: string, opts: BenchOptions): Promise<{ lines: string[]; summary: Record<string, unknown> }> {
  const s = opts.stateMigrations;
  const p = benchProject(tmp, "state-size");
  const name = "benchstate";
  writeHistoryFiles(path.join(p.dir, "migrations", name), 1, s);
  await p.initStack("state", server.admin, [benchDatabase(name)]);
  const started = performance.now();
  await p.pulumi(["up", "--stack", "state", "--yes", "--skip-preview"]);
  const afterBatch = p.stateBytes("state");
  progress(`state: ${s} migrations applied in one up (${since(started).toFixed(1)} s, not timed); state ${afterBatch} bytes`);
  await p.pulumi(["up", "--stack", "state", "--yes", "--skip-preview"]);
  const bytes = p.stateBytes("state");
  const byType = breakdown(p.statePath("state"));
  const top = Object.entries(byType).sort((a, b) => b[1] - a[1]).slice(0, 5);
  return {
    lines: [
      `stateBytes — state file with ${s} applied migrations (${Math.ceil(s / 10)} tables): ${bytes} bytes; goal ≤ ${STATE_BYTES_GOAL}: ${verdict(bytes <= STATE_BYTES_GOAL)}`,
      `  by resource: ${top.map(([t, b]) => `${t} ${b}`).join(", ")}`,
      `  info: right after the up that applied all ${s} in one batch (its SQL kept until the next up): ${afterBatch} bytes`,
    ],
    summary: { stateMigrations: s, stateBytes: bytes, stateBytesAfterBatch: afterBatch, stateBytesByResource: byType, stateBytesMet: bytes <= STATE_BYTES_GOAL },
  };
}

/** Bytes of each resource's entry in the state file (as the file writes it), by type. */
function breakdown(file: string): Record<string, number> {
  const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { checkpoint?: { latest?: { resources?: { type: string }[] } } };
  const out: Record<string, number> = {};
  for (const r of doc.checkpoint?.latest?.resources ?? []) {
    const type = r.type.split(/[:/]/).at(-1) ?? r.type;
    out[type] = (out[type] ?? 0) + Buffer.byteLength(JSON.stringify(r, null, 4));
  }
  return out;
}
