/** EveryDeployTrigger's provider (`reset.mode: every-deploy`). */
import { randomBytes } from "node:crypto";
import { acceptInputs, defineProvider } from "./common.js";

/** Inputs of the every-deploy trigger: why it exists, shown in the preview. */
export interface EveryDeployInputs {
  reason: string;
}

/** Outputs: the inputs and this deploy's token. */
export interface EveryDeployOutputs extends EveryDeployInputs {
  token: string;
}

/**
 * The every-deploy trigger: replaced on every deploy, its new `token` (unknown in preview) makes
 * the backup and the reset run again. It touches no database.
 */
export const everyDeploy = defineProvider<EveryDeployInputs, EveryDeployInputs, EveryDeployOutputs>("EveryDeployTrigger", {
  check: acceptInputs,
  async diff() {
    return { changes: true, replaces: ["reason"], deleteBeforeReplace: true };
  },
  async create(inputs) {
    const token = `${new Date().toISOString()}-${randomBytes(4).toString("hex")}`;
    return { id: token, outs: { ...inputs, token } };
  },
  async update(_id, olds, news) {
    return { outs: { ...olds, ...news } };
  },
  async read(id, props) {
    return { id, props, inputs: { reason: props.reason } };
  },
  async delete() {},
});

