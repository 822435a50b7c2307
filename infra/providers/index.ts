/**
 * pgstack's dynamic resources: DatabaseReset, MigrationSet, SchemaVerification and
 * GeneratedPassword. Each provider object is a few lines that load `handlers.ts` inside Pulumi's
 * dynamic-provider host and delegate to it.
 */
import * as pulumi from "@pulumi/pulumi";
import type { ConnectionOptions, ManagedSchema, Expectations } from "../lifecycle/index.js";
import type { SafetyPolicy } from "../lifecycle/safety/types.js";
import type { GuardedObject, HandlerKind, MigrationInput } from "./handlers.js";

/**
 * Builds the provider object for one resource kind. Keep it tiny: Pulumi serializes it into the
 * state and runs the stored copy for `read` and `delete`, possibly on another machine, in another
 * folder, after an upgrade. So it captures nothing but `kind`: at call time it resolves pgstack's
 * handlers (TypeScript, loaded through the project's own tsx) from the project the engine runs
 * in, which is the provider host's working directory.
 */
function providerFor(kind: HandlerKind): pulumi.dynamic.ResourceProvider {
  const load = () => {
    // Resolved once per provider process: the engine calls check/diff/create/read for every
    // resource, and each call used to walk the folders and go through require again.
    const g = globalThis as { __pgstackHandlers?: Record<string, pulumi.dynamic.ResourceProvider> };
    if (g.__pgstackHandlers) return g.__pgstackHandlers[kind] as Required<pulumi.dynamic.ResourceProvider>;
    // The host runs in the program's folder (`infra/`, Pulumi.yaml's main) or the project root:
    // the project is the nearest folder at or above it that holds pgstack's handlers.
    const path = require("node:path");
    const fs = require("node:fs");
    let root = process.cwd();
    while (!fs.existsSync(path.join(root, "infra", "providers", "handlers.ts"))) {
      const parent = path.dirname(root);
      if (parent === root) {
        throw new Error(
          `pgstack's providers load their code from the pgstack project, but neither ${process.cwd()} nor a folder above it ` +
            "has infra/providers/handlers.ts. Run pulumi from the pgstack project folder (where Pulumi.yaml is), after `npm ci`.",
        );
      }
      root = parent;
    }
    const fromProject = require("node:module").createRequire(path.join(root, "package.json"));
    const handlersFile = path.join(root, "infra", "providers", "handlers.ts");
    // Register tsx once per provider process, so the TypeScript handlers load as they are.
    const t = globalThis as { __pgstackTsx?: boolean };
    if (!t.__pgstackTsx) {
      fromProject("tsx/cjs/api").register();
      t.__pgstackTsx = true;
    }
    g.__pgstackHandlers = fromProject(handlersFile).handlers;
    return (g.__pgstackHandlers as Record<string, pulumi.dynamic.ResourceProvider>)[kind] as Required<pulumi.dynamic.ResourceProvider>;
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
  /** `every-deploy` resets on every deploy (each new `trigger` replaces the reset). */
  mode?: pulumi.Input<"generation" | "every-deploy">;
  /** every-deploy: the {@link EveryDeployTrigger}'s token. */
  trigger?: pulumi.Input<string>;
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
  /** New after every reset (ms since 1970; the generation when it did not reset). */
  declare readonly epoch: pulumi.Output<number>;

  constructor(name: string, args: DatabaseResetArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("reset"),
      name,
      { ...args, action: undefined, previousGeneration: undefined, droppedTables: undefined, recordedGeneration: undefined, epoch: undefined },
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
  /** `lock_timeout` and `statement_timeout` each migration runs with. */
  session?: pulumi.Input<{ lockTimeout: string; statementTimeout: string }>;
  /** The managed schemas: adoption of a database with tables and no history compares them. */
  schemas?: pulumi.Input<string[]>;
  /** A stated adoption version (config `baseline: N`), still verified. */
  baseline?: pulumi.Input<number>;
  /** This database's config path (`pgstack:databases[1]`), for messages. */
  configPath?: pulumi.Input<string>;
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
  /** The managed schemas with their declared grants: a change re-verifies. */
  grants?: pulumi.Input<ManagedSchema[]>;
  /** The migration files and the drift policy: drift is measured against the declared schema. */
  declared?: pulumi.Input<import("./drift.js").DeclaredInput>;
}

/** Checks the expected tables and foreign keys, and reports the inventory and fingerprint. */
export class SchemaVerification extends pulumi.dynamic.Resource {
  /** Keyed by `schema.table` (an array in states written before). */
  declare readonly inventory: pulumi.Output<Record<string, import("./handlers.js").InventoryEntry> | import("./handlers.js").InventoryTable[]>;
  declare readonly fingerprint: pulumi.Output<string>;
  declare readonly verifiedFingerprint: pulumi.Output<string>;
  declare readonly drift: pulumi.Output<string>;
  /** Every difference from the declared schema, one line per object. */
  declare readonly driftReport: pulumi.Output<string[] | undefined>;

  constructor(name: string, args: SchemaVerificationArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      providerFor("verification"),
      name,
      { ...args, inventory: undefined, fingerprint: undefined, verifiedFingerprint: undefined, drift: undefined, driftReport: undefined },
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

/** Arguments of {@link ExistingObjectsGuard}. */
export interface ExistingObjectsGuardArgs {
  /** The admin connection, to the `postgres` database. */
  connection: ConnectionInput;
  stack: pulumi.Input<string>;
  /** The roles and the database this stack is about to create (adopted ones excluded). */
  objects: pulumi.Input<GuardedObject[]>;
}

/**
 * Refuses, in `preview` already, to create a role or database that exists on the server but not
 * in this stack: pgstack never takes an object over silently (a later destroy would drop it).
 */
export class ExistingObjectsGuard extends pulumi.dynamic.Resource {
  constructor(name: string, args: ExistingObjectsGuardArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("guard"), name, args, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "ExistingObjectsGuard");
  }
}

/**
 * `reset.mode: every-deploy`: a resource replaced on every deploy. Its new token (unknown in
 * preview) re-runs the backup and replaces the reset, so each `pulumi up` resets and re-applies,
 * and the preview shows it. `reason` says why, in the preview's details.
 */
export class EveryDeployTrigger extends pulumi.dynamic.Resource {
  declare readonly token: pulumi.Output<string>;
  constructor(name: string, args: { reason: pulumi.Input<string> }, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("everyDeploy"), name, { ...args, token: undefined }, opts, "pgstack", "EveryDeployTrigger");
  }
}

/** Arguments of {@link MigrationSafety}. */
export interface MigrationSafetyArgs {
  /** The admin connection to the database (it may not exist yet). */
  connection: ConnectionInput;
  /** The role the migrations run as. */
  role: pulumi.Input<string>;
  migrations: pulumi.Input<MigrationInput[]>;
  policy: pulumi.Input<SafetyPolicy>;
  /** The config path of the policy, for messages. */
  configPath: pulumi.Input<string>;
  resetGeneration: pulumi.Input<number>;
  session?: pulumi.Input<{ lockTimeout: string; statementTimeout: string }>;
  /** The managed schemas: a database with tables and no history is adopted, and what adoption records is not pending. */
  schemas?: pulumi.Input<string[]>;
  /** A stated adoption version (config `baseline`). */
  baseline?: pulumi.Input<number>;
  /** The database's config path, for adoption's messages. */
  databaseConfigPath?: pulumi.Input<string>;
}

/**
 * The data-safety check of the pending migrations: in every preview and up it lints them,
 * counts the data at risk on the live database, applies the policy and prints the report. A
 * refusal fails the run before any of the database's resources (which depend on it) change.
 * Its state holds migration names and checksums only.
 */
export class MigrationSafety extends pulumi.dynamic.Resource {
  constructor(name: string, args: MigrationSafetyArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("safety"), name, args, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "MigrationSafety");
  }
}
