/**
 * `npm run diff -- <stackA> <stackB> [--db <name>]`: the runbook's `diff` of two environments'
 * `pg_dump --schema-only`, per object. For each database of the two stacks (paired by migrations
 * folder) it compares the declared schemas and the live ones, prints every difference, and exits
 * 0 when all are equal, 1 when something differs, 2 on a usage error or when it cannot compare
 * (as diff(1) does). Secrets come from the stacks' config through the scripts' backend and are
 * never printed.
 */
import { loadSqlParser, toPgstackError, UsageError, type Logger } from "../infra/lifecycle/index.js";
import { comparePair, pairDatabases } from "./diff/compare.js";
import { loadDiffStack, pulumiSecretReader } from "./diff/stacks.js";
import { projectRoot } from "./pulumi-env.js";

const USAGE = "usage: npm run diff -- <stackA> <stackB> [--db <database>]";

/** The parsed command line. */
export interface DiffArgs {
  stacks: [string, string];
  db?: string;
}

/** Parses `<stackA> <stackB> [--db <name>]`; throws {@link UsageError}. */
export function parseDiffArgs(argv: readonly string[]): DiffArgs {
  const positional: string[] = [];
  let db: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--db") {
      db = argv[++i];
      if (!db || db.startsWith("-")) throw new UsageError(`--db needs a database name\n${USAGE}`);
    } else if (arg.startsWith("--db=")) db = arg.slice(5);
    else if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}\n${USAGE}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new UsageError(`expected two stacks, got ${positional.length}\n${USAGE}`);
  const [a = "", b = ""] = positional;
  if (a === b) throw new UsageError(`both stacks are "${a}": name two different stacks\n${USAGE}`);
  return { stacks: [a, b], ...(db !== undefined ? { db } : {}) };
}

/** Runs the comparison and returns the exit code; output goes to `out`, progress to `log`. */
export async function runDiff(argv: readonly string[], opts: { root?: string; out?: (s: string) => void; err?: (s: string) => void; log?: Logger } = {}): Promise<number> {
  const root = opts.root ?? projectRoot;
  const out = opts.out ?? ((s: string) => process.stdout.write(s));
  const log = opts.log ?? { info: (m: string) => process.stderr.write(`[diff] ${m}\n`), warn: (m: string) => process.stderr.write(`[diff] warning: ${m}\n`) };
  try {
    const args = parseDiffArgs(argv);
    const secrets = pulumiSecretReader(root);
    const [a, b] = args.stacks.map((s) => loadDiffStack(root, s, secrets)) as [ReturnType<typeof loadDiffStack>, ReturnType<typeof loadDiffStack>];
    const pairs = pairDatabases(a, b, args.db);
    await loadSqlParser();
    let different = false;
    for (const pair of pairs) {
      const r = await comparePair(root, a, b, pair, log);
      different ||= r.different;
      out(`${r.title}\n${r.lines.map((l) => `  ${l}\n`).join("")}`);
    }
    out(different ? `stacks "${a.name}" and "${b.name}" differ\n` : `stacks "${a.name}" and "${b.name}" are equal\n`);
    return different ? 1 : 0;
  } catch (err) {
    (opts.err ?? ((s: string) => process.stderr.write(s)))(`error: ${toPgstackError(err, "npm run diff").message}\n`);
    return 2;
  }
}

if (require.main === module) {
  void runDiff(process.argv.slice(2)).then((code) => process.exit(code));
}
