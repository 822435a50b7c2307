/**
 * The real migration tools the adoption test runs, each on its own fixture folder
 * (test/fixtures/real-tools/<tool>/) and its own database: golang-migrate, goose and dbmate
 * (built by scripts/migration-tools.sh), drizzle-kit (an npm devDependency), and Flyway and
 * Prisma, which cannot be installed here: their files are applied one transaction each and their
 * history rows written in the tools' documented layouts, as the tools would.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import type pg from "pg";
import { connect, type ConnectionOptions } from "../../infra/lifecycle/connection.js";
import { projectRoot } from "../../scripts/pulumi-env.js";

/** A tool, its fixture folder, its database and where it keeps its history. */
export interface RealTool {
  /** `npm run import -- --from <from>` (also the tool's name in messages). */
  from: string;
  /** The database, its owner (`<db>_owner`) and the role its migrations create (`<db>_reporting`). */
  db: string;
  /** The folder `npm run import` reads (absolute). */
  importDir: string;
  /** How many migrations the folder holds. */
  migrations: number;
  /** The tool's history table, qualified. */
  historyTable: string;
  /** Applies the folder to `conn` (the owner's connection) with the real tool, or as it would. */
  apply(conn: ConnectionOptions): Promise<string>;
}

const FIXTURES = path.join(projectRoot, "test", "fixtures", "real-tools");
let toolBin: string | undefined;

/** The bin folder of golang-migrate, goose and dbmate (built once, cached by the script). */
export function migrationToolsBin(): string {
  toolBin ??= execFileSync("bash", [path.join(projectRoot, "scripts", "migration-tools.sh")], { cwd: projectRoot, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" })
    .trim()
    .split("\n")
    .at(-1);
  if (!toolBin || !fs.existsSync(path.join(toolBin, "goose"))) throw new Error(`scripts/migration-tools.sh did not produce the tools (got "${toolBin}")`);
  return toolBin;
}

const url = (c: ConnectionOptions) => `postgres://${encodeURIComponent(c.user)}@${c.host}:${c.port}/${c.database}?sslmode=disable`;

/** Runs a tool with the owner's password in the environment (never on its command line). */
function run(tool: string, cmd: string, args: string[], c: ConnectionOptions, env: Record<string, string> = {}, cwd = projectRoot): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, PGPASSWORD: c.password ?? "", ...env }, timeout: 300_000 });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
  if (r.status !== 0) throw new Error(`${tool} failed (exit ${r.status ?? r.signal}): ${cmd} ${args.join(" ")}\n${out}`);
  return out;
}

const files = (dir: string, re: RegExp) => fs.readdirSync(dir).filter((f) => re.test(f)).sort();

/** Applies each file in its own transaction as the owner; returns the time each took (ms). */
async function applyEach(c: ConnectionOptions, scripts: string[], record: (client: pg.Client, script: string, ms: number) => Promise<void>): Promise<void> {
  const client = await connect(c);
  try {
    for (const s of scripts) {
      const started = Date.now();
      await client.query("BEGIN");
      await client.query(fs.readFileSync(s, "utf8"));
      await record(client, s, Date.now() - started);
      await client.query("COMMIT");
    }
  } finally {
    await client.end();
  }
}

/** Flyway's checksum (its documented algorithm): CRC-32 over each line's UTF-8 bytes, line breaks left out, as a signed int. */
function flywayChecksum(text: string): number {
  return crc32(Buffer.from(text.replace(/^\uFEFF/, "").split(/\r\n|\r|\n/).join(""), "utf8")) | 0;
}

/** Every tool, keyed by `--from`. */
export const REAL_TOOLS: RealTool[] = [
  {
    from: "golang-migrate",
    db: "rt_gm",
    importDir: path.join(FIXTURES, "golang-migrate"),
    migrations: files(path.join(FIXTURES, "golang-migrate"), /\.up\.sql$/).length,
    historyTable: "public.schema_migrations",
    apply: async (c) => run("golang-migrate", path.join(migrationToolsBin(), "migrate"), ["-path", path.join(FIXTURES, "golang-migrate"), "-database", url(c), "up"], c),
  },
  {
    from: "goose",
    db: "rt_goose",
    importDir: path.join(FIXTURES, "goose"),
    migrations: files(path.join(FIXTURES, "goose"), /\.sql$/).length,
    historyTable: "public.goose_db_version",
    apply: async (c) =>
      run("goose", path.join(migrationToolsBin(), "goose"), ["-dir", path.join(FIXTURES, "goose"), "up"], c, { GOOSE_DRIVER: "postgres", GOOSE_DBSTRING: url(c) }),
  },
  {
    from: "dbmate",
    db: "rt_dbmate",
    importDir: path.join(FIXTURES, "dbmate"),
    migrations: files(path.join(FIXTURES, "dbmate"), /\.sql$/).length,
    historyTable: "public.schema_migrations",
    apply: async (c) =>
      run("dbmate", path.join(migrationToolsBin(), "dbmate"), ["--migrations-dir", path.join(FIXTURES, "dbmate"), "--no-dump-schema", "up"], c, { DATABASE_URL: url(c) }),
  },
  {
    from: "drizzle",
    db: "rt_drizzle",
    importDir: path.join(FIXTURES, "drizzle", "migrations"),
    migrations: files(path.join(FIXTURES, "drizzle", "migrations"), /\.sql$/).length,
    historyTable: "drizzle.__drizzle_migrations",
    // drizzle-kit's URL carries the password (it reads no PGPASSWORD); it is in the environment only.
    apply: async (c) =>
      run("drizzle-kit", path.join(projectRoot, "node_modules", ".bin", "drizzle-kit"), ["migrate", "--config", "drizzle.config.ts"], c, {
        DATABASE_URL: url(c).replace("@", `:${encodeURIComponent(c.password ?? "")}@`),
      }, path.join(FIXTURES, "drizzle")),
  },
  {
    from: "flyway",
    db: "rt_flyway",
    importDir: path.join(FIXTURES, "flyway"),
    migrations: files(path.join(FIXTURES, "flyway"), /^V.*\.sql$/).length,
    historyTable: "public.flyway_schema_history",
    apply: async (c) => {
      const dir = path.join(FIXTURES, "flyway");
      // Flyway's documented history table (PostgreSQL), created before the first migration.
      const client = await connect(c);
      await client.query(`CREATE TABLE flyway_schema_history (
        installed_rank integer NOT NULL, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL,
        script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL, installed_on timestamp NOT NULL DEFAULT now(),
        execution_time integer NOT NULL, success boolean NOT NULL, CONSTRAINT flyway_schema_history_pk PRIMARY KEY (installed_rank));
        CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success);`);
      await client.end();
      let rank = 0;
      await applyEach(c, files(dir, /^V.*\.sql$/).map((f) => path.join(dir, f)), async (client, s, ms) => {
        const [, version, description] = /^V([^_]+)__(.+)\.sql$/.exec(path.basename(s))!;
        await client.query(
          `INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
           VALUES ($1, $2, $3, 'SQL', $4, $5, current_user, $6, true)`,
          [++rank, version, description!.replaceAll("_", " "), path.basename(s), flywayChecksum(fs.readFileSync(s, "utf8")), ms],
        );
      });
      return `flyway (history written as Flyway does): ${rank} migrations`;
    },
  },
  {
    from: "prisma",
    db: "rt_prisma",
    importDir: path.join(FIXTURES, "prisma"),
    migrations: fs.readdirSync(path.join(FIXTURES, "prisma")).filter((f) => /^\d{14}_/.test(f)).length,
    historyTable: "public._prisma_migrations",
    apply: async (c) => {
      const dir = path.join(FIXTURES, "prisma");
      const client = await connect(c);
      // Prisma Migrate's history table, as `prisma migrate deploy` creates it.
      await client.query(`CREATE TABLE "_prisma_migrations" (
        "id" varchar(36) PRIMARY KEY NOT NULL, "checksum" varchar(64) NOT NULL, "finished_at" timestamptz, "migration_name" varchar(255) NOT NULL,
        "logs" text, "rolled_back_at" timestamptz, "started_at" timestamptz NOT NULL DEFAULT now(), "applied_steps_count" integer NOT NULL DEFAULT 0);`);
      await client.end();
      const folders = fs.readdirSync(dir).filter((f) => /^\d{14}_/.test(f)).sort();
      await applyEach(c, folders.map((f) => path.join(dir, f, "migration.sql")), async (client, s) => {
        const checksum = createHash("sha256").update(fs.readFileSync(s)).digest("hex");
        await client.query(
          `INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at, applied_steps_count) VALUES (gen_random_uuid()::text, $1, now(), $2, now(), 1)`,
          [checksum, path.basename(path.dirname(s))],
        );
      });
      return `prisma (history written as Prisma Migrate does): ${folders.length} migrations`;
    },
  },
];

/** The tools to run: all, or those named in PGSTACK_REAL_TOOLS (comma-separated `--from` names). */
export function selectedTools(): RealTool[] {
  const only = process.env["PGSTACK_REAL_TOOLS"]?.split(",").map((s) => s.trim()).filter(Boolean);
  if (!only?.length) return REAL_TOOLS;
  const unknown = only.filter((o) => !REAL_TOOLS.some((t) => t.from === o));
  if (unknown.length) throw new Error(`PGSTACK_REAL_TOOLS names unknown tools ${unknown.join(", ")}; known: ${REAL_TOOLS.map((t) => t.from).join(", ")}`);
  return REAL_TOOLS.filter((t) => only.includes(t.from));
}
