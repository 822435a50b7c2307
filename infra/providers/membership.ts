/**
 * OwnerMembership's provider: the admin's membership in a database's owner role, with the options
 * it needs on every PostgreSQL (see lifecycle/membership.ts). It replaces `postgresql.GrantRole`,
 * whose plain `GRANT` and one-row read misbehave on PostgreSQL 16+ (the creator's implicit ADMIN
 * grant is a second row, read back as `with_admin_option`, which replaced it on every run).
 */
import { grantOwnerMembership, readMembership, revokeOwnerMembership, type ConnectionOptions } from "../lifecycle/index.js";
import { acceptInputs, defineProvider, inputsOf, logger, providerChanged, readOrGone, same, withConnection } from "./common.js";

/** Inputs: the admin connection (to `postgres`) and the owner role. */
export interface MembershipInputs {
  connection: ConnectionOptions;
  owner: string;
}

/** Outputs: the inputs and whether pgstack made the grant (only then does delete revoke it). */
export interface MembershipOutputs extends MembershipInputs {
  granted: boolean;
  /** Both options held when last created or read; false in a refresh shows the loss as drift. */
  inheritAndSet: boolean;
}

/** OwnerMembership's provider. */
export const membership = defineProvider<MembershipInputs, MembershipInputs, MembershipOutputs>("OwnerMembership", {
  check: acceptInputs,

  async diff(_id, olds, news) {
    const replaces = olds.owner !== news.owner || olds.connection.user !== news.connection.user ? ["owner"] : [];
    // Lost since (refresh saw it): grant it again.
    const lost = olds.inheritAndSet === false;
    return { changes: replaces.length > 0 || lost || !same(olds.connection, news.connection) || providerChanged(olds, news), replaces, deleteBeforeReplace: true };
  },

  async create(inputs) {
    const outcome = await withConnection(inputs.connection, (c) => grantOwnerMembership(c, inputs.owner));
    if (outcome.statement) logger.info(`${inputs.connection.user}: ${outcome.statement.replace("CURRENT_USER", inputs.connection.user)}`);
    return { id: `${inputs.connection.user}/${inputs.owner}`, outs: { ...inputs, granted: outcome.action === "granted", inheritAndSet: true } };
  },

  async update(_id, olds, news) {
    const outcome = await withConnection(news.connection, (c) => grantOwnerMembership(c, news.owner));
    return { outs: { ...news, granted: olds.granted || outcome.action === "granted", inheritAndSet: true } };
  },

  async read(id, props) {
    const found = await readOrGone(props.connection, (c) => readMembership(c, props.owner));
    if (!found) return {};
    return { id, props: { ...props, inheritAndSet: found.superuser || (found.inherit && found.set) }, inputs: inputsOf(props, ["connection", "owner"] as const) };
  },

  async delete(_id, props) {
    if (!props.granted) return;
    await withConnection(props.connection, (c) => revokeOwnerMembership(c, props.owner));
  },
});
