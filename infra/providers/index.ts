/**
 * pgstack's dynamic resources: DatabaseReset, MigrationSet, SchemaVerification, GeneratedPassword,
 * ExistingObjectsGuard, EveryDeployTrigger, MigrationSafety and OwnerMembership. Each provider object is a few
 * lines that load `handlers.ts` inside Pulumi's dynamic-provider host and delegate to it. Each
 * resource's arguments are its provider's inputs as `pulumi.Input`s ({@link ArgsOf}), declared
 * once, in the provider's file.
 */
import * as pulumi from "@pulumi/pulumi";
import type { InventoryEntry, InventoryTable, StoredInventory } from "../lifecycle/inventory.js";
import type { ConnectionOptions } from "../lifecycle/index.js";
import type { ArgsOf, InputOf } from "./common.js";
import type { EveryDeployInputs, EveryDeployOutputs } from "./every-deploy.js";
import type { GuardInputs } from "./guard.js";
import type { MembershipInputs, MembershipOutputs } from "./membership.js";
import type { HandlerKind } from "./handlers.js";
import type { MigrationSetArgs as MigrationSetProgramInputs, MigrationSetOutputs } from "./migrations.js";
import type { PasswordInputs, PasswordOutputs } from "./password.js";
import type { ResetInputs, ResetOutputs } from "./reset.js";
import type { SafetyInputs } from "./safety.js";
import type { VerificationInputs, VerificationOutputs } from "./verification.js";

/**
 * Builds the provider object for one resource kind. Keep it tiny: Pulumi serializes it into the
 * state and runs the stored copy for `read` and `delete`, possibly on another machine, in another
 * folder, after an upgrade. So it captures nothing but `kind`: at call time it resolves the
 * `pgstack` package from the program's folder (the provider host's working directory), as the
 * program's own `require("pgstack")` does: the installed package (`node_modules/pgstack`) in a
 * program that uses pgstack as a library, the project itself (Node's self-reference by package
 * name) in this project. An upgraded package is simply the one found next time.
 */
function providerFor(kind: HandlerKind): pulumi.dynamic.ResourceProvider {
  const load = () => {
    // Resolved once per provider process: the engine calls check/diff/create/read for every
    // resource, and each call used to walk the folders and go through require again.
    const g = globalThis as { __pgstackHandlers?: Record<string, pulumi.dynamic.ResourceProvider> };
    if (g.__pgstackHandlers) return g.__pgstackHandlers[kind] as Required<pulumi.dynamic.ResourceProvider>;
    const path = require("node:path");
    const fs = require("node:fs");
    const fromProgram = require("node:module").createRequire(path.join(process.cwd(), "[pulumi program]"));
    let root: string;
    try {
      root = path.dirname(fromProgram.resolve("pgstack/package.json"));
    } catch {
      const err = new Error(
        `pgstack's providers load their code from the pgstack package, but it cannot be found from ${process.cwd()}\n` +
          "  → run pulumi from the program's folder (where Pulumi.yaml is), after `npm install` (a program that uses pgstack needs it in its package.json)",
      );
      // No stack trace: Pulumi's provider host prints `${err}: ${err.stack}` (see common.ts's defineProvider).
      err.toString = () => "[pgstack] providers not found";
      err.stack = err.message.split("\n")[0] ?? "";
      throw err;
    }
    const source = path.join(root, "infra", "providers", "handlers.ts");
    if (fs.existsSync(source)) {
      // A checkout of the project (the package ships compiled JavaScript only): the TypeScript
      // handlers load as they are, through the checkout's tsx, registered once per process.
      const fromProject = require("node:module").createRequire(path.join(root, "package.json"));
      const t = globalThis as { __pgstackTsx?: boolean };
      if (!t.__pgstackTsx) {
        fromProject("tsx/cjs/api").register();
        t.__pgstackTsx = true;
      }
      g.__pgstackHandlers = fromProject(source).handlers;
    } else {
      g.__pgstackHandlers = fromProgram("pgstack/providers").handlers;
    }
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
export type ConnectionInput = InputOf<ConnectionOptions>;

/** Marks `connection` (which holds the password) secret in the state, whatever the engine infers. */
const SECRET_OUTPUTS = ["connection"];

/** Arguments of {@link DatabaseReset}: a new `generation` replaces it, and the replacement nukes. */
export type DatabaseResetArgs = ArgsOf<ResetInputs>;

/**
 * The "nuke" as a resource: its replacement (on a new generation) drops the managed schemas,
 * rebuilds them with owner and grants (those a migration creates are left to the MigrationSet), and clears the migration history. The generation is
 * recorded in the database, so a retry never nukes twice.
 */
export class DatabaseReset extends pulumi.dynamic.Resource {
  /** What the last create did: `adopted`, `unchanged` or `reset`. */
  declare readonly action: pulumi.Output<ResetOutputs["action"]>;
  declare readonly generation: pulumi.Output<ResetOutputs["generation"]>;
  /** The generation recorded inside the database (refreshed by `pulumi refresh`). */
  declare readonly recordedGeneration: pulumi.Output<ResetOutputs["recordedGeneration"]>;
  declare readonly droppedTables: pulumi.Output<ResetOutputs["droppedTables"]>;
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

/** Arguments of {@link MigrationSet}: every migration, in order (pending ones show in `pulumi preview --diff` with their SQL). */
export type MigrationSetArgs = ArgsOf<MigrationSetProgramInputs>;

/** The versioned migrations of one database, applied under an advisory lock. */
export class MigrationSet extends pulumi.dynamic.Resource {
  /** `name@checksum` of every recorded migration (refreshed by `pulumi refresh`). */
  declare readonly applied: pulumi.Output<MigrationSetOutputs["applied"]>;
  /** The last applied migration. */
  declare readonly head: pulumi.Output<MigrationSetOutputs["head"]>;

  constructor(name: string, args: MigrationSetArgs, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("migrations"), name, { ...args, applied: undefined, head: undefined }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "MigrationSet");
  }
}

/** Arguments of {@link SchemaVerification}. */
export type SchemaVerificationArgs = ArgsOf<VerificationInputs>;

/** Checks the expected tables and foreign keys, and reports the inventory and fingerprint. */
export class SchemaVerification extends pulumi.dynamic.Resource {
  /** Keyed by `schema.table`, one JSON text per table (objects, or an array, in states written before): read it with `inventoryFromState`. */
  declare readonly inventory: pulumi.Output<StoredInventory | Record<string, InventoryEntry> | InventoryTable[]>;
  declare readonly fingerprint: pulumi.Output<VerificationOutputs["fingerprint"]>;
  declare readonly verifiedFingerprint: pulumi.Output<VerificationOutputs["verifiedFingerprint"]>;
  declare readonly drift: pulumi.Output<VerificationOutputs["drift"]>;
  /** Every difference from the declared schema, one line per object. */
  declare readonly driftReport: pulumi.Output<VerificationOutputs["driftReport"]>;

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
  declare readonly value: pulumi.Output<PasswordOutputs["value"]>;
  constructor(name: string, args: Partial<ArgsOf<PasswordInputs>>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("password"), name, { length: args.length ?? 32, value: undefined }, { ...opts, additionalSecretOutputs: ["value"] }, "pgstack", "GeneratedPassword");
  }
}

/** Arguments of {@link ExistingObjectsGuard}: the admin connection (to `postgres`), the stack, the objects it is about to create. */
export type ExistingObjectsGuardArgs = ArgsOf<GuardInputs>;

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
  declare readonly token: pulumi.Output<EveryDeployOutputs["token"]>;
  constructor(name: string, args: ArgsOf<EveryDeployInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("everyDeploy"), name, { ...args, token: undefined }, opts, "pgstack", "EveryDeployTrigger");
  }
}

/** Arguments of {@link MigrationSafety}. */
export type MigrationSafetyArgs = ArgsOf<SafetyInputs>;

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

/**
 * The admin's membership in a database's owner role, with INHERIT and SET (PostgreSQL 16+ names
 * them; the creator of a role gets ADMIN only). Delete revokes only a grant pgstack made.
 */
export class OwnerMembership extends pulumi.dynamic.Resource {
  /** True when pgstack made the grant (false: the admin held it already, e.g. a superuser). */
  declare readonly granted: pulumi.Output<MembershipOutputs["granted"]>;
  constructor(name: string, args: ArgsOf<MembershipInputs>, opts?: pulumi.CustomResourceOptions) {
    super(providerFor("membership"), name, { ...args, granted: undefined, inheritAndSet: undefined }, { ...opts, additionalSecretOutputs: SECRET_OUTPUTS }, "pgstack", "OwnerMembership");
  }
}
