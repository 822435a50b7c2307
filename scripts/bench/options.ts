/** The bench's command line: the ONE parser for every measure in `scripts/bench/`. */

/** Command-line settings of a bench run. */
export interface BenchOptions {
  /** Timed rounds per measure (a warm-up round comes on top where the measure has one). */
  rounds: number;
  /** Migration files in the apply and engine-up measures (the issue's N: 500). */
  migrations: number;
  /** Tables in the introspection database, and those the drift measure's migrations create (2,000). */
  tables: number;
  /** Applied migrations per database in the no-op preview measure (500). */
  previewMigrations: number;
  /** Databases in the no-op preview stack (4). */
  previewDatabases: number;
  /** Applied migrations in the state-size measure (2,000). */
  stateMigrations: number;
  /** Pending migrations in the safety measure (500). */
  safetyMigrations: number;
  /** Migration files in the drift measure, creating {@link tables} tables between them (500). */
  driftMigrations: number;
  /** Migrations that built the adopted database in the adopt measure (100). */
  adoptMigrations: number;
  /** Databases in the scale measure's big stack, previewed against a 1-database stack (50). */
  scaleDatabases: number;
  /** Only these modules (see {@link MODULES}); all when empty. */
  only: Module[];
  /** `--quick`: smaller N and one round, to check the bench runs (figures are not the issue's). */
  quick: boolean;
}

/** The numeric settings, each set by one flag. */
type SizeKey = Exclude<keyof BenchOptions, "only" | "quick">;

const DEFAULTS: BenchOptions = {
  rounds: 3,
  migrations: 500,
  tables: 2000,
  previewMigrations: 500,
  previewDatabases: 4,
  stateMigrations: 2000,
  safetyMigrations: 500,
  driftMigrations: 500,
  adoptMigrations: 100,
  scaleDatabases: 50,
  only: [],
  quick: false,
};
const QUICK: Partial<BenchOptions> = { rounds: 1, migrations: 100, tables: 300, previewMigrations: 100, stateMigrations: 300, safetyMigrations: 100, driftMigrations: 50, adoptMigrations: 30, scaleDatabases: 5 };

/** The modules (one file each in `scripts/bench/`), in the order they run. */
export const MODULES = ["apply", "introspect", "engine", "preview", "devpreview", "state", "safety", "drift", "adopt", "scale"] as const;
/** One module of {@link MODULES}. */
export type Module = (typeof MODULES)[number];

/**
 * The sizes each module reads: `--quick` makes every one of them small (`previewDatabases`
 * stays 4: the measure compares 4 databases × N with × 1, whatever N).
 */
export const MODULE_SIZES: Record<Module, readonly SizeKey[]> = {
  apply: ["rounds", "migrations"],
  introspect: ["rounds", "tables"],
  engine: ["rounds", "migrations"],
  preview: ["rounds", "previewMigrations"],
  devpreview: ["rounds"],
  state: ["stateMigrations"],
  safety: ["rounds", "safetyMigrations"],
  drift: ["rounds", "driftMigrations", "tables"],
  adopt: ["rounds", "adoptMigrations"],
  scale: ["rounds", "scaleDatabases"],
};

const FLAGS: Record<string, SizeKey> = {
  "--rounds": "rounds",
  "--migrations": "migrations",
  "--tables": "tables",
  "--preview-migrations": "previewMigrations",
  "--preview-databases": "previewDatabases",
  "--state-migrations": "stateMigrations",
  "--safety-migrations": "safetyMigrations",
  "--drift-migrations": "driftMigrations",
  "--adopt-migrations": "adoptMigrations",
  "--scale-databases": "scaleDatabases",
};

/** The flags, for messages and the README. */
export const USAGE = `--quick, --only ${MODULES.join(",")}, ${Object.keys(FLAGS)
  .map((f) => `${f} N`)
  .join(", ")}`;

/** A command line the bench refuses: the message says what is accepted. */
export class BenchArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BenchArgumentError";
  }
}

/**
 * Parses `--quick`, `--only a,b` and the size flags of {@link FLAGS} (also `--flag=N`).
 * `--quick` sets small defaults first; explicit flags still win. Anything else is refused.
 */
export function parseArgs(argv: readonly string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const opts: BenchOptions = { ...DEFAULTS, ...(quick ? QUICK : {}), quick, only: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--quick") continue;
    const [flag, inline] = arg.includes("=") ? (arg.split("=", 2) as [string, string]) : [arg, undefined];
    if (flag === "--only") {
      const raw = inline ?? argv[++i] ?? "";
      const names = raw.split(",").filter(Boolean);
      if (names.length === 0) throw new BenchArgumentError(`--only needs one or more of ${MODULES.join(", ")}`);
      for (const m of names) {
        if (!(MODULES as readonly string[]).includes(m)) throw new BenchArgumentError(`--only: unknown module "${m}" (known modules: ${MODULES.join(", ")})`);
        if (!opts.only.includes(m as Module)) opts.only.push(m as Module);
      }
      continue;
    }
    const key = FLAGS[flag];
    if (!key) throw new BenchArgumentError(`unknown argument "${arg}" (expected ${USAGE})`);
    const raw = inline ?? argv[++i];
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new BenchArgumentError(`${flag} needs a positive integer, got "${raw ?? ""}"`);
    opts[key] = value;
  }
  if (selected(opts, "drift") && opts.tables < opts.driftMigrations) {
    throw new BenchArgumentError(`--tables (${opts.tables}) must be at least --drift-migrations (${opts.driftMigrations}): each drift migration creates one or more tables`);
  }
  return opts;
}

/** Whether `module` runs under these options. */
export function selected(opts: BenchOptions, module: Module): boolean {
  return opts.only.length === 0 || opts.only.includes(module);
}
