/**
 * The review report's model: what `npm run review` found for each database of a stack, before
 * it is rendered as Markdown (a PR comment) or HTML (a page). Plain data, no I/O.
 */

/** The data-safety analysis' and the rehearsal's types, from the core (see `safety-types.ts`). */
export type { Finding, FindingClass, RehearsalReport, RehearsalStep, ReviewRehearsal, RowCount, SafetyReport } from "./safety-types.js";
import type { ReviewRehearsal, SafetyReport } from "./safety-types.js";

/** The report's overall answer. */
export type VerdictLevel = "safe" | "warn" | "refuse";

/** The verdict line and the reasons behind it. */
export interface Verdict {
  level: VerdictLevel;
  /** Everything that needs a reviewer's look (a `warn`), or that refuses (a `refuse`), one sentence each. */
  reasons: string[];
}

/** A migration that `pulumi up` would apply. */
export interface PendingMigration {
  name: string;
  /** Path relative to the project, e.g. `migrations/fltr/0005_add_tags.sql`. */
  file: string;
  sql: string;
  inTransaction: boolean;
}

/** A reset (generation change) that `pulumi up` would run, and what it would cost. */
export interface ResetPlan {
  /** The generation recorded in the database (undefined: never recorded, the reset adopts). */
  fromGeneration?: number;
  toGeneration: number;
  /** `pgstack:databases[i].reset`, for messages. */
  configPath: string;
  allowed: boolean;
  acceptDataLoss: boolean;
  /** `allowed`: up resets. `refused`: up stops before dropping anything (see `reason`). */
  guard: "allowed" | "refused";
  /** Why, in the words the guard itself uses. */
  reason: string;
  /** Every table the reset drops, with its exact row count. */
  tables: { table: string; rows: number }[];
}

/** One change to a role, membership, schema or grant, from `pulumi preview --json`. */
export interface AccessChange {
  /** Pulumi's step op: `create`, `update`, `delete`, `replace`, … */
  op: string;
  /** `Role`, `Grant`, `DefaultPrivileges`, `GrantRole`, `Schema`. */
  kind: string;
  /** The Pulumi resource name, e.g. `fltr-grant-fltr_app-public-tables`. */
  resource: string;
  /** What changes, e.g. `privileges: SELECT → SELECT, INSERT`, `role fltr_ro (login)`. */
  summary: string;
}

/** A table in the ER diagram. */
export interface DiagramTable {
  /** `schema.table`. */
  id: string;
  status: "added" | "changed" | "unchanged";
  /** Key columns (primary and foreign key) and enum columns, in table order. */
  columns: { name: string; type: string; key: ("PK" | "FK")[]; /** An enum column's labels, in order. */ labels?: string[] }[];
}

/** A foreign key edge. */
export interface DiagramRelation {
  /** The referencing table (`schema.table`). */
  from: string;
  /** The referenced table. */
  to: string;
  columns: string[];
  /** True when every FK column is NOT NULL (each row must have a parent). */
  required: boolean;
}

/** The schema after the PR, for the diagram. */
export interface SchemaDiagram {
  tables: DiagramTable[];
  relations: DiagramRelation[];
  /** Tables that exist now and that the PR drops. */
  removed: string[];
  /** Set when only touched tables and their neighbours are shown. */
  partial?: { shown: number; total: number };
  /** The Mermaid `erDiagram` source. */
  mermaid: string;
}

/** Everything the report says about one database. */
export interface DatabaseReview {
  database: string;
  /** Migrations already applied (from pgstack's history in the database). */
  applied: number;
  /** False when the database does not exist yet (up creates it). */
  exists: boolean;
  pending: PendingMigration[];
  /** History problems (edited or missing files): up refuses to migrate. */
  historyProblems: string[];
  /**
   * A database with tables and no pgstack history: how many migrations adoption records as
   * applied without running them (not in `pending`, not judged), or why it refuses.
   */
  adoption?: {
    text: string;
    /** `adopts`: N migrations are recorded without running; `refused`: `up` refuses; `deferred`: it cannot be planned before `up`. */
    status: "adopts" | "refused" | "deferred";
  };
  /**
   * The data-safety analysis of the pending migrations (lint, data at risk, the stack's policy);
   * its `rehearsal` slot is left out (see `rehearsal`). Undefined when it did not run: see
   * `safetySkipped`.
   */
  safety?: SafetyReport;
  /** Why the analysis did not run (nothing pending, history problems). */
  safetySkipped?: string;
  /** The rehearsal on a copy of the database: its report per migration, or why it did not run. */
  rehearsal?: ReviewRehearsal;
  /** Set when the stack asks for a new reset generation. */
  reset?: ResetPlan;
  /** `undefined`: no verified state to compare with (a new stack or database). Empty: in sync. */
  drift?: string[];
  access: AccessChange[];
  /**
   * The schema after the PR against the live one, every kind, one line per object in the schema
   * differ's words (`+ view public.active_users`, `~ function public.f(): body changed`).
   */
  schemaChanges?: string[];
  /** The schema after the PR; `schemaError` says why it is missing. */
  diagram?: SchemaDiagram;
  schemaError?: string;
}

/** The whole report. */
export interface ReviewReport {
  stack: string;
  generatedAt: string;
  /** Pulumi's own count of steps by op, e.g. `{ same: 35, update: 2 }`. */
  changeSummary: Record<string, number>;
  /** Set when `pulumi preview` failed; its diagnostics, as Pulumi printed them. */
  previewError?: string;
  databases: DatabaseReview[];
  verdict: Verdict;
}
