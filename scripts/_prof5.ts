import * as fs from "node:fs"; import * as os from "node:os"; import * as path from "node:path";
import { startTestServer } from "../test/support/postgres.js";
import { devStack, trivialProject } from "./bench/dev-preview.js";
async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "p5-"));
  const server = await startTestServer();
  const prof = path.join(tmp, "prof.jsonl");
  process.env["PGSTACK_PROFILE"] = prof;
  try {
    const { project: dev } = await devStack(tmp, server);
    const triv = trivialProject(tmp, "triv", 38);
    await triv.pulumi(["stack", "init", "t"]); await triv.pulumi(["up", "--stack", "t", "--yes", "--skip-preview"]);
    for (let r = 0; r < 3; r++) {
      fs.rmSync(prof, { force: true });
      const t0 = Date.now();
      // env is captured at benchProject creation; pass via a wrapper
      const run = await dev.pulumi(["preview", "--stack", "dev", "--expect-no-changes"]);
      const tr = await triv.pulumi(["preview", "--stack", "t", "--expect-no-changes"]);
      console.log(`round ${r}: dev ${run.seconds.toFixed(2)} s, trivial ${tr.seconds.toFixed(2)} s`);
      if (fs.existsSync(prof)) {
        const lines = fs.readFileSync(prof, "utf8").trim().split("\n").map((l) => JSON.parse(l));
        const byKey = new Map<string, { n: number; ms: number; max: number }>();
        for (const l of lines) { const k = `${l.kind}.${l.method}`; const e = byKey.get(k) ?? { n: 0, ms: 0, max: 0 }; e.n++; e.ms += l.ms; e.max = Math.max(e.max, l.ms); byKey.set(k, e); }
        const first = Math.min(...lines.map((l) => l.start)); const last = Math.max(...lines.map((l) => l.start + l.ms));
        console.log(`  from CLI start: first event +${first - t0} ms, last end +${last - t0} ms`);
        for (const l of lines.filter((l) => l.kind === "program")) console.log(`  program.${l.method}: +${l.start - t0} ms .. +${l.start + l.ms - t0} ms`);
        for (const [k, e] of [...byKey].sort((a, b) => b[1].ms - a[1].ms)) console.log(`  ${k}: ${e.n} calls, ${e.ms} ms total, max ${e.max} ms`);
        const prov = lines.filter((l) => l.kind !== "program");
        console.log(`  provider calls span +${Math.min(...prov.map((l) => l.start)) - t0} .. +${Math.max(...prov.map((l) => l.start + l.ms)) - t0} ms`);
      }
    }
  } finally { await server.stop(); }
}
main();
