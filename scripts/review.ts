/**
 * `npm run review -- -s <stack> [--out report.md] [--html report.html] [--json report.json]`:
 * what a pull request will do to each database of a stack. Runs `pulumi preview --json` (the
 * real CLI, the local file backend unless PULUMI_BACKEND_URL says otherwise) together with
 * pgstack's own plan (pending migrations, their data-safety analysis and rehearsal under the
 * stack's policy, reset, drift, the schema after the PR) and writes a
 * report: Markdown for a PR comment, a self-contained HTML page, or the JSON model.
 * Exit code: 0 safe, 1 needs review, 2 refused by policy, 3 the review itself failed.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";
import { migrationsDir, namespaceKeys, parseStackKeys, safetyPolicyOf } from "../infra/config.js";
import { readDevPassword } from "../infra/devserver.js";
import { loadMigrations, loadSqlParser, toPgstackError, UsageError, type ConnectionOptions } from "../infra/lifecycle/index.js";
import { loadMermaidBundle, renderHtml } from "../infra/review/html.js";
import { renderMarkdown } from "../infra/review/markdown.js";
import type { DatabaseReview, ReviewReport } from "../infra/review/model.js";
import { planDatabase } from "../infra/review/plan.js";
import { accessChanges, changeSummary } from "../infra/review/preview.js";
import { computeVerdict, EXIT_CODES, verdictLine } from "../infra/review/verdict.js";
import { start } from "./devdb.js";
import { projectRoot, workingStackFile } from "./pulumi-env.js";
import { parseReviewArgs } from "./review/args.js";
import { pulumiRunner, configSecret, runPreview, verifiedStates } from "./review/pulumi.js";

const log = (m: string) => process.stderr.write(`[review] ${m}\n`);
const logger = { info: (m: string) => log(m), warn: (m: string) => log(`warning: ${m}`) };

/** Builds the report for one stack. */
export async function review(stack: string, options: { maxDiagramTables?: number } = {}): Promise<ReviewReport> {
  log(`1/5 stack config (Pulumi.${stack}.yaml) and the Pulumi toolchain`);
  if (!fs.existsSync(path.join(projectRoot, `Pulumi.${stack}.yaml`))) {
    const known = fs.readdirSync(projectRoot).flatMap((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1] ?? []);
    throw new UsageError(`there is no stack file Pulumi.${stack}.yaml`, `pick one of this project's stacks with -s <stack>: ${known.join(", ") || "none"}`);
  }
  const configFile = workingStackFile(stack);
  const doc = (yaml.load(fs.readFileSync(configFile, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config = parseStackKeys(namespaceKeys(doc.config), stack);
  const p = pulumiRunner(stack, configFile);
  const names = config.databases.map((d) => d.name);

  log("2/5 the stack's state: the schema each database was last verified with");
  const verified = verifiedStates(p, names);
  if (config.server.embedded) await start(stack);
  const password = config.server.embedded ? readDevPassword(projectRoot, stack) : configSecret(p, config.server.adminPasswordSecret);
  const admin: ConnectionOptions = { host: config.server.host, port: config.server.port, user: config.server.adminUser, password, database: "postgres", sslmode: config.server.sslmode };

  log(`3/5 pulumi preview --json --stack ${stack}`);
  const { preview, error: previewError } = runPreview(p);
  if (previewError) log(`pulumi preview failed; the report includes its diagnostics`);

  log("4/5 pgstack's plan per database");
  await loadSqlParser();
  const access = accessChanges(preview, names);
  const databases: DatabaseReview[] = [];
  for (const [index, db] of config.databases.entries()) {
    const migrations = (await loadMigrations(path.join(projectRoot, migrationsDir(db)))).map((m) => ({ ...m, file: path.relative(projectRoot, m.file) }));
    const plan = await planDatabase({
      stack,
      index,
      db,
      admin,
      migrations,
      verified: verified.get(db.name),
      policy: safetyPolicyOf(config, db),
      maxDiagramTables: options.maxDiagramTables,
      logger,
    });
    databases.push({ ...plan, access: access.get(db.name) ?? [] });
  }
  return {
    stack,
    generatedAt: new Date().toISOString(),
    changeSummary: changeSummary(preview),
    previewError,
    databases,
    verdict: computeVerdict(databases, previewError),
  };
}

async function main(): Promise<number> {
  const args = parseReviewArgs(process.argv.slice(2));
  const report = await review(args.stack, { maxDiagramTables: args.maxDiagramTables });
  log("5/5 writing the report");
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, text);
    log(`wrote ${file}`);
  };
  const markdown = renderMarkdown(report, { maxChars: args.maxChars });
  if (args.out) write(args.out, markdown);
  if (args.html) write(args.html, renderHtml(report, loadMermaidBundle()));
  if (args.json) write(args.json, `${JSON.stringify(report, null, 2)}\n`);
  if (!args.out && !args.html && !args.json) process.stdout.write(markdown);
  log(`verdict: ${verdictLine(report.verdict)}`);
  return EXIT_CODES[report.verdict.level];
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      // A PgstackError's message, never a stack trace; an unexpected error as an internal one.
      log(`error: ${toPgstackError(err, "npm run review").message}`);
      process.exit(3);
    },
  );
}
