/**
 * pgstack's dynamic resources: DatabaseReset, MigrationSet, SchemaVerification and
 * GeneratedPassword. Each provider object is a few lines that load `handlers.ts` inside Pulumi's
 * dynamic-provider host and delegate to it.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ConnectionOptions, ManagedSchema, Expectations } from "../lifecycle/index.js";
import type { HandlerKind, MigrationInput } from "./handlers.js";

/**
 * Why absolute paths captured as strings: Pulumi serializes each provider as a closure and
 * runs it in a separate Node process (also for `pulumi refresh` and `destroy`). Capturing
 * module objects breaks that serialization (notably under vitest); two strings do not.
 */
const HANDLERS_PATH = path.join(__dirname, "handlers.ts");
const TSX_API_PATH = path.join(__dirname, "..", "..", "node_modules", "tsx", "dist", "cjs", "api", "index.cjs");

/** Builds the provider object for one resource kind. Keep it small: it is serialized. */
function providerFor(kind: HandlerKind): pulumi.dynamic.ResourceProvider {
  const handlersPath = HANDLERS_PATH;
  const tsxPath = TSX_API_PATH;
  const load = () => {
    // The provider host is plain Node: register tsx so the TypeScript handlers load as-is.
    require(tsxPath).register();
    return require(handlersPath).handlers[kind];
  };
  return {
    check: (olds, news) => load().check(olds, news),
    diff: (id, olds, news) => load().diff(id, olds, news),
    create: (inputs) => load().create(inputs),
    read: (id, props) => load().read(id, props),
    update: (id, olds, news) => load().update(id, olds, news),
    delete: (id, props) => load().delete(id, props),
  };
}

/** The connection the dynamic resources use. The password must be a secret Output. */
export type ConnectionInput = pulumi.Input<{
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  user: pulumi.Input<string>;
  password: pulumi.Input<string>;
  database: pulumi.Input<string>;
  sslmode: pulumi.Input<ConnectionOptions["sslmode"]>;
}>;

/** Marks `connection` (which holds the password) secret in the state, whatever the engine infers. */
const SECRET_OUTPUTS = ["connection"];

/** Arguments of {@link DatabaseReset}. */
export interface DatabaseResetArgs {
  connection: ConnectionInput;
  /** The stack name, for the guard's message. */
  stack: pulumi.Input<string>;
  /** Config path of the reset settings, e.g. `pgstack:databases[0].reset`. */
  configPath: pulumi.Input<string>;
  /** Changing it replaces the resource: the replacement nukes and rebuilds. */
  generation: pulumi.Input<number>;
  /** Whether this stack may reset; `check` refuses a generation change otherwise. */
  allowed: pulumi.Input<boolean>;
  /** Whether data loss was accepted for exactly this generation. */
  acceptDataLoss: pulumi.Input<boolean>;
  schemas: pulumi.Input<ManagedSchema[]>;
  /** The backup taken before this generation; the reset waits for it. */
  backup: pulumi.Input<string>;
}

/**
 * The "nuke" as a resource: its replacement (on a new generation) drops the managed schemas,
 * rebuilds them with owner and grants, and clears the migration history. The generation is
 * recorded in the database, so a retry never nukes twice.
 */
export class DatabaseReset extends pulumi.dynamic.Resource {
  /** What the last create did: `adopted`, `unchanged` or `reset`. */
  declare readonly action: pulumi.Output<string>;
  declare readonly generation: pulumi.Output<number>;
  /** The generation recorded inside the database (refreshed by `pulumi refresh`). */
  declare readonly recordedGeneration: pulumi.Output<number | null>;
  declare readonly droppedTables: pulumi.Output<string[]>;

  constructor(name: string, args: DatabaseResetArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("reset"),
      name,
      { ...args, action: undefined, previousGeneration: undefined, droppedTables: undefined, recordedGeneration: undefined },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS },
      "pgstack",
      "DatabaseReset",
    );
  }
}

/** Arguments of {@link MigrationSet}. */
export interface MigrationSetArgs {
  connection: ConnectionInput;
  /** The role migrations run as (`SET ROLE`), normally the database owner. */
  role: pulumi.Input<string>;
  /** Every migration, in order. Pending ones show in `pulumi preview --diff` with their SQL. */
  migrations: pulumi.Input<MigrationInput[]>;
  /** The reset's generation: a new one re-applies everything from zero. */
  resetGeneration: pulumi.Input<number>;
}

/** The versioned migrations of one database, applied under an advisory lock. */
export class MigrationSet extends pulumi.dynamic.Resource {
  /** `name@checksum` of every recorded migration (refreshed by `pulumi refresh`). */
  declare readonly applied: pulumi.Output<string[]>;
  /** The last applied migration. */
  declare readonly head: pulumi.Output<string | null>;

  constructor(name: string, args: MigrationSetArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("migrations"), name, { ...args, applied: undefined, head: undefined }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "MigrationSet");
  }
}

/** Arguments of {@link SchemaVerification}. */
export interface SchemaVerificationArgs {
  connection: ConnectionInput;
  schemas: pulumi.Input<string[]>;
  expectations: pulumi.Input<Expectations>;
  /** The migration head; verification re-runs whenever it moves. */
  migrationHead: pulumi.Input<string | null>;
}

/** Checks the expected tables and foreign keys, and reports the inventory and fingerprint. */
export class SchemaVerification extends pulumi.dynamic.Resource {
  declare readonly inventory: pulumi.Output<import("./handlers.js").InventoryTable[]>;
  declare readonly fingerprint: pulumi.Output<string>;
  declare readonly verifiedFingerprint: pulumi.Output<string>;
  declare readonly drift: pulumi.Output<string>;

  constructor(name: string, args: SchemaVerificationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("verification"),
      name,
      { ...args, inventory: undefined, fingerprint: undefined, verifiedFingerprint: undefined, drift: undefined },
      { ...opts, additionalSecretOutputs: SECRET_OUTPUTS },
      "pgstack",
      "SchemaVerification",
    );
  }
}

/** A random password generated once and kept (encrypted) in the stack state. */
export class GeneratedPassword extends pulumi.dynamic.Resource {
  declare readonly value: pulumi.Output<string>;
  constructor(name: string, args: { length?: number }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("password"), name, { length: args.length ?? 32, value: undefined }, { ...opts, additionalSecretOutputs: ["value"] }, "pgstack", "GeneratedPassword");
  }
}

// Cluster objects, for stacks with `server.provisioner: pgstack`: the same objects the
// @pulumi/postgresql provider would manage, through pgstack's own providers.

/** A role (cluster-wide). Its password is a secret input and never leaves the state encrypted. */
export class PgRole extends pulumi.dynamic.Resource {
  constructor(name: string, args: { connection: ConnectionInput; name: pulumi.Input<string>; login: pulumi.Input<boolean>; password?: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("role"), name, args, { ...opts, additionalSecretOutputs: ["connection", "password"] }, "pgstack", "Role");
  }
}

/** A database owned by a role. Deleting it drops the database. */
export class PgDatabase extends pulumi.dynamic.Resource {
  declare readonly name: pulumi.Output<string>;
  constructor(name: string, args: { connection: ConnectionInput; name: pulumi.Input<string>; owner: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("database"), name, args, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "Database");
  }
}

/** A schema with its owner, schema grants and default privileges. */
export class PgSchema extends pulumi.dynamic.Resource {
  constructor(name: string, args: { connection: ConnectionInput; schema: pulumi.Input<ManagedSchema> }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("schema"), name, args, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "Schema");
  }
}

/** A `pg_dump -Fc`, replaced (a new dump) whenever the reset generation changes. */
export class PgBackup extends pulumi.dynamic.Resource {
  /** The dump file, relative to the project root. */
  declare readonly path: pulumi.Output<string>;
  constructor(name: string, args: { connection: ConnectionInput; root: pulumi.Input<string>; dir: pulumi.Input<string>; generation: pulumi.Input<number> }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("backup"), name, { ...args, path: undefined }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "Backup");
  }
}
