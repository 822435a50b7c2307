/**
 * Drift, once: the live database against its declared schema (its migration files applied to a
 * throwaway database), and the stack's drift policy applied to the report. The SchemaVerification
 * provider and the review both use these, so they cannot disagree on what is drift or what is
 * refused.
 */
import * as path from "node:path";
import type pg from "pg";
import type { ConnectionOptions, Logger } from "./connection.js";
import { buildDeclaredSchema, cachedDeclaredSchema, scanMigrationFiles, type MigrationIdentity } from "./declared.js";
import { PgstackError } from "./errors.js";
import type { ManagedSchema } from "./reset.js";
import { diffSchemas, judgeDrift, readSchema, type DriftVerdict, type SchemaSnapshot } from "./schema/index.js";
import { loadMigrations, type Migration } from "./source.js";
import { loadSqlParser } from "./sql.js";

/** What the declared schema is built from, and the stack's drift policy. */
export interface DeclaredInput {
  /** The migrations folder, relative to the project (`migrations/fltr`). */
  dir: string;
  /** {@link migrationsDigest} of the files the program loaded: a changed folder re-verifies. */
  digest: string;
  /** The role migrations run as (the owner), in the shadow too. */
  role: string;
  /** `refuse`: `up` fails on unaccepted drift; `warn`: it only warns. */
  policy: "refuse" | "warn";
  /** Report lines the stack accepts as known drift. */
  accept: string[];
  /** Where the policy lives in the config, for messages (`pgstack:databases[0].drift`). */
  configPath: string;
}

/** What a drift measurement needs: the admin connection to the database, its schemas and grants, the declared input. */
export interface DriftSubject {
  connection: ConnectionOptions;
  schemas: string[];
  grants?: ManagedSchema[] | undefined;
  declared: DeclaredInput;
}

/** What the declared schema is built from: a {@link DriftSubject} less its policy. */
export interface DeclaredSubject extends Omit<DriftSubject, "declared"> {
  declared: Pick<DeclaredInput, "dir" | "role">;
}

export { driftPolicy, migrationsDigest } from "./drift-policy.js";

/** `up` refused: the live schema differs from the migrations and the config does not accept it. */
export class DriftRefusedError extends PgstackError {
  readonly lines: readonly string[];
  constructor(database: string, lines: readonly string[], configPath: string) {
    super(
      "DRIFT_REFUSED",
      `database "${database}" has drifted from its migrations (${lines.length} difference(s) the stack does not accept):\n` +
        lines.map((l) => `    ${l}`).join("\n"),
      {
        hint:
          `make each change real with a migration, or undo it by hand; or, if it is known and wanted, accept the exact line(s) in ` +
          `${configPath}.accept (or set ${configPath}.policy: warn)`,
      },
    );
    this.lines = lines;
  }
}

/** A drift report judged by the stack's policy: the lines it accepts and not, and the refusal when it refuses. */
export interface DriftJudgement extends DriftVerdict {
  refusal?: DriftRefusedError;
}

/** Applies the stack's drift policy (accepted lines, refuse or warn) to a report. */
export function judgeDriftPolicy(database: string, report: readonly string[], declared: Pick<DeclaredInput, "policy" | "accept" | "configPath">): DriftJudgement {
  const verdict = judgeDrift(report, declared.accept);
  if (verdict.unaccepted.length === 0 || declared.policy !== "refuse") return verdict;
  return { ...verdict, refusal: new DriftRefusedError(database, verdict.unaccepted, declared.configPath) };
}

/** The managed schemas the shadow gets: the declared ones with their grants, or bare ones owned by the role. */
function shadowSchemas(schemas: readonly string[], role: string, grants: readonly ManagedSchema[] | undefined): ManagedSchema[] {
  return schemas.map((s) => grants?.find((g) => g.name === s) ?? { name: s, owner: role, grants: [] });
}

/** Loads (and parses) the migrations the declared input names, from the project; paths stay relative to it. */
export async function loadDeclared(root: string, declared: DeclaredSubject["declared"]): Promise<Migration[]> {
  await loadSqlParser();
  const migrations = await loadMigrations(path.resolve(root, declared.dir));
  return migrations.map((m) => ({ ...m, file: path.relative(root, m.file) }));
}

/** The migration files the declared input names (versions, names, checksums), read from `root`. */
export function declaredFiles(root: string, declared: DeclaredSubject["declared"]): Promise<MigrationIdentity[]> {
  return scanMigrationFiles(path.resolve(root, declared.dir));
}

/** The build's options for `subject`: its role, and its managed schemas as the shadow gets them. */
function declaredOptions(subject: DeclaredSubject, upTo: number | undefined) {
  return { role: subject.declared.role, schemas: shadowSchemas(subject.schemas, subject.declared.role, subject.grants), ...(upTo !== undefined ? { upTo } : {}) };
}

/** Whether {@link declaredSchemaOf} of these files (all of them) would come from the cache, with no build. */
export function declaredSchemaCached(subject: DeclaredSubject, files: readonly MigrationIdentity[]): boolean {
  return cachedDeclaredSchema(files, declaredOptions(subject, undefined)) !== undefined;
}

/**
 * The declared schema of the subject's files (up to `upTo`): from the cache when the files are
 * unchanged (no SQL parsed, no database work), else built in a throwaway database (from
 * `options.migrations` when the caller loaded them already: {@link loadDeclared}).
 */
export async function declaredSchemaOf(
  root: string,
  subject: DeclaredSubject,
  files: readonly MigrationIdentity[],
  options: { upTo?: number | undefined; logger?: Logger | undefined; migrations?: readonly Migration[] } = {},
): Promise<SchemaSnapshot> {
  const opts = declaredOptions(subject, options.upTo);
  const hit = cachedDeclaredSchema(files, opts);
  if (hit) return hit;
  return buildDeclaredSchema(subject.connection, options.migrations ?? (await loadDeclared(root, subject.declared)), { ...opts, ...(options.logger ? { logger: options.logger } : {}) });
}

/**
 * Drift at the version the database has reached, so pending migrations are not drift (the
 * review's measure: what is wrong now, apart from what the PR brings). `client` is connected to
 * the database itself.
 */
export async function measureDriftAtHead(client: pg.Client, root: string, subject: DriftSubject, logger?: Logger): Promise<string[]> {
  const live = await readSchema(client, { schemas: subject.schemas });
  const files = await declaredFiles(root, subject.declared);
  return diffSchemas(await declaredSchemaOf(root, subject, files, { upTo: live.history.at(-1)?.id ?? 0, logger }), live);
}
