/** GeneratedPassword's provider: a login role's password when the config names no secret. */
import { randomBytes } from "node:crypto";
import { defineProvider, providerChanged } from "./common.js";

/** Inputs of a GeneratedPassword. */
export interface PasswordInputs {
  length: number;
}

/** Outputs: the inputs plus the password (a secret output). */
export interface PasswordOutputs extends PasswordInputs {
  value: string;
}

/** GeneratedPassword's provider. */
export const password = defineProvider<PasswordInputs, PasswordInputs, PasswordOutputs>("GeneratedPassword", {
  async check(_olds, news) {
    const ok = Number.isInteger(news.length) && news.length >= 16 && news.length <= 128;
    return { inputs: news, failures: ok ? [] : [{ property: "", reason: `GeneratedPassword: length must be an integer from 16 to 128, got ${news.length}` }] };
  },
  async diff(_id, olds, news) {
    const replaces = olds.length !== news.length ? ["length"] : [];
    return { changes: replaces.length > 0 || providerChanged(olds, news), replaces, deleteBeforeReplace: false };
  },
  async create(inputs) {
    const value = randomBytes(inputs.length).toString("base64url").slice(0, inputs.length);
    return { id: randomBytes(8).toString("hex"), outs: { length: inputs.length, value } };
  },
  /** Only the provider code changed (a new length replaces): the password stays. */
  async update(_id, olds, news) {
    return { outs: { ...news, value: olds.value } };
  },
  async read(id, props) {
    return { id, props, inputs: { length: props.length } };
  },
  async delete() {},
});
