/**
 * Cluster objects (roles, databases, schemas with their grants) and backups, for stacks that
 * provision them with pgstack's own providers instead of the @pulumi/postgresql plugin. Every
 * statement is idempotent, so a retried `pulumi up` converges.
 */
import { spawn } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type pg from "pg";
import type { ConnectionOptions } from "./connection.js";
import { PgstackError } from "./errors.js";
import { quoteIdent, quoteLiteral } from "./identifiers.js";
import { schemaDdl, type ManagedSchema } from "./reset.js";

/** A role as pgstack declares it. */
export interface RoleSpec {
  name: string;
  login: boolean;
  /** Set (or changed) when given; never logged. */
  password?: string;
}

/** What a role looks like in the cluster, or undefined when it does not exist. */
export async function readRole(client: pg.Client, name: string): Promise<{ name: string; login: boolean; hasPassword: boolean } | undefined> {
  const { rows } = await client.query<{ rolcanlogin: boolean; has_password: boolean }>(
    "SELECT rolcanlogin, rolpassword IS NOT NULL AS has_password FROM pg_authid WHERE rolname = $1",
    [name],
  );
  const r = rows[0];
  return r ? { name, login: r.rolcanlogin, hasPassword: r.has_password } : undefined;
}

/** Creates the role, or brings an existing one to the spec (adoption). */
export async function ensureRole(client: pg.Client, role: RoleSpec): Promise<void> {
  const exists = (await readRole(client, role.name)) !== undefined;
  // The server receives a SCRAM verifier, never the password itself (so not even a server's
  // statement log can show it), as psql's \password does.
  const attrs = `${role.login ? "LOGIN" : "NOLOGIN"}${role.password !== undefined ? ` PASSWORD ${quoteLiteral(scramVerifier(role.password))}` : ""}`;
  await client.query(`${exists ? "ALTER" : "CREATE"} ROLE ${quoteIdent(role.name)} WITH ${attrs}`);
}

/**
 * The SCRAM-SHA-256 verifier Postgres stores for `password` (RFC 5802/7677, 4096 iterations).
 * Postgres applies SASLprep to passwords; NFKC normalization is what it amounts to for the
 * passwords people type, and ASCII passwords (all generated ones) are unchanged by it.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password.normalize("NFKC"), "utf8"), salt, iterations, 32, "sha256");
  const hmac = (key: Buffer, text: string) => createHmac("sha256", key).update(text).digest();
  const storedKey = createHash("sha256").update(hmac(salted, "Client Key")).digest();
  const serverKey = hmac(salted, "Server Key");
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey.toString("base64")}:${serverKey.toString("base64")}`;
}

/** Drops the role if it exists. */
export async function dropRole(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP ROLE IF EXISTS ${quoteIdent(name)}`);
}

/** The owner of a database, or undefined when it does not exist. */
export async function readDatabase(client: pg.Client, name: string): Promise<{ name: string; owner: string } | undefined> {
  const { rows } = await client.query<{ owner: string }>("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [name]);
  return rows[0] ? { name, owner: rows[0].owner } : undefined;
}

/** Creates the database owned by `owner`, or sets the owner of an existing one (adoption). */
export async function ensureDatabase(client: pg.Client, name: string, owner: string): Promise<void> {
  if (await readDatabase(client, name)) await client.query(`ALTER DATABASE ${quoteIdent(name)} OWNER TO ${quoteIdent(owner)}`);
  else await client.query(`CREATE DATABASE ${quoteIdent(name)} OWNER ${quoteIdent(owner)}`);
}

/** Drops the database, ending its sessions first. */
export async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
}

/** Creates a schema with its owner, schema grants and default privileges (idempotent). */
export async function ensureSchema(client: pg.Client, schema: ManagedSchema): Promise<void> {
  await client.query(schemaDdl(schema).join(";\n"));
}

/** The owner of a schema, or undefined when it does not exist. */
export async function readSchema(client: pg.Client, name: string): Promise<{ name: string; owner: string } | undefined> {
  const { rows } = await client.query<{ owner: string }>("SELECT pg_get_userbyid(nspowner) AS owner FROM pg_namespace WHERE nspname = $1", [name]);
  return rows[0] ? { name, owner: rows[0].owner } : undefined;
}

/**
 * `pg_dump -Fc` of one database to `file`. Connection settings go through PG* variables, so the
 * password is never on a command line. Prefers Debian's versioned binary.
 */
export async function pgDump(c: ConnectionOptions, file: string, pgDumpPath = findPgDump()): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const env = {
    ...process.env,
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGDATABASE: c.database,
    PGSSLMODE: c.sslmode ?? "disable",
    ...(c.password !== undefined ? { PGPASSWORD: c.password } : {}),
  };
  const stderr: Buffer[] = [];
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(pgDumpPath, ["-Fc", "--no-password", "-f", file], { env, stdio: ["ignore", "ignore", "pipe"] });
    child.stderr.on("data", (b: Buffer) => stderr.push(b));
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    fs.rmSync(file, { force: true });
    throw new PgstackError("BACKUP_FAILED", `pg_dump of "${c.database}" failed (exit ${code}): ${Buffer.concat(stderr).toString("utf8").trim()}`, {
      hint: "nothing was reset; fix the backup (pg_dump 15+ on PATH, or PGSTACK_PG_DUMP) and run again",
    });
  }
}

/** `PGSTACK_PG_DUMP`, Debian's PostgreSQL 15 pg_dump, or `pg_dump` from PATH. */
export function findPgDump(): string {
  const fromEnv = process.env["PGSTACK_PG_DUMP"];
  if (fromEnv) return fromEnv;
  const debian = "/usr/lib/postgresql/15/bin/pg_dump";
  return fs.existsSync(debian) ? debian : "pg_dump";
}
