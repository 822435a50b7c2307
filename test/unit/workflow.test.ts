/**
 * The CI workflow users copy (.github/workflows/pgstack-preview.yml): actionlint (built from its
 * Go module by scripts/toolchain.sh --actionlint) accepts it and rejects a broken copy, and it
 * does what the README promises.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import yaml from "js-yaml";
import { beforeAll, describe, expect, it } from "vitest";

const WORKFLOW = path.resolve(".github", "workflows", "pgstack-preview.yml");
let actionlint = "";

/** Runs actionlint on one workflow file; `-no-color` so messages compare as text. */
function lint(file: string): { status: number; output: string } {
  const r = spawnSync(actionlint, ["-no-color", file], { encoding: "utf8" });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  // Cached after the first build (~1 min cold on 2 cores).
  actionlint = execFileSync("bash", ["scripts/toolchain.sh", "--actionlint"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
}, 600_000);

describe("the pgstack-preview workflow", () => {
  it("is the pinned actionlint, and the workflow passes it", () => {
    expect(execFileSync(actionlint, ["-version"], { encoding: "utf8" }).split("\n")[0]).toBe("v1.7.12");
    expect(lint(WORKFLOW)).toEqual({ status: 0, output: "" });
  });

  it("a broken copy fails actionlint, naming each problem", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "pgstack-actionlint-"));
    try {
      const broken = fs
        .readFileSync(WORKFLOW, "utf8")
        .replace("needs: review", "needs: reviews")
        .replace("${{ matrix.stack }}.md", "${{ matrix.stacks }}.md")
        .replace("runs-on: ubuntu-latest\n    timeout-minutes: 60", "timeout-minutes: 60");
      const file = path.join(dir, "broken.yml");
      fs.writeFileSync(file, broken);
      const r = lint(file);
      expect(r.status).toBe(1);
      expect(r.output).toContain('job "comment" needs job "reviews" which does not exist');
      expect(r.output).toContain('property "stacks" is not defined');
      expect(r.output).toContain('"runs-on" section is missing in job "deploy-dev"');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reviews each stack on pull requests into one sticky comment, and runs pulumi up on dev on push to main", () => {
    const wf = yaml.load(fs.readFileSync(WORKFLOW, "utf8")) as {
      on: { pull_request: unknown; push: { branches: string[] } };
      env: Record<string, string>;
      jobs: Record<string, { if?: string; strategy?: { matrix: { stack: string[] } }; steps: { run?: string }[]; permissions?: Record<string, string> }>;
    };
    expect(Object.keys(wf.on)).toEqual(["pull_request", "push"]);
    expect(wf.on.push.branches).toEqual(["main"]);
    expect(wf.env["PULUMI_BACKEND_URL"]).toBe("${{ vars.PULUMI_BACKEND_URL }}");
    expect(wf.env["PULUMI_CONFIG_PASSPHRASE"]).toBe("${{ secrets.PULUMI_CONFIG_PASSPHRASE }}");
    const review = wf.jobs["review"]!;
    expect(review.strategy?.matrix.stack).toEqual(["dev", "prod"]);
    expect(review.steps.map((s) => s.run ?? "").join("\n")).toContain('npm run --silent review -- -s "$STACK" --out "review-$STACK.md"');
    const comment = wf.jobs["comment"]!;
    expect(comment.permissions).toEqual({ "pull-requests": "write" });
    const post = comment.steps.map((s) => s.run ?? "").join("\n");
    expect(post).toContain("marker='<!-- pgstack-preview -->'");
    expect(post).toContain('gh api -X PATCH "repos/$GITHUB_REPOSITORY/issues/comments/$id"');
    const deploy = wf.jobs["deploy-dev"]!;
    expect(deploy.if).toBe("github.event_name == 'push' && github.ref == 'refs/heads/main'");
    expect(deploy.steps.map((s) => s.run ?? "").join("\n")).toContain("pulumi up --stack dev --yes");
  });
});
