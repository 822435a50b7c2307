/** `npm run review` arguments. */
import { parseArgs } from "node:util";

/** Parsed arguments. */
export interface ReviewArgs {
  stack: string;
  out?: string;
  html?: string;
  json?: string;
  maxDiagramTables?: number;
}

export const USAGE = `usage: npm run review -- -s <stack> [--out report.md] [--html report.html] [--json report.json] [--max-diagram-tables N]
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
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
  }
  if (values.help) throw new Error(USAGE);
  if (!values.stack) throw new Error(`the stack is missing: pass -s <stack> (e.g. -s dev)\n${USAGE}`);
  const max = values["max-diagram-tables"];
  if (max !== undefined && !/^[1-9]\d*$/.test(max)) throw new Error(`--max-diagram-tables must be a positive whole number, got "${max}"`);
  return { stack: values.stack, out: values.out, html: values.html, json: values.json, maxDiagramTables: max === undefined ? undefined : Number(max) };
}
