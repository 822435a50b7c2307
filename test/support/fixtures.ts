/** Databases the integration suites share: fltr's migrations applied by a non-superuser admin. */
import type pg from "pg";
import { expect } from "vitest";
import { applyMigrations } from "../../infra/lifecycle/apply.js";
import type { ConnectionOptions } from "../../infra/lifecycle/connection.js";
import type { ManagedSchema } from "../../infra/lifecycle/reset.js";
import { loadMigrations } from "../../infra/lifecycle/source.js";
import { connectTo, freshDatabase, query, superuserConnection } from "./db.js";

/** A database with fltr's migrations, as a stack leaves it. */
export interface FltrDatabase {
  db: ConnectionOptions;
  cl: pg.Client;
  schemas: ManagedSchema[];
  owner: string;
  app: string;
}

/**
 * A fresh database with fltr's migrations applied as its `owner` role, and an app role with
 * default grants. The admin becomes a member of the owner, as the stack's GrantRole makes it.
 */
export async function fltrDatabase(prefix = "t"): Promise<FltrDatabase> {
  const db = await freshDatabase(prefix);
  const owner = `${db.database}_owner`;
  const app = `${db.database}_app`;
  await query(db, `CREATE ROLE ${owner}; CREATE ROLE ${app}; GRANT ${owner} TO CURRENT_USER`);
  // public is the bootstrap superuser's on PostgreSQL 14 (pg_database_owner's from 15 on, which the admin's database gives it).
  await query({ ...superuserConnection(), database: db.database }, `ALTER SCHEMA public OWNER TO ${owner}`);
  const cl = await connectTo(db);
  const res = await applyMigrations(cl, await loadMigrations("migrations/fltr"), { database: db.database, role: owner });
  expect(res.error).toBeUndefined();
  const schemas: ManagedSchema[] = [{ name: "public", owner, grants: [{ role: app, schema: ["USAGE"], tables: ["SELECT", "INSERT"], sequences: ["USAGE"] }] }];
  return { db, cl, schemas, owner, app };
}
