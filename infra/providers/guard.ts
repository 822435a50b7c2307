/**
 * The guard against silent take-over: before a stack creates a role or a database, it checks that
 * none of that name exists yet. An existing object that the stack did not create is an error that
 * names it and says how to adopt it; it never ends up in the state, so no destroy can drop it.
 * For the roles the stack does adopt, the preview names each attribute adopting them changes.
 */
import type pg from "pg";
import { serverMajorOf, type ConnectionOptions } from "../lifecycle/index.js";
import { backupClientProblem, findBackupClients } from "../lifecycle/client-tools.js";
import { readServerVersion } from "../lifecycle/connection.js";
import { planAdoptedRoles, type AdoptedRole } from "../lifecycle/roles.js";
import { defineProvider, hasUnknown, logger, providerChanged, withConnection, type Failure } from "./common.js";

/** One object the stack is about to create. */
export interface GuardedObject {
  kind: "role" | "database";
  name: string;
  /** Where it is declared, e.g. `pgstack:databases[0].roles[1]`. */
  configPath: string;
  /** The Pulumi type token and resource name, for the `pulumi import` hint. */
  type: string;
  resourceName: string;
}

/** Inputs of a guard: the admin connection (to `postgres`), the stack, and the objects to create. */
export interface GuardInputs {
  connection: ConnectionOptions;
  stack: string;
  objects: GuardedObject[];
  /** The roles the stack adopts (absent in states written before). */
  adopted?: AdoptedRole[];
  /** Config settings that need a newer PostgreSQL than some servers run (e.g. MAINTAIN needs 17). */
  needs?: VersionNeed[];
  /** The database's pg_dump backup (absent in states written before): its client is checked against the server. */
  backup?: GuardedBackup;
}

/** What decides whether this run takes a backup (the backup resource runs on creation and on each new generation). */
export interface GuardedBackup {
  /** `backup` in the config. */
  enabled: boolean;
  /** The database's config path, e.g. `pgstack:databases[0]`. */
  configPath: string;
  /** The reset generation: a new one replaces the backup resource, which takes a dump. */
  generation: number;
  /** `reset.mode: every-deploy`: every up takes a dump. */
  everyDeploy: boolean;
}

/** A config setting that exists only from a PostgreSQL major version on. */
export interface VersionNeed {
  /** Where it is set, e.g. `pgstack:databases[0].grants[1].tablePrivileges`. */
  configPath: string;
  /** What it is, e.g. `the MAINTAIN privilege`. */
  what: string;
  /** The first major version that has it. */
  major: number;
  /** What to do on an older server. */
  instead: string;
}

/** The objects of `news` that `olds` did not already cover (all of them on first creation). */
function newObjects(olds: Partial<GuardInputs> | undefined, news: GuardInputs): GuardedObject[] {
  const known = new Set((olds?.objects ?? []).map((o) => `${o.kind}:${o.name}`));
  return news.objects.filter((o) => !known.has(`${o.kind}:${o.name}`));
}

/** The subset of `objects` that already exists on the server. */
export async function existingObjects(client: pg.Client, objects: GuardedObject[]): Promise<GuardedObject[]> {
  if (objects.length === 0) return [];
  // pg_roles (not pg_authid) and pg_database are readable by any role: no superuser needed.
  const { rows } = await client.query<{ kind: string; name: string }>(
    `SELECT 'role' AS kind, rolname AS name FROM pg_roles WHERE rolname = ANY($1::text[])
     UNION ALL SELECT 'database', datname FROM pg_database WHERE datname = ANY($2::text[])`,
    [objects.filter((o) => o.kind === "role").map((o) => o.name), objects.filter((o) => o.kind === "database").map((o) => o.name)],
  );
  const found = new Set(rows.map((r) => `${r.kind}:${r.name}`));
  return objects.filter((o) => found.has(`${o.kind}:${o.name}`));
}

/** The refusal for objects that exist but are not the stack's, with how to adopt each. */
export function existingObjectsError(stack: string, server: string, existing: GuardedObject[]): string {
  const lines = existing.map(
    (o) =>
      `  - ${o.kind} "${o.name}" (${o.configPath}): to adopt it, set ${o.configPath}.adopt: true ` +
      `(pgstack then imports it, as \`pulumi import ${o.type} ${o.resourceName} ${o.name} -s ${stack}\` would, and keeps it on destroy)`,
  );
  return (
    `stack "${stack}" would create ${existing.length === 1 ? "an object that already exists" : `${existing.length} objects that already exist`} on ${server}, ` +
    `and pgstack never takes over existing objects silently (a later destroy would drop them):\n${lines.join("\n")}\n` +
    `  → or drop/rename the existing object, or pick another name in Pulumi.${stack}.yaml`
  );
}

async function refuseExisting(olds: Partial<GuardInputs> | undefined, news: GuardInputs): Promise<Failure[]> {
  const candidates = newObjects(olds, news);
  if (candidates.length === 0) return [];
  const existing = await withConnection(news.connection, (c) => existingObjects(c, candidates));
  if (existing.length === 0) return [];
  // No property name: the engine would print the property's value before the reason.
  return [{ property: "", reason: existingObjectsError(news.stack, `${news.connection.host}:${news.connection.port}`, existing) }];
}

/** Logs what adopting each role changes; a role that is missing, or a change the admin may not make, is a failure. */
async function checkAdoptedRoles(olds: Partial<GuardInputs> | undefined, news: GuardInputs): Promise<Failure[]> {
  const roles = news.adopted ?? [];
  if (roles.length === 0) return [];
  const known = new Set((olds?.adopted ?? []).map((r) => r.name));
  const plan = await withConnection(news.connection, (c) => planAdoptedRoles(c, roles, (name) => !known.has(name)));
  for (const line of plan.lines) logger.info(line);
  // No property: the engine would print the whole property value before the reason.
  return plan.problems.map((reason) => ({ property: "", reason }));
}

/** A failure for each setting the server's version does not have, naming its config path and what to do. */
async function checkVersionNeeds(news: GuardInputs): Promise<Failure[]> {
  const needs = news.needs ?? [];
  if (needs.length === 0) return [];
  const major = await withConnection(news.connection, (c) => serverMajorOf(c));
  return needs
    .filter((n) => major < n.major)
    .map((n) => ({ property: "", reason: `${n.configPath}: ${n.what} exists from PostgreSQL ${n.major} on, and ${news.connection.host}:${news.connection.port} runs PostgreSQL ${major}\n  → ${n.instead}` }));
}

/**
 * True when this run takes a backup: the first run (or the first with backups on), a new reset
 * generation, or every deploy (other changes update the backup resource without a dump). A
 * state written before the guard knew of backups has none due.
 */
export function backupDue(olds: Partial<GuardInputs> | undefined, news: GuardInputs): boolean {
  const b = news.backup;
  if (!b?.enabled) return false;
  if (b.everyDeploy || !olds?.objects) return true;
  const o = olds.backup;
  return o !== undefined && (!o.enabled || o.generation !== b.generation);
}

/**
 * The backup's pg_dump (and the pg_restore beside it) against the server's version: refused in
 * three lines (server, client, fix) when this run takes a backup that would fail, so nothing is
 * created; a warning when the next backup (a reset) would.
 */
async function checkBackupClients(olds: Partial<GuardInputs> | undefined, news: GuardInputs): Promise<Failure[]> {
  if (!news.backup?.enabled) return [];
  const [version, clients] = await Promise.all([withConnection(news.connection, readServerVersion), findBackupClients()]);
  const problem = backupClientProblem({ server: `${news.connection.host}:${news.connection.port}`, configPath: news.backup.configPath }, version, clients);
  if (!problem) return [];
  if (!backupDue(olds, news)) {
    logger.warn(`${news.backup.configPath}: no backup is due now, but the next one (a reset) will be refused: ${problem[0]}; ${problem[1]}`);
    return [];
  }
  return [{ property: "", reason: problem.join("\n") }];
}

/** ExistingObjectsGuard's provider. The refusal is in `check`, so it shows in `pulumi preview` and nothing is created. */
export const guard = defineProvider<GuardInputs, GuardInputs, GuardInputs>("ExistingObjectsGuard", {
  async check(olds, news) {
    // The preview before the server exists (its address unknown): nothing exists on it yet.
    if (hasUnknown(news.connection)) return { inputs: news, failures: [] };
    return { inputs: news, failures: [...(await checkVersionNeeds(news)), ...(await checkBackupClients(olds, news)), ...(await refuseExisting(olds, news)), ...(await checkAdoptedRoles(olds, news))] };
  },
  async diff(_id, olds, news) {
    const changes = newObjects(olds, news).length > 0 || olds.objects.length !== news.objects.length || providerChanged(olds, news);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },
  async create(inputs) {
    return { id: `${inputs.stack}/guard`, outs: inputs };
  },
  async update(_id, _olds, news) {
    return { outs: news };
  },
  async read(id, props) {
    return { id, props, inputs: props };
  },
  /** The guard owns nothing: removing it touches no object. */
  async delete() {},
});
