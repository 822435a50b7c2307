/** The bench's command line. */

/** Command-line settings of a bench run. */
export interface BenchOptions {
  /** Timed rounds per measure (a warm-up round comes on top where the measure has one). */
  rounds: number;
  /** Migration files in the apply and engine-up measures (the N: 500). */
  migrations: number;
  /** Tables in the introspection database. */
  tables: number;
  /** Applied migrations per database in the no-op preview measure (500). */
  previewMigrations: number;
  /** Databases in the no-op preview stack (4). */
  previewDatabases: number;
  /** Applied migrations in the state-size measure (2,000). */
  stateMigrations: number;
  /** Only these measures (`apply`, `introspect`, `engine`, `preview` (also RSS), `state`, `extra`); all when empty. */
  only: string[];
  /** `--quick`: smaller N and one round, to check the bench runs (figures are not the issue's). */
  quick: boolean;
}

const DEFAULTS: BenchOptions = { rounds: 3, migrations: 500, tables: 2000, previewMigrations: 500, previewDatabases: 4, stateMigrations: 2000, only: [], quick: false };
const QUICK: Partial<BenchOptions> = { rounds: 1, migrations: 100, tables: 300, previewMigrations: 100, stateMigrations: 300 };

/** The measures, in the order they run. */
export const MEASURES = ["apply", "introspect", "engine", "preview", "state", "extra"] as const;

/**
 * Parses `--rounds N`, `--migrations N`, `--tables N`, `--preview-migrations N`,
 * `--preview-databases N`, `--state-migrations N`, `--only a,b` and `--quick` (also `--flag=N`).
 * `--quick` sets small defaults first; explicit flags still win.
 */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const opts: BenchOptions = { ...DEFAULTS, ...(quick ? QUICK : {}), quick, only: [] };
  const keys: Record<string, Exclude<keyof BenchOptions, "only" | "quick">> = {
    "--rounds": "rounds",
    "--migrations": "migrations",
    "--tables": "tables",
    "--preview-migrations": "previewMigrations",
    "--preview-databases": "previewDatabases",
    "--state-migrations": "stateMigrations",
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--quick") continue;
    const [flag, inline] = arg.includes("=") ? (arg.split("=", 2) as [string, string]) : [arg, undefined];
    if (flag === "--only") {
      const raw = inline ?? argv[++i] ?? "";
      for (const m of raw.split(",").filter(Boolean)) {
        if (!(MEASURES as readonly string[]).includes(m)) throw new Error(`--only: unknown measure "${m}" (expected ${MEASURES.join(", ")})`);
        opts.only.push(m);
      }
      continue;
    }
    const key = keys[flag];
    if (!key) throw new Error(`unknown argument "${arg}" (expected --quick, --only ${MEASURES.join(",")}, or ${Object.keys(keys).join(" N, ")} N)`);
    const raw = inline ?? argv[++i];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} needs a positive integer, got "${raw ?? ""}"`);
    opts[key] = value;
  }
  return opts;
}

/** Whether `measure` runs under these options. */
export function selected(opts: BenchOptions, measure: (typeof MEASURES)[number]): boolean {
  return opts.only.length === 0 || opts.only.includes(measure);
}
