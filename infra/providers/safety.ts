/**
 * MigrationSafety's provider. Its `check` runs in every `pulumi preview` and `pulumi up`: it reads
 * the pending migrations from pgstack's history, analyses them (lint, data at risk, policy,
 * rehearsal) and prints the report. A refusal is a check failure, so nothing of the database's
 * resources (which all depend on this one) runs. The state keeps names and checksums only: no
 * SQL, no connection, no secret.
 */
import {
  analyzeSafety,
  formatRefusal,
  formatSafetyReport,
  type SafetyPolicy,
  type SafetyReport,
} from "../lifecycle/safety/index.js";
import { errorMessage, inContext, loadSqlParser, MigrationSourceError, type ConnectionOptions, type Migration } from "../lifecycle/index.js";
import { rehearse } from "../lifecycle/rehearsal.js";
import { appliedFiles, describeAdoption, readDatabaseState, type AdoptionPlanner, type DatabaseState } from "../lifecycle/state.js";
import { adoptionInput, adoptionPlanner } from "../importers/adoption.js";
import { closeIdleConnections, defineProvider, hasUnknown, logger, providerChanged, UNKNOWN_INPUT, withConnection } from "./common.js";
import { withSql } from "./migration-files.js";
import { fromListed, type ListedMigration, type MigrationInput } from "./migration-keys.js";

/** Inputs of a MigrationSafety, as the program passes them. */
export interface SafetyInputs {
  /** The admin connection to the database (which may not exist yet). */
  connection: ConnectionOptions;
  /** The role the migrations run as (for the rehearsal). */
  role: string;
  /** Every migration; a string without SQL where the provider reads the files ({@link ListedMigration}). */
  migrations: ListedMigration[];
  policy: SafetyPolicy;
  /** The config path of the policy, for messages (`pgstack:safety`). */
  configPath: string;
  /** The configured reset generation: a new one re-applies everything on an emptied database. */
  resetGeneration: number;
  session?: { lockTimeout: string; statementTimeout: string };
  /**
   * The managed schemas: with them, a database that has tables and no pgstack history is
   * adopted (as the MigrationSet adopts it), and what adoption records is not pending.
   */
  schemas?: string[];
  /** A stated adoption version (config `baseline`). */
  baseline?: number;
  /** The database's config path (`pgstack:databases[1]`), for adoption's messages. */
  databaseConfigPath?: string;
  /**
   * False in the update phase of a `pulumi up` (the program's `pulumi.runtime.isDryRun()`): the
   * rehearsal is then skipped, as the real apply runs next and the preview showed the rehearsal.
   * The analysis itself (lint, data at risk, the policy's verdict) runs in both phases: rows can
   * change between a preview and its update. Absent: a preview.
   */
  preview?: boolean;
}

/** What `check` keeps, and so what the state holds. */
export interface SafetyState {
  database: string;
  profile: string;
  /** `name@checksum12` of every migration the check saw. */
  migrations: string[];
}

/** MigrationSafety's provider. Its `check` takes the program's {@link SafetyInputs} and keeps a {@link SafetyState}. */
export const safety = defineProvider<SafetyInputs, SafetyState, SafetyState>("MigrationSafety", {
  async check(_olds, news) {
    // In a preview an input may still be unknown (a marker string), the whole connection when the
    // program creates the server: then there is nothing to check yet, and nothing to connect to.
    const database = hasUnknown(news.connection) ? UNKNOWN_INPUT : news.connection.database;
    const listed = Array.isArray(news.migrations) ? news.migrations.map(fromListed) : [];
    const state: SafetyState = { database, profile: news.policy.profile, migrations: listed.map((m) => `${m.name}@${m.checksum.slice(0, 12)}`) };
    if (!Array.isArray(news.migrations) || hasUnknown(news.connection)) return { inputs: state, failures: [] };
    await loadSqlParser();
    const migrations = listed.map(toMigration);
    let report: SafetyReport;
    try {
      report = await analyzeDatabase(news, migrations);
    } catch (err) {
      // A file that changed or vanished since the program read it (its file:line is in the message).
      if (err instanceof MigrationSourceError) return { inputs: state, failures: [{ property: "", reason: err.message }] };
      throw err;
    }
    for (const line of formatSafetyReport(report).split("\n")) logger.info(line);
    // No property name: the engine would print the property's whole value (every migration's SQL) before the reason.
    const failures = report.verdict === "refuse" ? [{ property: "", reason: formatRefusal(report, news.configPath) }] : [];
    return { inputs: state, failures };
  },

  /** Nothing to change in the database: the resource is a check. Only new provider code updates it. */
  async diff(_id, olds, news) {
    return { changes: providerChanged(olds, news), replaces: [], deleteBeforeReplace: false };
  },

  async create(inputs) {
    return { id: `${inputs.database}/safety`, outs: inputs };
  },

  async update(_id, _olds, news) {
    return { outs: news };
  },

  async read(id, props) {
    return { id, props, inputs: props };
  },

  async delete() {},
});

/**
 * The analysis of what the next `up` runs (the state model's pending migrations: after the
 * history, and after what adoption records without running) on the live database, or on an
 * empty one when it does not exist yet or a reset empties it first; then, when the policy asks
 * for it, the rehearsal on a copy. The rehearsal runs after the analysis' connection is closed:
 * any session on the source rules out the full `TEMPLATE` copy.
 */
async function analyzeDatabase(news: SafetyInputs, migrations: Migration[]) {
  const database = news.connection.database;
  const analyze = (client: Parameters<typeof analyzeSafety>[0], pending: Migration[], empty?: string) =>
    analyzeSafety(client, database, pending, news.policy, {
      logger: (m) => logger.info(m),
      rehearsalUnavailable: empty ?? "pending",
    });
  let analysed: { report: Awaited<ReturnType<typeof analyzeSafety>>; state: DatabaseState };
  try {
    analysed = await withConnection({ ...news.connection, connectTimeoutMs: 15_000 }, async (client) => {
      // Adoption as the MigrationSet plans it, without its logger: the MigrationSet's preview prints
      // adoption's progress and verdict, the report's one `adoption:` line is enough here.
      // The program sends no SQL where the files are here: what is read is read from them, only
      // what is judged (the pending migrations), or built (adoption: every one).
      const adoption = news.schemas ? { adoption: adopter(news, migrations) } : {};
      const state = await readDatabaseState(client, migrations, { generation: news.resetGeneration, database, ...adoption });
      const pending = await withSql(state.pending);
      const report = state.afterReset ? await analyze(null, pending, "skipped: the reset empties the database first") : await analyze(client, pending);
      if (state.afterReset) report.target = "empty";
      if (state.adoption) report.adoption = describeAdoption(state.adoption);
      return { report, state: { ...state, pending } };
    });
  } catch (err) {
    if (err instanceof MigrationSourceError) throw err;
    // 3D000 invalid_catalog_name: the first preview, before the database exists.
    if ((err as { cause?: { code?: string } }).cause?.code === "3D000" || (err as { code?: string }).code === "3D000") {
      return analyze(null, await withSql(migrations), "skipped: the database does not exist yet");
    }
    throw inContext(`database "${database}": the safety check of the pending migrations could not run`, err);
  }
  const { report, state } = analysed;
  // The rehearsal only informs (it never refuses), and in an update the real apply follows it at
  // once, with its own per-migration report: rehearsing there would double every dev `up`.
  if (news.policy.rehearsal && state.pending.length > 0 && !state.afterReset && news.preview === false) {
    report.rehearsal = { skipped: REHEARSAL_NOT_IN_UPDATE };
  } else if (news.policy.rehearsal && state.pending.length > 0 && !state.afterReset) {
    // The analysis' connection stays idle for reuse; it would count as a session on the source.
    await closeIdleConnections();
    try {
      report.rehearsal = await rehearse({ ...news.connection, database: "postgres" }, database, state.pending, {
        role: news.role,
        applied: await withSql(appliedFiles(migrations, state.pending)),
        ...(news.session ? { session: news.session } : {}),
        logger: (m) => logger.info(m),
      });
    } catch (err) {
      report.rehearsal = { skipped: `could not run: ${errorMessage(err).split("\n")[0]}` };
    }
  }
  return report;
}

/** The report's rehearsal line in the update phase of an `up`. */
export const REHEARSAL_NOT_IN_UPDATE = "not run in the update phase of `pulumi up`: the preview rehearses, and the apply follows";

/** Adoption as the MigrationSet plans it, with every migration's SQL (the build runs them all; another tool's history is mapped by their comments). */
function adopter(news: SafetyInputs, migrations: readonly Migration[]): AdoptionPlanner {
  return async (client, versioned, database) => {
    const all = await withSql(migrations);
    const read = new Map(all.map((m) => [m.name, m]));
    return adoptionPlanner(adoptionInput({ ...news, configPath: news.databaseConfigPath }, all))(client, versioned.map((m) => read.get(m.name) ?? m), database);
  };
}

function toMigration(m: MigrationInput): Migration {
  return { id: m.id, name: m.name, file: m.file, checksum: m.checksum, sql: m.sql ?? "", inTransaction: m.inTransaction };
}
