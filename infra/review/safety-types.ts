/**
 * The data-safety analysis' and the rehearsal's result types, as the "data safety" issue defines
 * them. A local copy until `infra/lifecycle/safety/index.ts` lands; then this whole file becomes
 * `export type { Finding, FindingClass, SafetyReport, RehearsalReport, RehearsalStep } from "../lifecycle/safety/index.js";`
 */

/** What kind of risk a finding is about. */
export type FindingClass = "data-loss" | "cast-failure" | "fk-orphans" | "not-null" | "duplicates" | "rename" | "lint";

/** One finding about a pending migration, located in its file. */
export interface Finding {
  rule: string;
  class: FindingClass;
  file: string;
  line: number;
  column: number;
  message: string;
  safeAlternative: string;
  table?: string;
  rows?: { count: number; exact: boolean };
  acknowledged?: { reason: string };
}

/** One migration run in the rehearsal. */
export interface RehearsalStep {
  name: string;
  file: string;
  status: string;
  error?: string;
  durationMs: number;
  rowsAffected: number;
  schemaChange: string[];
}

/** The pending migrations run against a copy of the database. */
export interface RehearsalReport {
  database: string;
  method: string;
  steps: RehearsalStep[];
  durationMs: number;
  cloneDropped: boolean;
}

/** The safety analysis of one database's pending migrations. */
export interface SafetyReport {
  database: string;
  pending: { name: string; file: string }[];
  findings: Finding[];
  verdict: "safe" | "warn" | "refuse";
  refusals: Finding[];
  rehearsal?: RehearsalReport;
}
