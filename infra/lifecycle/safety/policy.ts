/**
 * The safety policy: profile defaults and the verdict over findings.
 *
 * Profiles: `prod` refuses any data loss, any cast failure, any foreign key, NOT NULL or unique
 * index that would fail on the live rows, and any statement that reaches beyond the database
 * (`privilege`: roles, databases, server settings, SET ROLE, COPY … PROGRAM, dblink); renames
 * and lint warn. `dev` warns on all of
 * them. Which profile a database gets is decided in the config (see `safetyPolicyOf` there).
 */
import type { Finding, FindingClass, PolicyMode, SafetyPolicy, Verdict } from "./types.js";

/** The policy keys by finding class. */
export const POLICY_KEY: Record<FindingClass, keyof Pick<SafetyPolicy, "dataLoss" | "castFailure" | "fkOrphans" | "notNull" | "duplicates" | "rename" | "privilege" | "lint">> = {
  "data-loss": "dataLoss",
  "cast-failure": "castFailure",
  "fk-orphans": "fkOrphans",
  "not-null": "notNull",
  duplicates: "duplicates",
  rename: "rename",
  privilege: "privilege",
  lint: "lint",
};

/** The defaults of each profile. */
export const PROFILES: Record<"prod" | "dev", SafetyPolicy> = {
  prod: {
    profile: "prod",
    dataLoss: "refuse",
    castFailure: "refuse",
    fkOrphans: "refuse",
    notNull: "refuse",
    duplicates: "refuse",
    rename: "warn",
    privilege: "refuse",
    lint: "warn",
    rehearsal: false,
    exactCountBelow: 100_000,
    statementTimeout: "30s",
  },
  dev: {
    profile: "dev",
    dataLoss: "warn",
    castFailure: "warn",
    fkOrphans: "warn",
    notNull: "warn",
    duplicates: "warn",
    rename: "warn",
    privilege: "warn",
    lint: "warn",
    rehearsal: true,
    exactCountBelow: 100_000,
    statementTimeout: "30s",
  },
};

/** The mode the policy gives a finding's class. */
export function modeOf(policy: SafetyPolicy, finding: Finding): PolicyMode {
  return policy[POLICY_KEY[finding.class]];
}

/**
 * Whether a finding puts something at risk. Measured classes only do when rows are affected (a
 * DROP of an empty table loses nothing) or when the rows could not be counted; renames and lint
 * always do. A count taken before an earlier write of the same batch is a guide, not a proof, so
 * it warns but does not refuse.
 */
export function atRisk(f: Finding): boolean {
  if (f.class === "rename" || f.class === "privilege" || f.class === "lint") return true;
  return f.rows === undefined || f.rows.count > 0;
}

/** Applies the policy: drops `off` findings, and returns the verdict and the refusals. */
export function judge(findings: readonly Finding[], policy: SafetyPolicy): { findings: Finding[]; verdict: Verdict; refusals: Finding[] } {
  const kept = findings.filter((f) => modeOf(policy, f) !== "off");
  const refusals = kept.filter((f) => !f.acknowledged && atRisk(f) && !f.stale && modeOf(policy, f) === "refuse");
  const warns = kept.filter((f) => !f.acknowledged && atRisk(f) && !refusals.includes(f));
  const verdict: Verdict = refusals.length > 0 ? "refuse" : warns.length > 0 ? "warn" : "safe";
  return { findings: kept, verdict, refusals };
}
