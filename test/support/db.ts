/** Fresh databases per test, on the server the global setup started. */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { quoteIdent } from "../../infra/lifecycle/identifiers.js";

declare module "vitest" {
  export interface ProvidedContext {
    /** The suites' admin: LOGIN CREATEROLE CREATEDB, not a superuser (as on managed Postgres). */
    pgAdmin: ConnectionOptions;
    /** The server's superuser, for test fixtures only (e.g. acting as another team's session). */
    pgSuperuser: ConnectionOptions;
    pgKind: string;
    /** The server's major version, read from the server (14…18). */
    pgMajor: number;
    /** Debian's client tools (pg_dump, psql) when they match the server; "" otherwise. */
    pgBinDir: string;
  }
}

/** The admin connection (not a superuser) to the test server's `postgres` database. */
export function adminConnection(): ConnectionOptions {
  return inject("pgAdmin");
}

/** `pgstack:server` for a stack on the test server (instead of an embedded one), as its admin. */
export function testServerConfig(): Record<string, unknown> {
  const admin = adminConnection();
  return { embedded: false, host: admin.host, port: admin.port, adminUser: admin.user, sslmode: "disable" };
}

/** The major version of the server the suites run on (`PGSTACK_TEST_PG_VERSION`, 15 by default). */
export function serverMajor(): number {
  return inject("pgMajor");
}

/** The superuser connection, for fixtures that no pgstack admin could set up. */
export function superuserConnection(): ConnectionOptions {
  return inject("pgSuperuser");
}

/**
 * What a DBA does on PostgreSQL 16+ for a role someone else (the superuser here) created, so that
 * the admin may grant it (to pgstack's throwaway role, and to itself during `up`): as the superuser,
 * GRANT it WITH ADMIN OPTION, no INHERIT, no SET (the membership the server gives a role's CREATEROLE
 * creator there; the admin holds none of its privileges yet). Before 16, CREATEROLE lets the admin
 * grant any non-superuser role: nothing is run.
 */
export async function letAdminGrant(role: string, admin: string = adminConnection().user): Promise<void> {
  if (serverMajor() < 16) return;
  await query(superuserConnection(), `GRANT ${quoteIdent(role)} TO ${quoteIdent(admin)} WITH ADMIN OPTION, INHERIT FALSE, SET FALSE`);
}

/** Creates an empty database with a unique name and returns a connection to it. */
export async function freshDatabase(prefix = "t"): Promise<ConnectionOptions> {
  const admin = adminConnection();
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  const client = await connect(admin);
  try {
    await client.query(`CREATE DATABASE ${quoteIdent(name)}`);
  } finally {
    await client.end();
  }
  return { ...admin, database: name };
}

const open: pg.Client[] = [];

/** A connected client to `c`, closed by {@link closeClients} (register it with `afterEach`). */
export async function connectTo(c: ConnectionOptions): Promise<pg.Client> {
  const cl = await connect(c);
  open.push(cl);
  return cl;
}

/** Closes every client {@link connectTo} opened. */
export async function closeClients(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
}

/** Runs one query on a short-lived connection and returns its rows. */
export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  c: ConnectionOptions,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const cl = await connect(c);
  try {
    return (await cl.query<R>(sql, params)).rows;
  } finally {
    await cl.end();
  }
}
