/** MigrationSet's provider: pending migrations as a diff, applied under the advisory lock. */
import { applyMigrations, checkHistory, loadSqlParser, readHistory, type ConnectionOptions, type Migration } from "../lifecycle/index.js";
import { previewBaseline, type BaselineOptions } from "../lifecycle/baseline.js";
import { foreignAppliedVersions } from "../importers/foreign-history.js";
import { inputsOf, logger, providerChanged, readOrGone, same, withConnection, type Failure } from "./common.js";


/** A migration as a resource input: everything preview shows, including its SQL. */
export interface MigrationInput {
  id: number;
  name: string;
  file: string;
  checksum: string;
  inTransaction: boolean;
  sql: string;
}

/** Inputs of a MigrationSet. */
export interface MigrationSetInputs {
  connection: ConnectionOptions;
  /** Run the migrations as this role, so the tables belong to it. */
  role: string;
  migrations: MigrationInput[];
  /** The reset generation: a new one means the history was cleared, so everything re-applies. */
  resetGeneration: number;
  /** `lock_timeout` and `statement_timeout` for each migration (absent in states written before). */
  session?: { lockTimeout: string; statementTimeout: string };
  /** The managed schemas, compared when a database with tables and no history is adopted. */
  schemas?: string[];
  /** A stated adoption version (config `baseline`); pgstack still verifies it. */
  baseline?: number;
  /** Config path of this database (`pgstack:databases[1]`), for messages. */
  configPath?: string;
}

/** Outputs: inputs plus the history read back from the database. */
export interface MigrationSetOutputs extends MigrationSetInputs {
  /** `name@checksum12` of every recorded migration, oldest first. */
  applied: string[];
  /** The last applied migration's name, or null. */
  head: string | null;
}

function appliedKeys(history: { name: string; checksum: string }[]): string[] {
  return history.map((h) => `${h.name}@${h.checksum.slice(0, 12)}`);
}

export const migrations = {
  async check(olds: Partial<MigrationSetInputs> | undefined, news: MigrationSetInputs): Promise<{ inputs: MigrationSetInputs; failures: Failure[] }> {
    const failures: Failure[] = [];
    // After a reset the history starts again from zero, so edits to old files are allowed.
    if (olds?.migrations && olds.resetGeneration === news.resetGeneration) {
      const applied = olds.migrations.map((m) => ({ ...m, appliedAt: new Date(0), durationMs: 0 }));
      for (const problem of checkHistory(applied, news.migrations.map(toMigration))) {
        failures.push({ property: "migrations", reason: `${problem}. Applied migrations are immutable: restore the file and add a new migration instead` });
      }
    }
    // Adoption shows in preview: N is named, or the refusal (with the difference) fails it.
    if (failures.length === 0 && news.schemas) {
      await loadSqlParser();
      const adoption = await previewBaseline(news.migrations.map(toMigration), news.connection.database, baselineOptions(news));
      if (adoption.message) logger.info(adoption.message);
      if (adoption.refusal) failures.push({ property: "migrations", reason: adoption.refusal });
    }
    return { inputs: news, failures };
  },

  async diff(_id: string, olds: MigrationSetOutputs, news: MigrationSetInputs) {
    const applied = new Set(olds.applied ?? []);
    const pending = news.migrations.filter((m) => !applied.has(`${m.name}@${m.checksum.slice(0, 12)}`));
    const changes =
      pending.length > 0 ||
      olds.resetGeneration !== news.resetGeneration ||
      olds.role !== news.role ||
      !same(olds.session, news.session) ||
      !same(olds.migrations, news.migrations) ||
      !same(olds.connection, news.connection) ||
      providerChanged(olds, news);
    return { changes, replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs: MigrationSetInputs): Promise<{ id: string; outs: MigrationSetOutputs }> {
    const outs = await applyAll(inputs);
    return { id: `${inputs.connection.database}/migrations`, outs };
  },

  async update(_id: string, _olds: MigrationSetOutputs, news: MigrationSetInputs): Promise<{ outs: MigrationSetOutputs }> {
    return { outs: await applyAll(news) };
  },

  /** Refresh: the history read back, so a migration applied or removed by hand shows as drift. */
  async read(id: string, props: MigrationSetOutputs) {
    const history = await readOrGone(props.connection, (client) => readHistory(client));
    if (!history) return {};
    return {
      id,
      props: { ...props, applied: appliedKeys(history), head: history.at(-1)?.name ?? null },
      inputs: inputsOf(props, MIGRATION_INPUT_KEYS),
    };
  },

  /** Deleting the MigrationSet leaves tables and history in place; only the Database's deletion drops them. */
  async delete(): Promise<void> {},
};
const MIGRATION_INPUT_KEYS = ["connection", "role", "migrations", "resetGeneration", "session", "schemas", "baseline", "configPath"] as const;

/** Adoption settings from the inputs. The integrator adds `foreignApplied` (other tools' histories) here. */
function baselineOptions(inputs: MigrationSetInputs): BaselineOptions {
  return {
    connection: inputs.connection,
    schemas: inputs.schemas ?? ["public"],
    ...(inputs.baseline !== undefined ? { stated: inputs.baseline } : {}),
    ...(inputs.configPath ? { configPath: `${inputs.configPath}.baseline` } : {}),
    // Another tool's history (Drizzle, Prisma, Flyway, …) names the candidate version, still verified.
    foreignApplied: foreignAppliedVersions(inputs.migrations.map(toMigration)),
    logger,
  };
}

function toMigration(m: MigrationInput): Migration {
  return { id: m.id, name: m.name, file: m.file, checksum: m.checksum, sql: m.sql, inTransaction: m.inTransaction };
}

async function applyAll(inputs: MigrationSetInputs): Promise<MigrationSetOutputs> {
  await loadSqlParser();
  return withConnection(inputs.connection, async (client) => {
    const result = await applyMigrations(client, inputs.migrations.map(toMigration), {
      database: inputs.connection.database,
      role: inputs.role,
      ...(inputs.session ? { session: inputs.session } : {}),
      logger,
      ...(inputs.schemas ? { baseline: baselineOptions(inputs) } : {}),
    });
    if (result.error) throw result.error;
    const history = await readHistory(client);
    return { ...inputs, applied: appliedKeys(history), head: history.at(-1)?.name ?? null };
  });
}

