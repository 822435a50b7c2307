/**
 * Adoption (baseline): a database that already has its tables but no pgstack history. pgstack
 * finds the version N whose declared schema equals the live one, by applying the migrations one
 * by one in one throwaway scratch database on the same server and comparing the structures after
 * each, and records 1..N as applied without running them (`baselined`). A database that matches
 * no version is refused with the difference against the closest one; nothing is changed then.
 */
import type pg from "pg";
import { connect, silentLogger, type ConnectionOptions, type Logger } from "./connection.js";
import { stepThroughDeclared } from "./declared.js";
import { errorMessage, NotReadableYetError, PgstackError } from "./errors.js";
import { historyExists, readHistory, recordBaselined } from "./history.js";
import { diffSchemas, OBJECT_MAPS, readSchema, type SchemaSnapshot } from "./schema/index.js";
import type { Migration } from "./source.js";
import { splitStatements } from "./sql.js";
import { memoizedPlan, planKey, type Planned } from "./baseline-memo.js";

/** One difference, as a line a person reads: `~ public.users: + column nickname text (only in the database)`. */
export type StructureDifference = string;

/** Another tool's history, mapped to pgstack versions (see the importers). */
export type ForeignApplied = (client: pg.Client) => Promise<{ tool: string; versions: number[] } | null>;

/** Options for adoption. */
export interface BaselineOptions {
  /** How to reach the server (the admin); the scratch database is created there. */
  connection: ConnectionOptions;
  /** The database owner: the migrations are built as it, as in production (default: the live database's owner). */
  owner?: string;
  /** The managed schemas: created in the scratch database before the migrations, and the ones compared. */
  schemas: readonly string[];
  /** A version a person stated (config `baseline: N`). pgstack still verifies it. */
  stated?: number;
  /** The config key of the stated version, for messages (e.g. `pgstack:databases[1].baseline`). */
  configPath?: string;
  /** Reads another tool's history in the live database; its versions are the candidate N (still verified). */
  foreignApplied?: ForeignApplied;
  logger?: Logger;
}

/** What adoption will do (or did). */
export interface BaselinePlan {
  /** How many migrations are recorded without running (the first `count`). */
  count: number;
  /** The last of them. */
  at: Migration;
  /** Where N came from. */
  source: "stated" | "detected" | { tool: string };
  /** The line the preview and the apply log, naming N. */
  message: string;
  /**
   * Set when another tool's history exists but cannot be read yet (a preview by an admin that is
   * not a member of its owner): N was detected from the schema alone, and `up` must not record it.
   */
  unverified?: NotReadableYetError;
}

/** Raised when the live schema equals no version (or not the stated one). Nothing was changed. */
export class BaselineRefusedError extends PgstackError {
  readonly differences: readonly StructureDifference[];
  constructor(message: string, differences: readonly StructureDifference[], hint: string) {
    super("BASELINE_REFUSED", differences.length ? `${message}\n${differences.map((d) => `    ${d}`).join("\n")}` : message, { hint });
    this.differences = differences;
  }
}

/** `0001..0003` (or `0003`) from the migrations' names. */
function span(ms: readonly Migration[]): string {
  const v = (m: Migration) => /^\d+/.exec(m.name)?.[0] ?? String(m.id);
  const first = ms[0];
  const last = ms.at(-1);
  if (!first || !last) return "nothing";
  return first === last ? v(first) : `${v(first)}..${v(last)}`;
}

/**
 * The adoption line: `fltr_auth: adopting an existing schema at 0003_add_teams: 0001..0003 will be recorded …; 0004 will run`.
 * `tool` (N came from another tool's history) is named too: `at 0003_add_teams, as flyway's history says (verified): …`.
 */
export function describeBaseline(database: string, migrations: readonly Migration[], count: number, done: boolean, tool?: string): string {
  const at = migrations[count - 1];
  const rest = migrations.slice(count);
  const recorded = `${span(migrations.slice(0, count))} ${done ? "were" : "will be"} recorded as applied without running`;
  const next = rest.length ? `${span(rest)} will run` : "nothing else to run";
  const from = tool ? `, as ${tool}'s history says (verified)` : "";
  return `${database}: adopting an existing schema at ${at?.name ?? "nothing"}${from}: ${recorded}; ${next}`;
}

/** The tool a plan's N came from, if another tool's history named it. */
const toolOf = (source: BaselinePlan["source"]): string | undefined => (typeof source === "object" ? source.tool : undefined);

/**
 * True when the database needs adoption: pgstack's history is empty (or absent) and a managed
 * schema holds tables. Read-only.
 */
export async function needsBaseline(client: pg.Client, schemas: readonly string[]): Promise<boolean> {
  return (await liveToAdopt(client, schemas)) !== undefined;
}

/** The live schema when the database needs adoption ({@link needsBaseline}), else undefined: one read serves the test and the plan. */
async function liveToAdopt(client: pg.Client, schemas: readonly string[]): Promise<SchemaSnapshot | undefined> {
  if ((await historyExists(client)) && (await readHistory(client)).length > 0) return undefined;
  const live = await readSchema(client, { schemas });
  return Object.keys(live.tables).length > 0 ? live : undefined;
}

/** `live` with, of every kind, only the objects some version creates (tables: `tables`, the names every step read). */
function onlyDeclared(live: SchemaSnapshot, snapshots: readonly SchemaSnapshot[], tables: ReadonlySet<string>): SchemaSnapshot {
  const out = { ...live } as Record<string, unknown>;
  for (const map of OBJECT_MAPS) {
    const declared = map === "tables" ? tables : new Set(snapshots.flatMap((s) => Object.keys(s[map] ?? {})));
    out[map] = Object.fromEntries(Object.entries(live[map] ?? {}).filter(([name]) => declared.has(name)));
  }
  return out as unknown as SchemaSnapshot;
}

/**
 * Plans adoption without changing the live database: undefined when there is nothing to adopt
 * (a history exists, no managed table exists, or there are no migrations). Otherwise the version
 * N whose declared schema equals the live one, or {@link BaselineRefusedError}. Builds a scratch
 * database (always dropped), once per process for the same live schema and migrations (see
 * baseline-memo.ts): the live database is read at every call, and a plan is reused only when
 * every input is the same. Used by the preview (check) and by {@link adoptBaseline}.
 */
export async function planBaseline(
  client: pg.Client,
  migrations: readonly Migration[],
  database: string,
  options: BaselineOptions,
): Promise<BaselinePlan | undefined> {
  const live = migrations.length === 0 ? undefined : await liveToAdopt(client, options.schemas);
  if (!live) return undefined;
  const log = options.logger ?? silentLogger;
  let unreadable: NotReadableYetError | undefined;
  const foreign = options.foreignApplied
    ? await options.foreignApplied(client).catch((err: unknown) => {
        // The history decides at `up`; until then the schema alone shows what the preview can.
        if (!(err instanceof NotReadableYetError)) throw err;
        unreadable = err;
        return null;
      })
    : null;
  const identity = await databaseIdentity(client);
  const owner = options.owner ?? identity.owner;
  const { connection: c, schemas, stated, configPath } = options;
  const key = planKey({ server: `${c.user}@${c.host}:${c.port}`, database: identity.key, owner, schemas, stated, configPath, migrations, foreign: foreign ?? unreadable?.line, live });
  const isAnswer = (err: unknown) => err instanceof BaselineRefusedError || err instanceof NotReadableYetError;
  const reused = () => log.info(`${database}: its schema is unchanged since adoption was planned earlier in this run; that plan holds (no new scratch build)`);
  const { value, notes } = await memoizedPlan(key, () => comparePlan(migrations, database, options, { live, foreign, owner, ...(unreadable ? { unreadable } : {}) }), isAnswer, reused);
  for (const note of notes) log.info(note);
  return value && { ...value };
}

/** What {@link comparePlan} compares the migrations with, as {@link planBaseline} read it. */
interface LiveDatabase {
  live: SchemaSnapshot;
  foreign: { tool: string; versions: number[] } | null;
  /** Another tool's history exists but cannot be read yet. */
  unreadable?: NotReadableYetError;
  owner: string;
}

/** {@link planBaseline}'s comparison: the migrations built in a scratch database, each version compared with the live schema. */
async function comparePlan(migrations: readonly Migration[], database: string, options: BaselineOptions, read: LiveDatabase): Promise<Planned<BaselinePlan | undefined>> {
  const { live, foreign, unreadable, owner } = read;
  const log = options.logger ?? silentLogger;
  const setting = options.configPath ?? "baseline";
  const notes: string[] = [];
  const candidate = candidateCount(migrations, database, options, foreign);
  log.info(`${database}: has tables but no pgstack history; comparing it with the migrations in a scratch database (${migrations.length} step(s))`);
  // Every version is built, also for a stated one: a table a later migration creates counts too.
  const liveTables = Object.keys(live.tables);
  // The live tables some migration creates: the ones compared, and what a version must have.
  const comparedOf = (declared: ReadonlySet<string>) => liveTables.filter((name) => declared.has(name)).sort().join("\n");
  // Every version's table keys are read (a light query); the whole schema only where it can
  // matter: at the candidate; in detection, where the tables are exactly the compared ones (a
  // version with a table more or less cannot equal the live schema). Which tables are compared is
  // known only once every migration ran, so it is estimated from the CREATE TABLE statements and
  // checked after the build; on a wrong estimate, or when no version matched (the refusal names
  // the closest one, which needs every diff), a second build reads every version in full.
  const estimate = candidate === undefined ? createdTables(migrations, options.schemas, owner) : undefined;
  const expected = estimate && comparedOf(estimate);
  const narrow =
    candidate !== undefined ? (k: number) => k === candidate : expected !== undefined ? (_k: number, tables: readonly string[]) => tables.join("\n") === expected : undefined;
  const compare = (steps: Step[]) => {
    // Tables no migration ever creates (another tool's history table, a hand-made one) cannot tell
    // which migrations ran, and no migration trips over them: they are left out of the comparison.
    const declared = new Set(steps.flatMap((s) => s.tables));
    // The same holds for every kind (a hand-made view, an extension no migration creates).
    const compared = onlyDeclared(live, steps.flatMap((s) => (s.snapshot ? [s.snapshot] : [])), declared);
    // A version not read in full differs in its tables: never equal, and left out of "closest".
    const differences = steps.map((s) => (s.snapshot ? diffSchemas(s.snapshot, compared, { history: false, structureOnly: true, labels: ADOPTION_LABELS }) : undefined));
    return { declared, differences };
  };
  let { declared, differences } = compare(await declaredSteps(options, owner, migrations, log, narrow));
  if (expected !== undefined && (comparedOf(declared) !== expected || !differences.some((d) => d?.length === 0))) {
    log.info(`${database}: comparing every version in full`);
    ({ declared, differences } = compare(await declaredSteps(options, owner, migrations, log)));
  }
  const others = liveTables.filter((name) => !declared.has(name));
  const label = (k: number) => (k === 0 ? "no migration (an empty database)" : (migrations[k - 1]?.name ?? ""));
  const plan = (count: number, source: BaselinePlan["source"]): BaselinePlan => {
    if (others.length) notes.push(`${database}: no migration creates ${others.join(", ")}; left as it is and not compared`);
    return { count, at: migrations[count - 1] as Migration, source, message: describeBaseline(database, migrations, count, false, toolOf(source)) };
  };

  if (candidate !== undefined) {
    const diff = differences[candidate] ?? [];
    const who = foreign && options.stated === undefined ? `${foreign.tool}'s history` : `${setting}: ${options.stated}`;
    if (diff.length === 0) return { value: plan(candidate, options.stated !== undefined ? "stated" : { tool: foreign?.tool ?? "" }), notes };
    throw new BaselineRefusedError(
      `database "${database}": ${who} says its schema is at ${label(candidate)}, but it differs from that version in ${diff.length} place(s); nothing was applied or recorded:`,
      diff,
      `make the database equal ${label(candidate)} (or correct ${options.stated !== undefined ? setting : "that history"}), then run again`,
    );
  }
  // None of its tables is one a migration creates: nothing to adopt, every migration runs.
  if (differences[0]?.length === 0) {
    notes.push(`${database}: none of its tables (${others.join(", ")}) is created by a migration; every migration runs`);
    return { value: undefined, notes };
  }
  const matches = differences.flatMap((d, k) => (d?.length === 0 && k > 0 ? [k] : []));
  if (matches.length === 1 && unreadable) {
    const at = migrations[(matches[0] as number) - 1]?.name ?? "";
    return { value: { ...plan(matches[0] as number, "detected"), message: `${database}: ${unreadable.line}; the live schema equals ${at}, which up checks against it`, unverified: unreadable }, notes };
  }
  if (matches.length === 1) return { value: plan(matches[0] as number, "detected"), notes };
  // Several versions equal the schema: the unread history would tell which.
  if (matches.length > 1 && unreadable) throw unreadable;
  if (matches.length > 1) {
    throw new BaselineRefusedError(
      `database "${database}": its schema equals several versions (${matches.map(label).join(", ")}): they differ in no object (table, column, constraint, index, view, function, type…), ` +
        `so pgstack cannot tell which of them already ran; nothing was applied or recorded`,
      [],
      `set ${setting}: <version> to say which (pgstack still verifies it), then run again`,
    );
  }
  // Fewest differences; on a tie, the later version.
  let closest = 0;
  differences.forEach((d, k) => {
    if (d && d.length <= (differences[closest]?.length ?? Infinity)) closest = k;
  });
  const diff = differences[closest] ?? [];
  throw new BaselineRefusedError(
    `database "${database}" has tables but no pgstack history, and its schema equals no version of the migrations; ` +
      `the closest is ${label(closest)}, with ${diff.length} difference(s) (+ only in the database, - only in the migrations); nothing was applied or recorded:`,
    diff,
    `make the database equal one version (undo the hand-made changes), or add a migration so that one version describes it; ` +
      `to name the version yourself, set ${setting}: <version> (pgstack still verifies it); then run again`,
  );
}

/** The stated or foreign candidate as a count of migrations, validated against the files. */
function candidateCount(
  migrations: readonly Migration[],
  database: string,
  options: BaselineOptions,
  foreign: { tool: string; versions: number[] } | null,
): number | undefined {
  const setting = options.configPath ?? "baseline";
  const countOf = (version: number, who: string): number => {
    const i = migrations.findIndex((m) => m.id === version);
    if (i < 0) {
      throw new BaselineRefusedError(`database "${database}": ${who} names version ${version}, but no migration file has that version; nothing was applied or recorded`, [], `use the version of one of the migration files (${span(migrations)})`);
    }
    return i + 1;
  };
  const stated = options.stated === undefined ? undefined : countOf(options.stated, `${setting}`);
  if (!foreign || foreign.versions.length === 0) return stated;
  const versions = [...new Set(foreign.versions)].sort((a, b) => a - b);
  const fromForeign = countOf(versions.at(-1) as number, `${foreign.tool}'s history`);
  const expected = migrations.slice(0, fromForeign).map((m) => m.id);
  if (expected.length !== versions.length || expected.some((id, i) => id !== versions[i])) {
    throw new BaselineRefusedError(
      `database "${database}": ${foreign.tool}'s history lists versions ${versions.join(", ")}, which are not the first migrations in order (${expected.join(", ")}); nothing was applied or recorded`,
      [],
      `check that the imported migrations match what ${foreign.tool} applied, or set ${setting}: <version> to say which version the database is at`,
    );
  }
  if (stated !== undefined && stated !== fromForeign) {
    throw new BaselineRefusedError(
      `database "${database}": ${setting} is ${options.stated}, but ${foreign.tool}'s history says ${migrations[fromForeign - 1]?.name}; nothing was applied or recorded`,
      [],
      `correct ${setting} (or remove it to use ${foreign.tool}'s history), then run again`,
    );
  }
  return fromForeign;
}

/**
 * Adopts the database when it needs it: plans (see {@link planBaseline}) and records the first N
 * migrations as applied without running them. Call under the migration lock, after the history
 * check. Returns the plan, or undefined when there was nothing to adopt.
 */
export async function adoptBaseline(client: pg.Client, migrations: readonly Migration[], database: string, options: BaselineOptions): Promise<BaselinePlan | undefined> {
  const plan = await planBaseline(client, migrations, database, options);
  if (!plan) return undefined;
  // Never record a version the tool's own history was not read for.
  if (plan.unverified) throw plan.unverified;
  await recordBaselined(client, migrations.slice(0, plan.count));
  (options.logger ?? silentLogger).info(describeBaseline(database, migrations, plan.count, true, toolOf(plan.source)));
  return plan;
}

/** `applyMigrations`' `adopt` option: {@link adoptBaseline} of `database` with these settings. */
export function baselineAdopter(database: string, options: BaselineOptions): (client: pg.Client, migrations: readonly Migration[]) => Promise<BaselinePlan | undefined> {
  return (client, migrations) => adoptBaseline(client, migrations, database, options);
}

/** Adoption's wording: `+` only in the live database, `-` only in the migrations. */
export const ADOPTION_LABELS = { onlySecond: "only in the database", onlyFirst: "only in the migrations" };

/** One version in adoption's build: its table keys, and its whole schema when it was read. */
interface Step {
  tables: string[];
  snapshot?: SchemaSnapshot;
}

/**
 * The declared schema after each of `migrations` (index 0: before any): one build in a scratch
 * database (always dropped), the migrations run as `owner`. Every version's table keys are read;
 * its whole schema where `full(k, tables)` says so (default: everywhere).
 */
async function declaredSteps(
  options: BaselineOptions,
  owner: string,
  migrations: readonly Migration[],
  log: Logger,
  full: (k: number, tables: readonly string[]) => boolean = () => true,
): Promise<Step[]> {
  const out: Step[] = [];
  try {
    await stepThroughDeclared(options.connection, migrations, {
      role: owner,
      purpose: "baseline",
      logger: log,
      schemas: options.schemas.map((name) => ({ name, owner, grants: [] })),
      onStep: async (step) => {
        const tables = await step.tables();
        out.push(full(out.length, tables) ? { tables, snapshot: await step.read() } : { tables });
      },
    });
  } catch (err) {
    if (err instanceof PgstackError && err.code !== "DECLARED_SCHEMA_FAILED") throw err;
    throw new PgstackError("BASELINE_SHADOW_FAILED", `the migrations do not apply to an empty database, so no version can be compared: ${(err as Error).message}`, {
      hint: "fix the migration so that it runs on an empty database, then run again; the live database was not changed",
      cause: err,
    });
  }
  return out;
}

/**
 * The keys of the tables the migrations' `CREATE TABLE` statements name (unqualified ones in the
 * first schema of the owner's search_path that is managed: its own name, then `public`), or
 * undefined when that cannot be told (no managed schema to place them in, a file that does not
 * parse). Only an estimate: adoption checks it against what the build created.
 */
function createdTables(migrations: readonly Migration[], schemas: readonly string[], owner: string): Set<string> | undefined {
  const home = [owner, "public"].find((s) => schemas.includes(s));
  if (home === undefined) return undefined;
  const key = (schema: string, name: string) => `${sqlIdent(schema)}.${sqlIdent(name)}`;
  const out = new Set<string>();
  try {
    for (const m of migrations) {
      if (m.sql.trim() === "") return undefined;
      for (const st of splitStatements(m.sql, m.file)) {
        const rel = (st.kind === "CreateStmt" ? st.node["relation"] : st.kind === "CreateTableAsStmt" ? (st.node["into"] as { rel?: unknown } | undefined)?.rel : undefined) as
          | { schemaname?: string; relname?: string; relpersistence?: string }
          | undefined;
        if (rel?.relname && rel.relpersistence !== "t") out.add(key(rel.schemaname ?? home, rel.relname));
      }
    }
  } catch {
    return undefined;
  }
  return out;
}

/** An identifier as Postgres' `quote_ident` writes it, for the plain lowercase names it leaves bare (others are quoted; a keyword it would quote only costs a full read). */
function sqlIdent(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/**
 * The owner of the database `client` is connected to, and a key naming that database on that
 * server run: one dropped and created again, or a restarted server, is another.
 */
async function databaseIdentity(client: pg.Client): Promise<{ owner: string; key: string }> {
  const { rows } = await client.query<{ owner: string; oid: string; started: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner, oid::text AS oid, pg_postmaster_start_time()::text AS started FROM pg_database WHERE datname = current_database()",
  );
  const row = rows[0];
  return { owner: row?.owner ?? "", key: `${client.host}:${client.port}/${client.database}#${row?.oid}@${row?.started}` };
}
