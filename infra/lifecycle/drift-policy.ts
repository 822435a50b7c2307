/**
 * The drift settings the program computes for each database (the policy and the files' digest),
 * apart from drift.ts, which measures drift: the program loads this without the declared-schema
 * build, the apply and the scratch database behind a measurement.
 */
import type { MigrationIdentity } from "./declared.js";
import { sha256 } from "./source.js";

/** sha256 over the files' versions, names and checksums, in order. */
export function migrationsDigest(migrations: readonly MigrationIdentity[]): string {
  return sha256(JSON.stringify(migrations.map((m) => [m.id, m.name, m.checksum])));
}

/**
 * The default drift policy: a stack that may reset the database (dev-like) warns, any other
 * refuses, unless the config says which.
 */
export function driftPolicy(db: { drift: { policy?: "refuse" | "warn" | undefined }; reset: { allowed: boolean } }): "refuse" | "warn" {
  return db.drift.policy ?? (db.reset.allowed ? "warn" : "refuse");
}
