/** DatabaseReset's provider: the guarded "nuke" as check/diff/create/read/update/delete. */
import { describeUnendable, otherSessions, readGeneration, resetDatabase, resetRefusal, ResetRefusedError, type ConnectionOptions, type ManagedSchema } from "../lifecycle/index.js";
import { defineProvider, inputsOf, logger, providerChanged, readOrGone, same, withConnection } from "./common.js";

/** Inputs of a DatabaseReset (the resource class's args are these, as `pulumi.Input`s). */
export interface ResetInputs {
  connection: ConnectionOptions;
  stack: string;
  /** Config path of this database's reset settings, for messages. */
  configPath: string;
  generation: number;
  allowed: boolean;
  /** True when the config accepted data loss for exactly this generation. */
  acceptDataLoss: boolean;
  schemas: ManagedSchema[];
  /** The managed schemas a migration creates: dropped, not recreated (the MigrationSet restores them). */
  createdByMigrations?: string[];
  /** The backup taken before this generation (an input so the reset waits for it). */
  backup: string;
  /** `every-deploy`: reset on every deploy (absent in states written before: `generation`). */
  mode?: "generation" | "every-deploy";
  /** every-deploy: the deploy's token from the {@link everyDeploy} trigger; a new one replaces (resets). */
  trigger?: string;
}

/** Outputs of a DatabaseReset: its inputs plus what the reset did. */
export interface ResetOutputs extends ResetInputs {
  action: "adopted" | "unchanged" | "reset";
  previousGeneration: number | null;
  droppedTables: string[];
  /** The generation recorded inside the database (refreshed by `read`). */
  recordedGeneration: number | null;
  /**
   * When this reset ran (ms since 1970), or the generation when it did not reset: new after
   * every reset, so the MigrationSet of an every-deploy database re-applies everything.
   */
  epoch?: number;
}

/** The core's guard on these inputs, `recorded` being the generation last seen (state or database). */
function refusal(recorded: number | undefined, news: ResetInputs): string | undefined {
  return resetRefusal({ stack: news.stack, database: news.connection.database, configPath: news.configPath, recorded, generation: news.generation, allowed: news.allowed, mode: news.mode });
}

/**
 * Says in the preview of a reset which sessions it will end and which it cannot (by the server's
 * rule), so a session the admin may not end is known before `up`. Best effort: the preview goes on
 * without it when the database cannot be read.
 */
async function previewSessions(connection: ConnectionOptions): Promise<void> {
  const db = connection.database;
  const sessions = await withConnection(connection, (c) => otherSessions(c, db)).catch(() => undefined);
  if (!sessions?.length) return;
  const endable = sessions.filter((s) => !s.refusal).length;
  const left = describeUnendable(sessions, connection.user);
  logger.info(`${db}: the reset will end ${endable} other session(s)${left ? `; it ${left.replace(/; cannot/g, "; it cannot")}` : ""}`);
}

/** DatabaseReset's provider. */
export const reset = defineProvider<ResetInputs, ResetInputs, ResetOutputs>("DatabaseReset", {
  async check(olds, news) {
    const reason = refusal(olds?.generation, news);
    // No property name: the engine would print the property's value before the reason.
    return { inputs: news, failures: reason ? [{ property: "", reason }] : [] };
  },

  async diff(_id, olds, news) {
    // every-deploy: each deploy brings a new trigger token (unknown in preview), and so a reset.
    const everyDeploy = news.mode === "every-deploy" && olds.trigger !== news.trigger;
    if (everyDeploy) logger.info(`${news.connection.database}: ${news.configPath}.mode is every-deploy: this deploy drops and rebuilds the database, then re-applies every migration`);
    const replaces = olds.generation !== news.generation ? ["generation"] : everyDeploy ? ["trigger"] : [];
    if (replaces.length > 0) await previewSessions(news.connection);
    const changes =
      replaces.length > 0 ||
      olds.allowed !== news.allowed ||
      olds.acceptDataLoss !== news.acceptDataLoss ||
      !same(olds.schemas, news.schemas) ||
      !same(olds.connection, news.connection) ||
      providerChanged(olds, news);
    // The old reset is deleted (a no-op) before its replacement nukes: never two at once.
    return { changes, replaces, deleteBeforeReplace: true };
  },

  async create(inputs) {
    const outcome = await withConnection(inputs.connection, async (client) => {
      const recorded = await readGeneration(client);
      // Defence in depth: `check` refuses this at preview; a stack that may not reset never nukes.
      const refused = refusal(recorded, inputs);
      if (refused) throw new ResetRefusedError(refused, "nothing was dropped; restore the generation or allow resets in this stack, as said above");
      return resetDatabase(client, {
        database: inputs.connection.database,
        generation: inputs.generation,
        schemas: inputs.schemas,
        ...(inputs.createdByMigrations ? { createdByMigrations: inputs.createdByMigrations } : {}),
        acceptDataLoss: inputs.acceptDataLoss,
        ...(inputs.mode === "every-deploy" ? { force: true } : {}),
        logger,
      });
    });
    return {
      id: `${inputs.connection.database}@${inputs.generation}`,
      outs: {
        ...inputs,
        action: outcome.action,
        previousGeneration: outcome.previousGeneration ?? null,
        droppedTables: outcome.dropped.map((d) => `${d.table} (${d.rows} rows)`),
        recordedGeneration: inputs.generation,
        epoch: outcome.action === "reset" ? Date.now() : inputs.generation,
      },
    };
  },

  async update(_id, olds, news) {
    // Only settings changed (the generation is a replacement): nothing to do in the database.
    return { outs: { ...olds, ...news } };
  },

  async read(id, props) {
    const found = await readOrGone(props.connection, async (client) => ({ recorded: await readGeneration(client) }));
    if (!found) return {};
    const { recorded } = found;
    return { id, props: { ...props, recordedGeneration: recorded ?? null }, inputs: inputsOf(props, RESET_INPUT_KEYS) };
  },

  /** Deleting the reset resource does nothing to the database. */
  async delete() {},
});
const RESET_INPUT_KEYS = ["connection", "stack", "configPath", "generation", "allowed", "acceptDataLoss", "schemas", "createdByMigrations", "backup", "mode", "trigger"] as const;
