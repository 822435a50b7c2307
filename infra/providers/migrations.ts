/**
 * MigrationSet's provider: pending migrations as a diff, applied under the advisory lock.
 *
 * The state stays small as the history grows: the program sends every migration's name, file and
 * checksum without its SQL; `check` reads the SQL of the pending ones from their files (refusing
 * a file whose sha256 is not the one the program read), and records every migration applied by
 * an earlier `up` as `file@sha256` in `appliedChecksums`. So `pulumi preview --diff` shows the
 * pending files and their SQL, and nothing of the history. When an apply needs the SQL of a
 * migration it was not given (the database lost history rows the state knew of), it reads the
 * file the same way and refuses it unless its sha256 is the recorded one. (Inputs that carry SQL,
 * from older programs or a program whose files the provider cannot find, are used as they are.)
 *
 * Repeatable migrations (`R__name.sql`) are in the same lists, after the versioned ones: one
 * changed since its latest run is pending again (with its SQL, and a unified diff of the
 * definition in the preview), and its latest run is in `applied` as `R__name@checksum12`.
 */
import * as path from "node:path";
import {
  applyMigrations,
  checkHistory,
  compareMigrations,
  isRepeatable,
  isRepeatableName,
  loadSqlParser,
  MigrationSourceError,
  readHistory,
  readRepeatables,
  withMigrationLock,
  withOwnerSession,
  DEFAULT_LOCK_TIMEOUT_MS,
  type ConnectionOptions,
  type ManagedSchema,
  type Migration,
} from "../lifecycle/index.js";
import { schemaDdlAfterMigrations, schemasCreatedBy } from "../lifecycle/migration-schemas.js";
import { baselineAdopter } from "../lifecycle/baseline.js";
import { readDatabaseState } from "../lifecycle/state.js";
import { describeRepeatables } from "../lifecycle/repeatables.js";
import { adoptionInput, adoptionOptions, adoptionPlanner } from "../importers/adoption.js";
import { readRecorded, withSql } from "./migration-files.js";
import { prepareDeclaredSchema } from "./drift.js";
import { appliedKey, fromAppliedKey, fromListed, type ListedMigration, type MigrationInput } from "./migration-keys.js";
import { defineProvider, inputsOf, logger, providerChanged, readOrGone, same, withConnection, type Failure } from "./common.js";

export { appliedKey, fromAppliedKey, fromListed, listedMigration, NO_TRANSACTION_MARK, type ListedMigration, type MigrationInput } from "./migration-keys.js";

/** Inputs of a MigrationSet, as the program passes them: the migrations listed compactly ({@link ListedMigration}). */
export type MigrationSetArgs = Omit<MigrationSetInputs, "migrations"> & { migrations: ListedMigration[] };

/** Inputs of a MigrationSet, as `check` keeps them. */
export interface MigrationSetInputs {
  connection: ConnectionOptions;
  /** Run the migrations as this role, so the tables belong to it. */
  role: string;
  /**
   * The migrations still to apply, with their SQL. The program passes every migration, without
   * SQL where the provider can read the file; `check` fills in the pending ones' SQL and moves the
   * ones an earlier `up` applied to {@link appliedChecksums}. (States written before that split
   * hold every migration here, with SQL.)
   */
  migrations: MigrationInput[];
  /**
   * `name@sha256` of every migration an earlier `up` applied, in order (absent in older states);
   * the file is `<migrationsDir>/<name>.sql`. (`path@sha256` when the files share no folder.)
   */
  appliedChecksums?: string[];
  /** The folder of the migration files, relative to the project (set by `check`). */
  migrationsDir?: string;
  /** The reset generation: a new one means the history was cleared, so everything re-applies. */
  resetGeneration: number;
  /** `lock_timeout` and `statement_timeout` for each migration (absent in states written before). */
  session?: { lockTimeout: string; statementTimeout: string };
  /** The managed schemas, compared when a database with tables and no history is adopted. */
  schemas?: string[];
  /**
   * The managed schemas with their owner and grants: one a migration creates gets them right after
   * that migration runs (a fresh database, or again after a reset, which leaves it to the migration).
   */
  grants?: ManagedSchema[];
  /** A stated adoption version (config `baseline`); pgstack still verifies it. */
  baseline?: number;
  /** Config path of this database (`pgstack:databases[1]`), for messages. */
  configPath?: string;
}

/**
 * Outputs: the inputs without the migration lists (`migrations` is empty, `appliedChecksums`
 * absent: the state holds the history once, in the inputs; states written before the split have
 * every migration here), and the history read back from the database.
 */
export interface MigrationSetOutputs extends MigrationSetInputs {
  /** `name@checksum12` of every recorded migration, oldest first, then each repeatable's latest run by name. */
  applied: string[];
  /** The last applied migration's name, or null. */
  head: string | null;
}

function appliedKeys(history: { name: string; checksum: string }[]): string[] {
  return history.map((h) => `${h.name}@${h.checksum.slice(0, 12)}`);
}

/** The folder all the files are in, if they share one. */
function commonDir(ms: readonly { file: string }[]): string | undefined {
  const dirs = new Set(ms.map((m) => path.posix.dirname(m.file)));
  return dirs.size === 1 ? [...dirs][0] : undefined;
}

/** Every migration the inputs name, applied ones without SQL, in version order. */
export function allMigrations(inputs: Partial<Pick<MigrationSetInputs, "appliedChecksums" | "migrationsDir"> & { migrations: readonly ListedMigration[] }>): MigrationInput[] {
  const byName = new Map<string, MigrationInput>();
  for (const key of inputs.appliedChecksums ?? []) {
    const m = fromAppliedKey(key, inputs.migrationsDir);
    byName.set(m.name, m);
  }
  for (const entry of inputs.migrations ?? []) {
    const m = fromListed(entry);
    byName.set(m.name, m);
  }
  return [...byName.values()].sort(compareMigrations);
}

/** MigrationSet's provider. */
export const migrations = defineProvider<MigrationSetArgs, MigrationSetInputs, MigrationSetOutputs>("MigrationSet", {
  /**
   * Splits the migrations into applied ones (names and checksums only) and pending ones (with
   * SQL), and refuses an edited or removed applied migration, naming the file. Applied means
   * "in the inputs of the last successful `up`", which applied them all, in this generation.
   */
  async check(olds, args) {
    const news: MigrationSetInputs = { ...args, migrations: (args.migrations ?? []).map(fromListed) };
    const failures: Failure[] = [];
    const listed = allMigrations(news);
    // After a reset the history starts again from zero, so edits to old files are allowed.
    const sameGeneration = olds?.migrations !== undefined && olds.resetGeneration === news.resetGeneration;
    const known = sameGeneration ? allMigrations(olds) : [];
    if (known.length > 0) {
      // Repeatables may change: checkHistory leaves them out.
      const applied = known.filter((m) => !isRepeatable(m)).map((m) => ({ ...m, appliedAt: new Date(0), durationMs: 0 }));
      for (const problem of checkHistory(applied, listed.map(toMigration))) {
        // No property: the engine would print the whole (long) property value with the reason.
        failures.push({ property: "", reason: `${problem}. Applied migrations are immutable: restore the file and add a new migration instead` });
      }
    }
    if (failures.length > 0) return { inputs: news, failures };
    const done = new Set(known.map((m) => `${m.name}@${m.checksum}`));
    const isDone = (m: MigrationInput) => done.has(`${m.name}@${m.checksum}`);
    // The program sends names and checksums; the preview shows the SQL of what will run.
    let all: MigrationInput[];
    try {
      all = await withSql(listed, (m) => !isDone(m));
    } catch (err) {
      if (err instanceof MigrationSourceError) return { inputs: news, failures: [{ property: "", reason: err.message }] };
      throw err;
    }
    // Adoption shows in preview: N is named, or the refusal (with the difference) fails it. Only
    // before any up of this generation: afterwards the history exists and there is nothing to adopt.
    const adopting = news.schemas !== undefined && known.length === 0;
    // A repeatable not run at this checksum by the last `up`: the preview names it, with its diff.
    const repeating = all.some((m) => isRepeatable(m) && !isDone(m));
    if ((adopting || repeating) && typeof news.connection?.host === "string") {
      await loadSqlParser();
      // Read-only; undefined before the database exists (nothing to adopt then).
      const state = await readOrGone(news.connection, (client) =>
        readDatabaseState(client, all.map(toMigration), {
          generation: news.resetGeneration,
          database: news.connection.database,
          ...(adopting ? { adoption: adoptionPlanner(adoptionOf({ ...news, migrations: all })) } : {}),
        }),
      );
      const adoption = state?.adoption;
      if (adoption && "message" in adoption) logger.info(adoption.message);
      if (adoption && "deferred" in adoption) logger.warn(adoption.deferred);
      if (adoption && "refusal" in adoption) return { inputs: news, failures: [{ property: "", reason: adoption.refusal }] };
      // A repeatable without SQL here ran at this checksum in the last `up`; `up` reads its file if needed.
      const pending = (state?.pending ?? all.map(toMigration)).filter((m) => m.sql !== "");
      for (const line of describeRepeatables(news.connection.database, pending, state?.repeatables ?? [])) logger.info(line);
    }
    const { session, migrationsDir: _dir, ...rest } = news;
    const dir = commonDir(all);
    const inputs: MigrationSetInputs = {
      ...rest,
      migrations: all.filter((m) => !isDone(m)),
      appliedChecksums: all.filter(isDone).map((m) => appliedKey(m, dir)),
      ...(dir !== undefined ? { migrationsDir: dir } : {}),
      ...(session ? { session } : {}),
    };
    return { inputs, failures };
  },

  /**
   * Compares the migrations with the history the last `up` or `refresh` read back: a change when
   * one is not recorded (pending, or edited), or one recorded has no file any more.
   */
  async diff(_id, olds, news) {
    const applied = olds.applied ?? [];
    const recorded = new Set(applied);
    const all = allMigrations(news);
    const pending = all.filter((m) => !recorded.has(`${m.name}@${m.checksum.slice(0, 12)}`));
    // A recorded versioned migration without its file; a removed repeatable is no change (its objects stay).
    const versioned = (names: string[]) => names.filter((n) => !isRepeatableName(n)).length;
    const changes =
      pending.length > 0 ||
      versioned(all.map((m) => m.name)) !== versioned(applied) ||
      olds.resetGeneration !== news.resetGeneration ||
      olds.role !== news.role ||
      !same(olds.session, news.session) ||
      !same(olds.connection, news.connection) ||
      providerChanged(olds, news);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs) {
    const outs = await applyAll(inputs);
    return { id: `${inputs.connection.database}/migrations`, outs };
  },

  async update(_id, _olds, news) {
    return { outs: await applyAll(news) };
  },

  /**
   * Refresh: the history read back, so a migration applied or removed by hand shows as drift.
   * The inputs become the history's migrations (names and checksums), with no SQL.
   */
  async read(id, props) {
    const read = await readOrGone(props.connection, readRecordedRuns);
    if (!read) return {};
    const { history, repeatables } = read;
    const dir = props.migrationsDir ?? commonDir(props.migrations ?? []);
    const { migrations: _m, appliedChecksums: _a, ...outs } = props;
    const inputs: MigrationSetInputs = {
      ...inputsOf(outs, MIGRATION_INPUT_KEYS),
      migrations: [],
      appliedChecksums: [...history, ...repeatables].map((h) => appliedKey({ name: h.name, file: dir === undefined ? `${h.name}.sql` : `${dir}/${h.name}.sql`, checksum: h.checksum }, dir)),
      ...(dir !== undefined ? { migrationsDir: dir } : {}),
    };
    return { id, props: { ...outs, migrations: [], ...(dir !== undefined ? { migrationsDir: dir } : {}), applied: appliedKeys([...history, ...repeatables]), head: history.at(-1)?.name ?? null }, inputs };
  },

  /** Deleting the MigrationSet leaves tables and history in place; only the Database's deletion drops them. */
  async delete() {},
});
const MIGRATION_INPUT_KEYS = ["connection", "role", "resetGeneration", "session", "schemas", "grants", "baseline", "configPath"] as const;

/** Adoption settings from the inputs, with the progress logged (the MigrationSet reports adoption). */
function adoptionOf(inputs: MigrationSetInputs) {
  return adoptionInput(inputs, inputs.migrations.filter((m) => m.sql !== undefined).map(toMigration), logger);
}

/** pgstack's history and each repeatable's latest run: what `applied` lists. */
async function readRecordedRuns(client: Parameters<typeof readHistory>[0]) {
  return { history: await readHistory(client), repeatables: await readRepeatables(client) };
}

function toMigration(m: MigrationInput): Migration {
  return { id: m.id, name: m.name, file: m.file, checksum: m.checksum, sql: m.sql ?? "", inTransaction: m.inTransaction };
}

async function applyAll(inputs: MigrationSetInputs): Promise<MigrationSetOutputs> {
  const all = allMigrations(inputs);
  const database = inputs.connection.database;
  // The declared schema the SchemaVerification compares with next, built beside the apply.
  let preparing: Promise<void> | undefined;
  const prepare = () => {
    const { migrationsDir: dir, schemas } = inputs;
    if (dir !== undefined && schemas !== undefined) preparing ??= prepareDeclaredSchema({ connection: inputs.connection, schemas, grants: inputs.grants, declared: { dir, role: inputs.role } });
  };
  // Confined: the migrations run on a session of a throwaway role granted only the owner, so
  // none of them (a `RESET ROLE` included) can act as the admin.
  const applying = withConnection(inputs.connection, (admin) => withOwnerSession(admin, inputs.connection, { owner: inputs.role, logger }, (client) =>
    // The lock is held from the history read to the end of the apply (applyMigrations takes it
    // again: session advisory locks nest), so the SQL loaded below is all the apply can need.
    withMigrationLock(client, database, DEFAULT_LOCK_TIMEOUT_MS, async () => {
      // Versioned by name; repeatables at the checksum of their latest run.
      const before = await readRecordedRuns(client);
      const recorded = new Set([...before.history.map((h) => h.name), ...before.repeatables.map((r) => `${r.name}@${r.checksum}`)]);
      const isRecorded = (m: MigrationInput) => recorded.has(isRepeatable(m) ? `${m.name}@${m.checksum}` : m.name);
      const needsSql = all.filter((m) => m.sql === undefined && !isRecorded(m));
      if (needsSql.length > 0) logger.info(`${database}: reading ${needsSql.length} applied migration file(s) the database has no record of`);
      const loaded = new Map<string, Migration>();
      for (const m of needsSql) loaded.set(m.name, await readRecorded(m));
      const list = all.map((m) => loaded.get(m.name) ?? toMigration(m));
      // The parser splits no-transaction migrations, and places a failing statement at file:line.
      if (all.some((m) => !isRecorded(m))) {
        prepare();
        await loadSqlParser();
      }
      const result = await applyMigrations(client, list, {
        database,
        role: inputs.role,
        ...(inputs.session ? { session: inputs.session } : {}),
        logger,
        ...(inputs.schemas ? { adopt: baselineAdopter(database, adoptionOptions(adoptionOf(inputs))) } : {}),
      });
      // Before any error: a schema an applied migration created gets its owner and grants regardless.
      const ran = new Set(result.results.filter((r) => r.status === "Success").map((r) => r.name));
      const created = schemasCreatedBy(inputs.grants ?? [], list.filter((m) => ran.has(m.name)));
      if (created.length > 0) {
        await client.query(created.flatMap(schemaDdlAfterMigrations).join(";\n"));
        logger.info(`${database}: owner and grants applied to schema(s) the migrations created: ${created.map((s) => s.name).join(", ")}`);
      }
      if (result.error) throw result.error;
      return readRecordedRuns(client);
    }),
  ));
  // Whatever the apply did, the build beside it has ended (its scratch database dropped) before this returns.
  const outs = await applying.finally(() => preparing);
  // The outputs keep neither SQL nor the lists (the inputs have them): the state holds the
  // history once, as names and checksums.
  const { session, migrations: _m, appliedChecksums: _a, ...rest } = inputs;
  return { ...rest, migrations: [], ...(session ? { session } : {}), applied: appliedKeys([...outs.history, ...outs.repeatables]), head: outs.history.at(-1)?.name ?? null };
}
