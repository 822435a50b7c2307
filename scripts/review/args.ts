/** `npm run review` arguments. */
import { parseArgs } from "node:util";
import { UsageError } from "../../infra/lifecycle/errors.js";

/** Parsed arguments. */
export interface ReviewArgs {
  stack: string;
  out?: string;
  html?: string;
  json?: string;
  maxDiagramTables?: number;
  /** The Markdown's size cap (default GitHub's 65,536): a CI posting several stacks in one comment splits it. */
  maxChars?: number;
}

export const USAGE = `usage: npm run review -- -s <stack> [--out report.md] [--html report.html] [--json report.json] [--max-diagram-tables N] [--max-chars N]
  Runs \`pulumi preview --json\` for the stack together with pgstack's own plan and writes a review report.
  Without --out/--html/--json the Markdown goes to stdout.
  Exit code: 0 safe, 1 needs review, 2 refused by policy, 3 the review itself failed.`;

/** Parses argv (without node and the script); throws with the usage on bad input. */
export function parseReviewArgs(argv: string[]): ReviewArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        stack: { type: "string", short: "s" },
        out: { type: "string" },
        html: { type: "string" },
        json: { type: "string" },
        "max-diagram-tables": { type: "string" },
        "max-chars": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  if (values.help) throw new UsageError(USAGE);
  if (!values.stack) throw new UsageError(`the stack is missing: pass -s <stack> (e.g. -s dev)\n${USAGE}`);
  const count = (flag: "max-diagram-tables" | "max-chars", min: number): number | undefined => {
    const v = values[flag];
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${flag} must be a whole number of at least ${min}, got "${v}"`);
    return Number(v);
  };
  return { stack: values.stack, out: values.out, html: values.html, json: values.json, maxDiagramTables: count("max-diagram-tables", 1), maxChars: count("max-chars", 1000) };
}
