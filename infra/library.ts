/**
 * The pgstack library: what `import … from "pgstack"` gives a Pulumi program of your own. Declare
 * your databases with the config schema ({@link parseStackConfig}: the same keys as
 * `pgstack:databases` and `pgstack:safety` in a stack file), hand {@link declareDatabases} (or
 * one {@link PostgresDatabase} per database) the server your program creates, its host, port and
 * admin password as outputs, and one `pulumi up` creates the server and everything inside it.
 *
 * @example
 * ```ts
 * import * as pulumi from "@pulumi/pulumi";
 * import { declareDatabases, parseStackConfig } from "pgstack";
 *
 * export = async () => {
 *   const server = new MyPostgresServer("pg"); // an RDS instance, a container…
 *   const config = parseStackConfig({ databases: [{ name: "shop", owner: "shop_owner", roles: [{ name: "shop_owner" }] }] }, pulumi.getStack());
 *   const dbs = await declareDatabases({
 *     config,
 *     server: { host: server.host, port: server.port, adminUser: "postgres", adminPassword: server.password },
 *   });
 *   return { shopHead: dbs["shop"]!.outputs.migrationHead };
 * };
 * ```
 * @packageDocumentation
 */
export { PostgresDatabase, type PostgresDatabaseArgs, type DatabaseOutputs, type ServerInput } from "./components/database.js";
export { declareDatabases, loadDatabaseMigrations, type DeclareDatabasesOptions } from "./program.js";
export {
  stackConfigSchema,
  parseStackConfig,
  safetyPolicyOf,
  ConfigError,
  CONFIG_NAMESPACE,
  type StackConfig,
  type StackConfigInput,
  type DatabaseConfig,
  type ServerConfig,
} from "./config.js";
export { PROFILES, type SafetyPolicy, type PolicyMode } from "./lifecycle/safety/index.js";
export {
  DatabaseReset,
  MigrationSet,
  MigrationSafety,
  SchemaVerification,
  type DatabaseResetArgs,
  type MigrationSetArgs,
  type MigrationSafetyArgs,
  type SchemaVerificationArgs,
} from "./providers/index.js";
export { PgstackError } from "./lifecycle/errors.js";
export type { Migration } from "./lifecycle/source.js";
