/**
 * The declared schema: what the migration files build, measured rather than guessed. Every file
 * is applied, in order and through the real apply path, as the owner, to a scratch database on
 * the same server; the result is introspected and the database dropped (also on failure). The snapshot
 * is cached by the files' checksums, so an unchanged folder costs no database work at all.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import { applyMigrations } from "./apply.js";
import { silentLogger, type ConnectionOptions, type Logger } from "./connection.js";
import { PgstackError } from "./errors.js";
import { readSchema, readTableKeys, type SchemaSnapshot } from "./schema/index.js";
import { withScratchDatabase, type ScratchDatabase, type ScratchPurpose } from "./scratch.js";
import { runSchemaDdl, schemaDdl, type ManagedSchema } from "./reset.js";
import { schemaDdlAfterMigrations, schemasToPrecreate } from "./migration-schemas.js";
import { compareMigrations, isRepeatableName, nodeFileReader, REPEATABLE_ID, sha256, upToVersion, type Migration, type MigrationFileReader } from "./source.js";
import { loadSqlParser, splitStatements } from "./sql.js";


/** Bumped whenever the snapshot's shape, the introspection or the build changes, so old cache entries miss. */
const CACHE_FORMAT = 5;

/** Options of {@link buildDeclaredSchema}. */
export interface DeclaredOptions {
  /** The role migrations run as (`SET ROLE`), normally the database owner; it owns the scratch database. */
  role: string;
  /** What the build is for, in the scratch database's name and in logs. Default `declared`. */
  purpose?: ScratchPurpose;
  /** Only migrations with a version up to this one (the declared schema at version N). */
  upTo?: number;
  /**
   * Where snapshots are cached, one `<sha256>.json` per distinct input. Default
   * `.pgstack/cache/declared` under the working directory; `false` turns the cache off.
   */
  cacheDir?: string | false;
  /** Progress: the scratch database's name, every tenth of the migrations, and the drop. */
  logger?: Logger;
  /**
   * The managed schemas, created in the scratch database with their owner, grants and default privileges
   * before the migrations run, as the stack creates them in the real database. Default: `public`
   * owned by `role`, no grants. Also limits the introspection to these schemas.
   */
  schemas?: readonly ManagedSchema[];
}

/** Options of {@link stepThroughDeclared}: those of the snapshot's build, less its cache. */
export interface StepOptions extends Omit<DeclaredOptions, "cacheDir" | "upTo"> {
  /**
   * Called before the first migration (version 0: the managed schemas, empty) and after each
   * one, in one build and one apply run: the step reads what it needs at that version (its table
   * keys, or the whole schema).
   */
  onStep: (step: DeclaredStep) => unknown;
}

/** One version of a step-by-step build ({@link stepThroughDeclared}), read while it is current. */
export interface DeclaredStep {
  /** The version just applied; 0 before the first migration. */
  version: number;
  /** The keys of its tables (`schema.table`, sorted): one light catalog query. */
  tables(): Promise<string[]>;
  /** The whole schema at this version (the one catalog reader). */
  read(): Promise<SchemaSnapshot>;
}

/** The migrations do not build on an empty database. */
export class DeclaredSchemaError extends PgstackError {
  constructor(message: string, options: { hint: string; cause?: unknown }) {
    super("DECLARED_SCHEMA_FAILED", message, options);
  }
}

/**
 * The schema the migrations declare: applied to a fresh scratch database on `admin`'s server,
 * introspected, dropped. `admin` is any database on that server the admin may connect to; the
 * admin needs CREATEDB and membership in `opts.role` (what a stack's admin has). Call
 * {@link loadSqlParser} first, or let this do it.
 */
export async function buildDeclaredSchema(admin: ConnectionOptions, migrations: readonly Migration[], opts: DeclaredOptions): Promise<SchemaSnapshot> {
  const log = opts.logger ?? silentLogger;
  const selected = upToVersion(migrations, opts.upTo);
  const schemas = opts.schemas ?? defaultSchemas(opts.role);
  const key = declaredCacheKey(selected, opts.role, schemas);
  const cacheFile = opts.cacheDir === false ? undefined : path.join(opts.cacheDir ?? defaultCacheDir(), `${key}.json`);
  if (cacheFile) {
    const cached = readCache(cacheFile);
    if (cached) {
      log.info(`declared schema: ${selected.length} migration(s) unchanged, from the cache (${path.basename(cacheFile).slice(0, 12)}…)`);
      return cached;
    }
  }
  const snapshot = await inScratch(admin, selected, opts, schemas, async (scratch, structure) => {
    await buildInScratch(scratch, scratch.migrations, { role: opts.role, schemas, logger: log });
    return readSchema(scratch.admin, structure);
  });
  if (cacheFile) writeCache(cacheFile, snapshot);
  return snapshot;
}

/**
 * Every version the migrations declare, one at a time: one build in a scratch database (always
 * dropped) and one apply run, `opts.onStep` called before the first migration and after each
 * while that version is current. Only what the steps read is read (adoption compares each
 * version with a live database); nothing is cached. The admin needs what
 * {@link buildDeclaredSchema}'s does.
 */
export async function stepThroughDeclared(admin: ConnectionOptions, migrations: readonly Migration[], opts: StepOptions): Promise<void> {
  const schemas = opts.schemas ?? defaultSchemas(opts.role);
  await inScratch(admin, migrations, opts, schemas, async (scratch, structure) => {
    const list = scratch.migrations;
    // Only a superuser can create an event trigger, the one way plain DDL runs code that could
    // create or drop a table; the migrations run as the owner session's login.
    const { rows } = await (await scratch.ownerSession()).query<{ superuser: boolean }>("SELECT rolsuper AS superuser FROM pg_roles WHERE rolname = session_user");
    const canReuse = rows[0]?.superuser === false;
    // The table keys last read and at which step: a step whose migration cannot change the set
    // of tables (see keepsTableSet) has the previous step's keys, without a query.
    let known: { index: number; keys: string[] } | undefined;
    let index = -1;
    const step = (version: number, at: number): DeclaredStep => ({
      version,
      tables: async () => {
        const m = list[at - 1];
        // The last version is always read: what the folder ends with is measured, never inferred.
        const reuse = canReuse && known?.index === at - 1 && at < list.length && m !== undefined && keepsTableSet(m);
        const keys = reuse && known ? known.keys : await readTableKeys(scratch.admin, structure);
        known = { index: at, keys };
        return keys;
      },
      read: () => readSchema(scratch.admin, structure),
    });
    const onStep = opts.onStep;
    await buildInScratch(scratch, list, {
      role: opts.role,
      schemas,
      logger: opts.logger ?? silentLogger,
      onStep: async (version) => onStep(step(version, ++index)),
    });
  });
}

/**
 * Statement kinds that neither create, drop, rename nor move a table, and run no code of the
 * migrations' own that could (a function is created, not called; a view is defined, not run).
 * What an expression in them may call (a column default during a rewrite, an index expression)
 * must be immutable or is not expected to create tables; anything else (DML, which fires
 * triggers, `DO`, `SELECT`, `CREATE EXTENSION`, every DROP and RENAME) counts as a change.
 */
const TABLE_SET_KEEPING = new Set([
  "AlterTableStmt", "IndexStmt", "CommentStmt", "GrantStmt", "AlterDefaultPrivilegesStmt", "AlterOwnerStmt",
  "CreateSeqStmt", "AlterSeqStmt", "CreateFunctionStmt", "AlterFunctionStmt", "ViewStmt", "CreateTrigStmt",
  "CreateEnumStmt", "AlterEnumStmt", "CompositeTypeStmt", "CreateDomainStmt", "DefineStmt",
  "CreatePolicyStmt", "AlterPolicyStmt", "VariableSetStmt", "TransactionStmt",
]);

/** Whether every statement of `m` is of a {@link TABLE_SET_KEEPING} kind (false when it does not parse). */
export function keepsTableSet(m: Migration): boolean {
  try {
    return splitStatements(m.sql, m.file).every((s) => TABLE_SET_KEEPING.has(s.kind));
  } catch {
    return false;
  }
}

/** `public`, owned by the role, no grants: the managed schemas when none are given. */
function defaultSchemas(role: string): ManagedSchema[] {
  return [{ name: "public", owner: role, grants: [] }];
}

/** A scratch database for a build of `migrations`, and the reader's options for its managed schemas. */
async function inScratch<T>(
  admin: ConnectionOptions,
  migrations: readonly Migration[],
  opts: Pick<DeclaredOptions, "role" | "purpose" | "logger">,
  schemas: readonly ManagedSchema[],
  fn: (scratch: ScratchDatabase, structure: { schemas: string[] }) => Promise<T>,
): Promise<T> {
  await loadSqlParser();
  const log = opts.logger ?? silentLogger;
  return withScratchDatabase(admin, { purpose: opts.purpose ?? "declared", owner: opts.role, logger: log, migrations }, (scratch) => fn(scratch, { schemas: schemas.map((s) => s.name) }));
}

/** Options of {@link buildInScratch}. */
export interface BuildOptions {
  /** The role migrations run as: the scratch database's owner. */
  role: string;
  /** The managed schemas, made as the stack makes them: before the migrations, or right after the ones that create them. */
  schemas: readonly ManagedSchema[];
  logger: Logger;
  /** Called before the first migration (version 0) and after each one, inside the one apply run. */
  onStep?: (version: number) => Promise<unknown>;
}

/**
 * The one build of a schema from migrations, in a scratch database: the managed schemas
 * pre-created (those no migration creates), then `migrations` (as the scratch run replays them,
 * {@link ScratchDatabase.migrations}) applied as the owner, confined, through the real apply
 * path, then the schemas the migrations created given their owner and grants. The declared
 * schema and the rehearsal's copy build this way. Throws {@link DeclaredSchemaError} when a
 * migration fails.
 */
export async function buildInScratch(scratch: ScratchDatabase, migrations: readonly Migration[], opts: BuildOptions): Promise<void> {
  const log = opts.logger;
  // A managed schema a migration creates is theirs: created by it, then owned and granted as configured.
  const precreated = schemasToPrecreate(opts.schemas, migrations);
  const later = opts.schemas.filter((s) => !precreated.includes(s));
  if (precreated.length > 0) await runSchemaDdl(scratch.admin, scratch.name, precreated.flatMap(schemaDdl).join(";\n"));
  const owner = await scratch.ownerSession();
  // A throwaway database: a commit need not wait for its WAL to reach the disk.
  await owner.query("SET synchronous_commit = off");
  const quiet: Logger = { info: () => undefined, warn: (m) => log.warn(m) };
  const apply = async (list: readonly Migration[], afterEach: (m: Migration) => Promise<unknown>) => {
    // As the owner, confined, as in production: the same role the real `up` runs them as.
    const result = await applyMigrations(owner, list, { database: scratch.name, role: opts.role, logger: quiet, afterEach });
    if (result.error) {
      throw new DeclaredSchemaError(`the migrations do not build on an empty database: ${result.error.message}`, {
        hint: "every migration must apply, in order, to a fresh database: fix the file named above",
        cause: result.error,
      });
    }
  };
  if (opts.onStep) {
    // One apply run, the step called after each migration (under the run's lock).
    const onStep = opts.onStep;
    await onStep(0);
    await apply(migrations, async (m) => onStep(m.id));
  } else {
    // One apply run; progress every tenth of a long folder.
    const every = Math.max(1, Math.ceil(migrations.length / 10));
    let done = 0;
    await apply(migrations, async () => {
      done++;
      if (migrations.length >= 50 && (done % every === 0 || done === migrations.length)) log.info(`build: applied ${done}/${migrations.length} migration(s) in the scratch database ${scratch.name}`);
    });
  }
  // As the MigrationSet does: their grants reach the tables the migrations created in them too.
  if (later.length > 0) await scratch.admin.query(later.flatMap(schemaDdlAfterMigrations).join(";\n"));
}

/** What identifies a migration file for the cache: its checksum covers its text and directives. */
export type MigrationIdentity = Pick<Migration, "id" | "name" | "checksum">;

/** The cache key: every input that shapes the declared schema, and nothing else. */
export function declaredCacheKey(migrations: readonly MigrationIdentity[], role: string, schemas: readonly ManagedSchema[]): string {
  return sha256(JSON.stringify({ format: CACHE_FORMAT, role, schemas, migrations: migrations.map((m) => [m.id, m.name, m.checksum]) }));
}

/**
 * The files of a migrations folder with their checksums (the same sha256 over the bytes that
 * {@link loadMigrations} computes), without parsing any SQL: enough to look the declared schema
 * up in the cache. Files that look like neither `NNNN_name.sql` nor `R__name.sql` are left to
 * `loadMigrations` to refuse.
 */
export async function scanMigrationFiles(dir: string, reader: MigrationFileReader = nodeFileReader): Promise<MigrationIdentity[]> {
  const names = (await reader.listSqlFiles(dir)).filter((base) => /^(\d+_|R__)[a-z0-9_]+\.sql$/.test(base));
  // Read concurrently: hundreds of small files are latency, not bandwidth.
  const out = await Promise.all(
    names.map(async (base): Promise<MigrationIdentity> => {
      const name = base.slice(0, -4);
      const id = isRepeatableName(name) ? REPEATABLE_ID : Number(base.slice(0, base.indexOf("_")));
      return { id, name, checksum: sha256(await reader.read(path.join(dir, base))) };
    }),
  );
  return out.sort(compareMigrations);
}

/** Options of {@link cachedDeclaredSchema}: those of {@link buildDeclaredSchema} that make the key. */
export type CachedOptions = Pick<DeclaredOptions, "role" | "upTo" | "cacheDir" | "schemas">;

/**
 * The declared schema from the cache alone, or undefined on a miss. No database work and no SQL
 * parsing: a drift check of an unchanged folder costs reading the files and one JSON file.
 */
export function cachedDeclaredSchema(files: readonly MigrationIdentity[], opts: CachedOptions): SchemaSnapshot | undefined {
  if (opts.cacheDir === false) return undefined;
  const selected = upToVersion(files, opts.upTo);
  const schemas = opts.schemas ?? [{ name: "public", owner: opts.role, grants: [] }];
  return readCache(path.join(opts.cacheDir ?? defaultCacheDir(), `${declaredCacheKey(selected, opts.role, schemas)}.json`));
}

/** `.pgstack/cache/declared` under the working directory (git-ignored with `.pgstack/`). */
export function defaultCacheDir(): string {
  return path.join(process.cwd(), ".pgstack", "cache", "declared");
}

function readCache(file: string): SchemaSnapshot | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as SchemaSnapshot;
    // A damaged entry is rebuilt, never trusted.
    return parsed && typeof parsed.tables === "object" && Array.isArray(parsed.history) ? parsed : undefined;
  } catch {
    return undefined; // missing or unreadable: build it
  }
}

function writeCache(file: string, snapshot: SchemaSnapshot): void {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Write then rename: a concurrent reader never sees half a file.
    const tmp = `${file}.${process.pid}.${randomBytes(3).toString("hex")}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(snapshot));
    fs.renameSync(tmp, file);
  } catch {
    // A read-only checkout still works; it only rebuilds each time.
  }
}
