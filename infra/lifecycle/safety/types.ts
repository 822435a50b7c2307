/**
 * The data-safety analysis of pending migrations: findings, the policy that judges them and the
 * report shown in `pulumi preview`. Shared by the lint, the live measurements and the provider.
 */

/** What a finding is about; each class has its own policy setting. */
export type FindingClass = "data-loss" | "cast-failure" | "fk-orphans" | "not-null" | "duplicates" | "rename" | "privilege" | "lint";

/** Every finding class, in report order. */
export const FINDING_CLASSES: readonly FindingClass[] = ["data-loss", "cast-failure", "fk-orphans", "not-null", "duplicates", "rename", "privilege", "lint"];

/** Row counts: exact (`count(*)`) or an estimate (shown with `~`). */
export interface RowCount {
  count: number;
  exact: boolean;
}

/** One problem found in a pending migration. */
export interface Finding {
  /** A stable rule id: `pgstack/drop-table`, or squawk's (`squawk/adding-required-field`). */
  rule: string;
  class: FindingClass;
  /** The migration file, as loaded (relative to the project in a Pulumi run). */
  file: string;
  /** 1-based line and column of the statement (or of squawk's finding). */
  line: number;
  column: number;
  /** One line: what is at risk. */
  message: string;
  /** What to do instead (expand/contract steps, NOT VALID + VALIDATE, …). */
  safeAlternative: string;
  /** The table concerned, as written in the migration (`schema.name` or `name`). */
  table?: string;
  /**
   * The object concerned when it is not a table (`privilege` findings: a role, a database, a
   * server, or the statement such as `RESET ROLE`): what an acknowledgement names.
   */
  subject?: string;
  /** The rows at risk on the live database; absent when not measured (see `note`). */
  rows?: RowCount;
  /** Set when a `-- pgstack:accept` line before the statement covers this finding. */
  acknowledged?: { reason: string };
  /** Why the count is missing or may be off (not measured, measured before an earlier write of the batch). */
  note?: string;
  /** True when an earlier statement of the batch changes the table's data, so the live count is only a guide. */
  stale?: boolean;
}

/** The outcome of the policy over all findings. */
export type Verdict = "safe" | "warn" | "refuse";

/** What the policy does with a finding class. */
export type PolicyMode = "refuse" | "warn" | "off";

/** The policy per finding class, plus the analysis settings. */
export interface SafetyPolicy {
  /** Which profile the defaults came from (`prod` or `dev`), for the report. */
  profile: "prod" | "dev";
  dataLoss: PolicyMode;
  castFailure: PolicyMode;
  fkOrphans: PolicyMode;
  notNull: PolicyMode;
  duplicates: PolicyMode;
  rename: PolicyMode;
  /**
   * Statements that reach beyond the database: `SET ROLE`/`RESET ROLE`, `SET SESSION
   * AUTHORIZATION`, role and database DDL, `ALTER SYSTEM`, `COPY … PROGRAM` or a server file,
   * dblink and postgres_fdw connections.
   */
  privilege: PolicyMode;
  lint: PolicyMode;
  /** Whether preview rehearses the pending migrations on a throwaway copy of the database. */
  rehearsal: boolean;
  /** Tables estimated below this many rows are counted exactly; above it, an estimate (`~`). */
  exactCountBelow: number;
  /** `statement_timeout` of each measurement query, a Postgres duration such as `30s`. */
  statementTimeout: string;
}

/** The report for one database. */
export interface SafetyReport {
  database: string;
  /** The pending migrations, in order. */
  pending: { name: string; file: string }[];
  /** Findings the policy does not turn off, in file order. */
  findings: Finding[];
  verdict: Verdict;
  /** The findings that refuse the run (subset of `findings`). */
  refusals: Finding[];
  /** The rehearsal's report, or why it did not run. */
  rehearsal?: unknown | { skipped: string };
  /** Which policy judged it (profile name). */
  profile?: "prod" | "dev";
  /** Acknowledgements that matched no finding (stale or mistyped), as `file:line`. */
  unusedAcknowledgements?: string[];
  /** One line when the database is being adopted: how many migrations adoption records without running (not judged), or why it refuses. */
  adoption?: string;
  /** How the database was read: live, or not reachable yet (everything pending on an empty database). */
  target?: "live" | "empty";
}
