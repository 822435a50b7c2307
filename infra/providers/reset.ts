/** DatabaseReset's provider: the guarded "nuke" as check/diff/create/read/update/delete. */
import { randomBytes } from "node:crypto";
import { readGeneration, resetDatabase, type ConnectionOptions, type ManagedSchema } from "../lifecycle/index.js";
import { inputsOf, logger, providerChanged, readOrGone, same, withConnection, type Failure } from "./common.js";


/** Inputs of a DatabaseReset. */
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

/** Why a generation change is refused, or undefined if it may proceed. */
export function resetGuard(olds: Partial<ResetInputs> | undefined, news: ResetInputs): string | undefined {
  if (news.mode === "every-deploy" && !news.allowed) {
    return `stack "${news.stack}" does not allow resetting database "${news.connection.database}", but ${news.configPath}.mode is "every-deploy"; set ${news.configPath}.allowed: true or remove ${news.configPath}.mode`;
  }
  if (!olds || olds.generation === undefined || olds.generation === news.generation || news.allowed) return undefined;
  return (
    `stack "${news.stack}" does not allow resetting database "${news.connection.database}" ` +
    `(generation ${olds.generation} → ${news.generation}). ` +
    `A reset drops every managed schema. To allow it in this stack, set ${news.configPath}.allowed: true; ` +
    `otherwise restore ${news.configPath}.generation to ${olds.generation}`
  );
}

export const reset = {
  async check(olds: Partial<ResetInputs> | undefined, news: ResetInputs): Promise<{ inputs: ResetInputs; failures: Failure[] }> {
    const reason = resetGuard(olds, news);
    return { inputs: news, failures: reason ? [{ property: "generation", reason }] : [] };
  },

  async diff(_id: string, olds: ResetOutputs, news: ResetInputs) {
    // every-deploy: each deploy brings a new trigger token (unknown in preview), and so a reset.
    const everyDeploy = news.mode === "every-deploy" && olds.trigger !== news.trigger;
    if (everyDeploy) logger.info(`${news.connection.database}: ${news.configPath}.mode is every-deploy: this deploy drops and rebuilds the database, then re-applies every migration`);
    const replaces = olds.generation !== news.generation ? ["generation"] : everyDeploy ? ["trigger"] : [];
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

  async create(inputs: ResetInputs): Promise<{ id: string; outs: ResetOutputs }> {
    const outcome = await withConnection(inputs.connection, async (client) => {
      const recorded = await readGeneration(client);
      // Defence in depth: `check` refuses this at preview; a stack that may not reset never nukes.
      if (recorded !== undefined && recorded !== inputs.generation && !inputs.allowed) {
        throw new Error(resetGuard({ generation: recorded }, inputs));
      }
      return resetDatabase(client, {
        database: inputs.connection.database,
        generation: inputs.generation,
        schemas: inputs.schemas,
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

  async update(_id: string, _olds: ResetOutputs, news: ResetInputs): Promise<{ outs: ResetOutputs }> {
    // Only settings changed (the generation is a replacement): nothing to do in the database.
    return { outs: { ..._olds, ...news } };
  },

  async read(id: string, props: ResetOutputs) {
    const found = await readOrGone(props.connection, async (client) => ({ recorded: await readGeneration(client) }));
    if (!found) return {};
    const { recorded } = found;
    return { id, props: { ...props, recordedGeneration: recorded ?? null }, inputs: inputsOf(props, RESET_INPUT_KEYS) };
  },

  /** Deleting the reset resource does nothing to the database. */
  async delete(): Promise<void> {},
};
const RESET_INPUT_KEYS = ["connection", "stack", "configPath", "generation", "allowed", "acceptDataLoss", "schemas", "backup", "mode", "trigger"] as const;

/** Inputs of the every-deploy trigger: why it exists, shown in the preview. */
export interface EveryDeployInputs {
  reason: string;
}

/**
 * The every-deploy trigger: replaced on every deploy, its new `token` (unknown in preview) makes
 * the backup and the reset run again. It touches no database.
 */
export const everyDeploy = {
  async check(_olds: unknown, news: EveryDeployInputs): Promise<{ inputs: EveryDeployInputs; failures: Failure[] }> {
    return { inputs: news, failures: [] };
  },
  async diff() {
    return { changes: true, replaces: ["reason"], deleteBeforeReplace: true };
  },
  async create(inputs: EveryDeployInputs): Promise<{ id: string; outs: EveryDeployInputs & { token: string } }> {
    const token = `${new Date().toISOString()}-${randomBytes(4).toString("hex")}`;
    return { id: token, outs: { ...inputs, token } };
  },
  async update(_id: string, olds: EveryDeployInputs & { token: string }, news: EveryDeployInputs) {
    return { outs: { ...olds, ...news } };
  },
  async read(id: string, props: EveryDeployInputs & { token: string }) {
    return { id, props, inputs: { reason: props.reason } };
  },
  async delete(): Promise<void> {},
};

