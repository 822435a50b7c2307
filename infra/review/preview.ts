/**
 * Reading `pulumi preview --json`: Pulumi's change summary, its error diagnostics, and the steps
 * that change roles, memberships, schemas and grants, each described in a line a reviewer reads.
 */
import type { AccessChange } from "./model.js";

/** One step of `pulumi preview --json` (the fields pgstack reads). */
export interface PreviewStep {
  op: string;
  urn: string;
  oldState?: { type?: string; inputs?: Record<string, unknown>; parent?: string };
  newState?: { type?: string; inputs?: Record<string, unknown>; parent?: string };
  diffReasons?: string[];
}

/** The document `pulumi preview --json` prints. */
export interface PreviewJson {
  steps?: PreviewStep[];
  changeSummary?: Record<string, number>;
  diagnostics?: { message?: string; severity?: string; urn?: string }[];
}

/** The access-related resource types, by the kind the report names them. */
const ACCESS_TYPES: Record<string, string> = {
  "postgresql:index/role:Role": "Role",
  "postgresql:index/grant:Grant": "Grant",
  "postgresql:index/defaultPrivileges:DefaultPrivileges": "DefaultPrivileges",
  "postgresql:index/grantRole:GrantRole": "GrantRole",
  "pulumi-nodejs:dynamic/pgstack:OwnerMembership": "OwnerMembership",
  "postgresql:index/schema:Schema": "Schema",
};

/** The name part of a URN (`…::fltr-role-fltr_app` → `fltr-role-fltr_app`). */
export function urnName(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

/** Secret values show as `[secret]`, whatever form the JSON gives them. */
function show(v: unknown): string {
  if (v === undefined || v === null || v === "") return "—";
  if (typeof v === "object" && !Array.isArray(v) && "4dabf18193072939515e22adb298388d" in (v as object)) return "[secret]";
  if (Array.isArray(v)) return v.length ? [...v].map(show).sort().join(", ") : "none";
  return String(v);
}

/** What the step does to the object, in one line. */
function describe(kind: string, step: PreviewStep): string {
  const inputs = step.newState?.inputs ?? step.oldState?.inputs ?? {};
  const old = step.oldState?.inputs ?? {};
  const i = (k: string) => show(inputs[k]);
  let what: string;
  if (kind === "Role") what = `role ${i("name")}${inputs["login"] === true ? " (login)" : ""}`;
  else if (kind === "Grant") {
    what = inputs["objectType"] === "schema" ? `${i("privileges")} on schema ${i("schema")} to ${i("role")}` : `${i("privileges")} on every ${i("objectType")} in schema ${i("schema")} to ${i("role")}`;
  }
  else if (kind === "DefaultPrivileges") what = `default ${i("privileges")} on new ${i("objectType")}s in schema ${i("schema")} to ${i("role")} (created by ${i("owner")})`;
  else if (kind === "GrantRole") what = `${i("role")} is a member of ${i("grantRole")}`;
  else if (kind === "OwnerMembership") what = `the admin is a member of ${i("owner")} (INHERIT, SET)`;
  else what = `schema ${i("name")} (owner ${i("owner")})`;
  const changed = (step.diffReasons ?? []).filter((k) => !k.startsWith("__"));
  if (step.op === "update" || step.op === "replace") {
    const diffs = changed.map((k) => (k === "password" ? "password changed" : `${k}: ${show(old[k])} → ${show(inputs[k])}`));
    return diffs.length ? `${what}; ${diffs.join("; ")}` : what;
  }
  return what;
}

/**
 * The access changes in the preview, by database. The database is the name of the step's parent
 * component (the PostgresDatabase); steps without one are matched by the `<database>-` prefix.
 */
export function accessChanges(preview: PreviewJson, databases: readonly string[]): Map<string, AccessChange[]> {
  const byDb = new Map<string, AccessChange[]>(databases.map((d) => [d, []]));
  const steps = preview.steps ?? [];
  const replaced = new Set(steps.filter((s) => s.op === "replace").map((s) => s.urn));
  const byLength = [...databases].sort((a, b) => b.length - a.length);
  for (const s of steps) {
    if (s.op === "same" || s.op === "read" || s.op === "refresh") continue;
    if ((s.op === "create-replacement" || s.op === "delete-replaced") && replaced.has(s.urn)) continue;
    const type = s.newState?.type ?? s.oldState?.type ?? "";
    const kind = ACCESS_TYPES[type];
    if (!kind) continue;
    const name = urnName(s.urn);
    const parent = s.newState?.parent ?? s.oldState?.parent;
    const db = (parent && byDb.has(urnName(parent)) ? urnName(parent) : undefined) ?? byLength.find((d) => name.startsWith(`${d}-`));
    if (db === undefined) continue;
    byDb.get(db)?.push({ op: s.op, kind, resource: name, summary: describe(kind, s) });
  }
  for (const list of byDb.values()) list.sort((a, b) => (a.resource < b.resource ? -1 : a.resource > b.resource ? 1 : 0));
  return byDb;
}

/** Pulumi's change summary; counted from the steps when the document has none (a failed preview). */
export function changeSummary(preview: PreviewJson): Record<string, number> {
  if (preview.changeSummary) return { ...preview.changeSummary };
  const out: Record<string, number> = {};
  for (const s of preview.steps ?? []) out[s.op] = (out[s.op] ?? 0) + 1;
  return out;
}

/** The error diagnostics, one per line (empty when there are none). */
export function previewErrors(preview: PreviewJson): string {
  return (preview.diagnostics ?? [])
    .filter((d) => d.severity === "error" && d.message)
    .map((d) => `${d.urn ? `${urnName(d.urn)}: ` : ""}${(d.message ?? "").trim()}`)
    .join("\n");
}
