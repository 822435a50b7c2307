/**
 * Adoption's settings for the state model ({@link readDatabaseState}) and the apply: the managed
 * schemas, a stated version, and the reader of another tool's history. The core knows no tool;
 * this is the one place that hands it the importers' reader, so the MigrationSet, the safety
 * check and the review all plan adoption alike.
 */
import type { Logger } from "../lifecycle/connection.js";
import type { ConnectionOptions } from "../lifecycle/connection.js";
import { planBaseline, type BaselineOptions } from "../lifecycle/baseline.js";
import type { Migration } from "../lifecycle/source.js";
import type { AdoptionPlanner } from "../lifecycle/state.js";
import { foreignAppliedVersions } from "./foreign-history.js";

/** What adoption needs to know of one database. */
export interface AdoptionInput {
  /** The admin connection to the database (the shadow is built on its server). */
  connection: ConnectionOptions;
  /** The managed schemas (compared with the migrations). */
  schemas: readonly string[];
  /** A version a person stated (config `baseline`); still verified. */
  baseline?: number;
  /** The database's config path (`pgstack:databases[1]`), for messages. */
  configPath?: string;
  /**
   * The migrations another tool's history is mapped onto: only files with their SQL carry the
   * provenance comments it maps by.
   */
  migrations: readonly Migration[];
  /**
   * The owner role: another tool's history table it owns, which the admin cannot read before
   * `up` makes it a member, is "not readable yet" (one line), not a refusal.
   */
  owner?: string;
  logger?: Logger;
}

/** One database's settings as the MigrationSet, the safety check and the review have them. */
export interface AdoptionSource {
  connection: ConnectionOptions;
  /** The owner role the migrations run as. */
  role: string;
  /** The managed schemas (default `public`). */
  schemas?: readonly string[] | undefined;
  baseline?: number | undefined;
  /** The database's config path (`pgstack:databases[1]`). */
  configPath?: string | undefined;
}

/**
 * The one {@link AdoptionInput} of a database, so every planner of its adoption knows the same:
 * `migrations` are those with their SQL (only they carry the provenance comments another tool's
 * history is mapped by).
 */
export function adoptionInput(db: AdoptionSource, migrations: readonly Migration[], logger?: Logger): AdoptionInput {
  return {
    connection: db.connection,
    schemas: db.schemas ?? ["public"],
    ...(db.baseline !== undefined ? { baseline: db.baseline } : {}),
    ...(db.configPath ? { configPath: db.configPath } : {}),
    migrations,
    // The admin joins the owner role during `up`: a preview that cannot read the owner's history table yet says so (deferred, not refused).
    owner: db.role,
    ...(logger ? { logger } : {}),
  };
}

/** Adoption's options for the apply (`applyMigrations`' `baseline`). */
export function adoptionOptions(input: AdoptionInput): BaselineOptions {
  return {
    connection: input.connection,
    schemas: input.schemas,
    // The migrations are compared as they run in production: as the owner.
    ...(input.owner !== undefined ? { owner: input.owner } : {}),
    ...(input.baseline !== undefined ? { stated: input.baseline } : {}),
    ...(input.configPath ? { configPath: `${input.configPath}.baseline` } : {}),
    // Another tool's history (Drizzle, Prisma, Flyway, …) names the candidate version, still verified.
    foreignApplied: foreignAppliedVersions(input.migrations, input.owner !== undefined ? { owner: input.owner } : {}),
    ...(input.logger ? { logger: input.logger } : {}),
  };
}

/** Adoption's planner for the state model ({@link readDatabaseState}'s `adoption`): `planBaseline` with these options. */
export function adoptionPlanner(input: AdoptionInput): AdoptionPlanner {
  const options = adoptionOptions(input);
  return (client, migrations, database) => planBaseline(client, migrations, database, options);
}
