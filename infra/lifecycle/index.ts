/**
 * The lifecycle core: plain TypeScript plus `pg`, with no Pulumi import. The Pulumi dynamic
 * providers and the CLI scripts are thin adapters over these functions.
 */
export * from "./errors.js";
export * from "./identifiers.js";
export * from "./connection.js";
export * from "./source.js";
export * from "./sql.js";
export * from "./history.js";
export * from "./lock.js";
export * from "./apply.js";
export * from "./introspect.js";
export * from "./inventory.js";
export * from "./reset.js";
export * from "./sessions.js";
export * from "./reset-policy.js";
export * from "./verify.js";
export * from "./rehearsal.js";
export * from "./baseline.js";
export * from "./safety/index.js";
export * from "./schema/index.js";
export * from "./state.js";
export * from "./declared.js";
export * from "./drift.js";
export * from "./scratch.js";
export * from "./roles.js";
export * from "./membership.js";
export * from "./migration-schemas.js";
