/**
 * The stack config, as a zod schema. It is parsed once; every error is reported at once, each
 * with its config path (`pgstack:databases[0].roles[1].name`) and what to do.
 */
import { z } from "zod";
import { PgstackError } from "./lifecycle/errors.js";
import { identifierProblem } from "./lifecycle/identifiers.js";
import { normalizeValidUntil, type RoleAttribute } from "./lifecycle/roles.js";
import { SSL_MODES } from "./lifecycle/connection.js";
import { unknownKeyMessages } from "./config-keys.js";
import { parseForeignKeyRef, parseTableRef, type Expectations, type Parsed } from "./lifecycle/verify.js";
import { PROFILES } from "./lifecycle/safety/policy.js";
import type { SafetyPolicy } from "./lifecycle/safety/types.js";

/** The Pulumi config namespace (the project name). */
export const CONFIG_NAMESPACE = "pgstack";

const identifier = z.string().superRefine((value, ctx) => {
  const problem = identifierProblem(value);
  // JSON quoting shows invisible characters (NUL, tabs) as escapes instead of printing them.
  if (problem) ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} ${problem}` });
});

/** Role names Postgres reserves (`CREATE ROLE public` fails: "role name \"public\" is reserved"). */
const RESERVED_ROLE_NAMES = new Set(["public", "none", "current_user", "current_role", "session_user"]);

/** A secret config key name, e.g. `fltrAppPassword` (set with `pulumi config set --secret`). */
const secretKey = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, "must be a config key name such as fltrAppPassword (letters, digits, _ . -)");

const serverSchema = z
  .strictObject({
    /** Run a local embedded Postgres for this stack (dev). Its data lives under `.pgstack/<stack>/`. */
    embedded: z.boolean().default(false),
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(1).max(65535).default(5432),
    /** The role pgstack and the postgresql provider connect as. */
    adminUser: identifier.default("postgres"),
    /** TLS, as libpq's sslmode; the same setting reaches pg, the postgresql provider and pg_dump. */
    sslmode: z.enum(SSL_MODES).default("disable"),
    /** The CA certificate file (PEM) the server's certificate must chain to, relative to the project. */
    sslrootcert: z.string().min(1, "must be a file path; leave it out for none").optional(),
    /** Or the secret config key holding that PEM (`pulumi config set --secret dbCa < ca.pem`). */
    sslrootcertSecret: secretKey.optional(),
    /** The secret config key holding the admin password. Not used by embedded servers. */
    adminPasswordSecret: secretKey.default("adminPassword"),
  })
  .superRefine((s, ctx) => {
    if (s.sslrootcert !== undefined && s.sslrootcertSecret !== undefined) {
      ctx.addIssue({ code: "custom", path: ["sslrootcertSecret"], message: "give the CA either as a file (sslrootcert) or as a secret (sslrootcertSecret), not both" });
    }
    const key = s.sslrootcert !== undefined ? "sslrootcert" : s.sslrootcertSecret !== undefined ? "sslrootcertSecret" : undefined;
    if (key && (s.sslmode === "disable" || s.sslmode === "prefer")) {
      ctx.addIssue({ code: "custom", path: [key], message: `a CA certificate is only used with sslmode require, verify-ca or verify-full, and sslmode is ${s.sslmode}: set one of those, or remove ${key}` });
    }
  })
  .default({
    embedded: false,
    host: "127.0.0.1",
    port: 5432,
    adminUser: "postgres",
    sslmode: "disable",
    adminPasswordSecret: "adminPassword",
  });

/**
 * `validUntil`: `infinity`, a date (`2030-01-01`, midnight UTC) or a date and time with its zone
 * (`2030-01-01T12:00:00Z`, `2030-01-01 12:00+02:00`), normalized to Postgres' UTC spelling
 * ({@link normalizeValidUntil}).
 */
const validUntil = z.string().transform((value, ctx) => {
  const normalized = normalizeValidUntil(value);
  if (normalized === undefined) {
    ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not "infinity", a date (2030-01-01) or a date and time with its zone (2030-01-01T12:00:00Z)` });
    return z.NEVER;
  }
  return normalized;
});

/**
 * A role's attributes. Each one is optional: a role the stack creates gets Postgres' default for
 * an attribute it leaves out (NOLOGIN, NOCREATEROLE, NOCREATEDB, INHERIT, NOBYPASSRLS, no
 * connection limit, a password valid forever); an adopted role keeps what it has.
 */
const roleAttributes = {
  /** LOGIN: the role can connect (an application's user). */
  login: z.boolean().optional(),
  /** CREATEROLE: the role can create, alter and drop roles (an owner whose migrations create roles). */
  createRole: z.boolean().optional(),
  /** CREATEDB: the role can create databases. */
  createDb: z.boolean().optional(),
  /** INHERIT: the role uses the privileges of the roles it is a member of without SET ROLE. */
  inherit: z.boolean().optional(),
  /** BYPASSRLS: row-level security policies do not apply to the role (only a superuser admin may set it). */
  bypassRls: z.boolean().optional(),
  /** CONNECTION LIMIT: at most this many concurrent connections; -1 means no limit. */
  connectionLimit: z.number().int().min(-1, "must be -1 (no limit) or a number of connections").optional(),
  /** VALID UNTIL: when the role's password stops working (see {@link validUntil}). */
  validUntil: validUntil.optional(),
} satisfies Record<RoleAttribute, z.ZodType>;

const roleSchema = z.strictObject({
  name: identifier
    .refine((n) => !RESERVED_ROLE_NAMES.has(n), {
      error: (i) => `${JSON.stringify(i.input)} is reserved by Postgres as a role name; choose another name`,
    })
    .refine((n) => !n.startsWith("pg_"), {
      error: (i) => `${JSON.stringify(i.input)}: names starting with pg_ belong to PostgreSQL's predefined roles (pg_database_owner, pg_signal_backend, …), which a stack neither creates nor adopts; choose another name`,
    }),
  ...roleAttributes,
  /**
   * The secret config key holding this role's password. When absent, a login role the stack
   * creates gets a generated password that lives only in the (encrypted) stack state, and an
   * adopted role keeps the password it has.
   */
  passwordSecret: secretKey.optional(),
  /**
   * The role exists already and this stack takes it over: it is imported (as `pulumi import`
   * does) and kept on destroy; the attributes the config leaves out are kept as they are.
   * Without it, an existing role is an error.
   */
  adopt: z.boolean().default(false),
});

const schemaPrivilege = z.enum(["USAGE", "CREATE"]);
/** MAINTAIN (VACUUM, ANALYZE, REINDEX, …) exists from PostgreSQL 17 on; the preview refuses it on an older server. */
const tablePrivilege = z.enum(["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "MAINTAIN"]);
const sequencePrivilege = z.enum(["USAGE", "SELECT", "UPDATE"]);

const grantSchema = z.strictObject({
  role: identifier,
  schema: identifier,
  /** On the schema itself. */
  schemaPrivileges: z.array(schemaPrivilege).default(["USAGE"]),
  /** On every table in the schema, now and (as default privileges) later. */
  tablePrivileges: z.array(tablePrivilege).default([]),
  /** On every sequence in the schema, now and later. */
  sequencePrivileges: z.array(sequencePrivilege).default([]),
});

const resetSchema = z
  .strictObject({
    /** Bump to reset (drop and rebuild) this database. Recorded inside the database. */
    generation: z.number().int().min(0).default(0),
    /** Whether this stack may reset this database at all. Keep false in prod. */
    allowed: z.boolean().default(false),
    /** The generation whose data loss you accept (a number, so a stale "yes" never carries over). */
    acceptDataLoss: z.number().int().min(0).optional(),
    /**
     * `generation` (the default): reset when `generation` changes. `every-deploy`: reset and
     * re-apply on every `pulumi up`, for ephemeral stacks (preview environments). It needs
     * `allowed: true`, and it declares the data throwaway: it accepts the loss of every deploy's
     * data, so `acceptDataLoss` does not apply (and is refused with it).
     */
    mode: z.enum(["generation", "every-deploy"]).default("generation"),
  })
  .default({ generation: 0, allowed: false, mode: "generation" });

/** A Postgres duration such as `10s`, `500ms`, `2min`; `0` turns the limit off. */
const duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$/, 'must be a Postgres duration such as "10s", "500ms" or "2min" ("0" for no limit)');

/** Session settings each migration runs with (`SET LOCAL`), so no server default decides them. */
const sessionSchema = z
  .strictObject({
    /** How long a migration may wait for a table lock before it fails (and changes nothing). */
    lockTimeout: duration.default("10s"),
    /** How long one statement of a migration may run; `0` means no limit. */
    statementTimeout: duration.default("0"),
  })
  .default({ lockTimeout: "10s", statementTimeout: "0" });

/**
 * Drift: the live schema against the declared one (the migrations applied to a shadow database).
 * `refuse` makes `up` fail while unaccepted drift exists; `warn` only reports it.
 */
const driftSchema = z
  .strictObject({
    /** Default: `refuse` where resets are not allowed (prod), `warn` elsewhere. */
    policy: z.enum(["refuse", "warn"]).optional(),
    /**
     * Known drift this stack accepts: report lines exactly as `pulumi refresh` shows them in the
     * `driftReport` output, e.g. `+ table public.api_usage_metric (not in migrations)`.
     */
    accept: z
      .array(z.string().regex(/^[+~-] \S/, 'must be a line of the drift report, starting with "+ ", "- " or "~ " (copy it from the driftReport output)'))
      .default([]),
  })
  .default({ accept: [] });

/** A string the core's parser must accept; its problem (with what to write) is the message. */
const parsedBy = (parse: (s: string) => Parsed<unknown>) =>
  z.string().superRefine((value, ctx) => {
    const p = parse(value);
    if (!p.ok) ctx.addIssue({ code: "custom", message: p.problem });
  });
/** `table` or `schema.table`; names that need quotes in SQL are quoted: `public."bazaar-vid_exports"`. */
const tableRef = parsedBy(parseTableRef);
/** `table.column -> table.column`, either side optionally `schema.table.column`, quoted names allowed. */
const fkRef = parsedBy(parseForeignKeyRef);

const databaseSchema = z.strictObject({
  name: identifier,
  /** The role that owns the database, its schemas and the tables migrations create. */
  owner: identifier,
  /**
   * The database exists already and this stack takes it over: it is imported (as `pulumi import`
   * does) and kept on destroy. Without it, an existing database is an error.
   */
  adopt: z.boolean().default(false),
  roles: z.array(roleSchema).default([]),
  schemas: z.array(identifier).min(1).default(["public"]),
  grants: z.array(grantSchema).default([]),
  /** The migrations folder, relative to the project. Default `migrations/<name>`. */
  migrations: z
    .string()
    .min(1, "must not be empty; leave it out for the default migrations/<name>")
    .refine((p) => !p.startsWith("/") && !p.split(/[\\/]/).includes(".."), "must be a relative path inside the project")
    .optional(),
  reset: resetSchema,
  /**
   * Take a `pg_dump` before each reset (and when the database is first created). `false` skips
   * it, e.g. for an every-deploy stack whose data nobody needs.
   */
  backup: z.boolean().default(true),
  /**
   * Adoption: the version this database's schema is already at, when it has tables and no
   * pgstack history (e.g. made by `create_all` or another tool). Versions up to it are recorded
   * as applied without running. pgstack verifies it against the migrations; without it, pgstack
   * finds the version itself.
   */
  baseline: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).optional(),
  session: sessionSchema,
  drift: driftSchema,
  expect: z
    .strictObject({
      tables: z.array(tableRef).default([]),
      foreignKeys: z.array(fkRef).default([]),
    })
    .default({ tables: [], foreignKeys: [] }),
});

/** What the safety policy does with one finding class. */
const safetyMode = z.enum(["refuse", "warn", "off"]);

/**
 * `pgstack:safety`: the data-safety policy for pending migrations. Each class may be set; the
 * rest come from the profile. Without `profile`, a database that allows resets gets `dev`
 * (its data is disposable) and every other one `prod`.
 */
const safetySchema = z
  .strictObject({
    profile: z.enum(["prod", "dev"]).optional(),
    policy: z
      .strictObject({
        dataLoss: safetyMode.optional(),
        castFailure: safetyMode.optional(),
        fkOrphans: safetyMode.optional(),
        notNull: safetyMode.optional(),
        duplicates: safetyMode.optional(),
        rename: safetyMode.optional(),
        /** SET ROLE / RESET ROLE, role and database DDL, ALTER SYSTEM, COPY … PROGRAM, dblink / postgres_fdw. */
        privilege: safetyMode.optional(),
        lint: safetyMode.optional(),
      })
      .default({}),
    /** Rehearse pending migrations on a throwaway copy in preview (reads the whole database). Default: on for dev, off for prod. */
    rehearsal: z.boolean().optional(),
    /** Tables estimated below this many rows are counted exactly; larger ones are estimated (`~`). */
    exactCountBelow: z.number().int().min(0).optional(),
    /** The statement timeout of each measurement query. */
    statementTimeout: duration.optional(),
  })
  .default({ policy: {} });

/** The raw config shape, as the keys `pgstack:server`, `pgstack:databases` and `pgstack:safety`. */
export const stackConfigSchema = z
  .strictObject({
    server: serverSchema,
    databases: z.array(databaseSchema).min(1, "declare at least one database"),
    safety: safetySchema,
  })
  .superRefine((cfg, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
    const dbNames = new Map<string, number>();
    const roleOwners = new Map<string, number>();
    cfg.databases.forEach((db, i) => {
      const at = (...p: (string | number)[]) => ["databases", i, ...p];
      const first = dbNames.get(db.name);
      if (first !== undefined) issue(at("name"), `database "${db.name}" is already declared at databases[${first}]`);
      else dbNames.set(db.name, i);

      const roles = new Set<string>();
      db.roles.forEach((r, j) => {
        if (roles.has(r.name)) issue(at("roles", j, "name"), `role "${r.name}" is declared twice in this database`);
        roles.add(r.name);
        const other = roleOwners.get(r.name);
        // Roles are cluster-wide in Postgres: two databases cannot both create one.
        if (other !== undefined && other !== i) {
          issue(at("roles", j, "name"), `role "${r.name}" is already declared by databases[${other}]; roles are shared by the whole server, declare it once`);
        }
        roleOwners.set(r.name, i);
        if (r.name === cfg.server.adminUser) issue(at("roles", j, "name"), `"${r.name}" is the admin user; pgstack does not manage it`);
        // An adopted role that leaves `login` out keeps it; a created one without it cannot log in.
        if (r.passwordSecret && (r.login === false || (r.login === undefined && !r.adopt))) {
          issue(at("roles", j, "passwordSecret"), "only login roles have a password; set login: true or remove it");
        }
      });
      if (!roles.has(db.owner)) issue(at("owner"), `owner "${db.owner}" is not declared in databases[${i}].roles; add it there`);

      const schemas = new Set(db.schemas);
      if (schemas.size !== db.schemas.length) issue(at("schemas"), "a schema is listed twice");
      if (db.schemas.includes("pgstack")) issue(at("schemas"), '"pgstack" is pgstack\'s own schema; use another name');
      if (db.schemas.includes("information_schema")) issue(at("schemas"), '"information_schema" is a Postgres system schema; use another name');
      db.grants.forEach((g, j) => {
        if (!roles.has(g.role)) issue(at("grants", j, "role"), `role "${g.role}" is not declared in databases[${i}].roles`);
        if (!schemas.has(g.schema)) issue(at("grants", j, "schema"), `schema "${g.schema}" is not in databases[${i}].schemas`);
      });

      if (db.reset.mode === "every-deploy" && !db.reset.allowed) {
        issue(
          at("reset", "mode"),
          `"every-deploy" resets this database on every \`pulumi up\`, but this stack does not allow resets: ` +
            `set ${configPath(at("reset", "allowed"))}: true (only in a stack whose data is throwaway), or remove reset.mode`,
        );
      }
      if (db.reset.mode === "every-deploy" && db.reset.acceptDataLoss !== undefined) {
        issue(at("reset", "acceptDataLoss"), `does not apply with reset.mode "every-deploy", which accepts losing the data on every deploy: remove it`);
      }
      const { generation, acceptDataLoss } = db.reset;
      if (acceptDataLoss !== undefined && acceptDataLoss > generation) {
        issue(at("reset", "acceptDataLoss"), `accepts data loss for generation ${acceptDataLoss}, which is above reset.generation (${generation})`);
      }
      db.expect.tables.forEach((t, j) => {
        const parsed = parseTableRef(t);
        const schema = parsed.ok ? parsed.value.schema : undefined;
        if (schema !== undefined && !schemas.has(schema)) issue(at("expect", "tables", j), `schema "${schema}" of "${t}" is not in databases[${i}].schemas`);
      });
    });
  });

/** The raw (pre-defaults) config a user writes. */
export type StackConfigInput = z.input<typeof stackConfigSchema>;
/** The validated config, with defaults applied. */
export type StackConfig = z.output<typeof stackConfigSchema>;
/** One validated database. */
export type DatabaseConfig = StackConfig["databases"][number];
/** The validated server settings. */
export type ServerConfig = StackConfig["server"];

/** Raised for an invalid stack config; `issues` holds every problem, each with its path. */
export class ConfigError extends PgstackError {
  readonly issues: readonly string[];
  constructor(stack: string, issues: readonly string[]) {
    super("CONFIG_INVALID", `stack "${stack}": the config has ${issues.length} problem(s):\n` + issues.map((i) => `  - ${i}`).join("\n"), {
      hint: `fix them in Pulumi.${stack}.yaml (or with \`pulumi config set --path\`) and run again`,
    });
    this.issues = issues;
  }
}

/** `pgstack:databases[0].roles[1].name` from zod's path. */
export function configPath(path: readonly PropertyKey[]): string {
  let out = `${CONFIG_NAMESPACE}:`;
  path.forEach((p, i) => {
    if (typeof p === "number") out += `[${p}]`;
    else out += i === 0 ? String(p) : `.${String(p)}`;
  });
  return out;
}

/**
 * Parses the raw config (the values of `pgstack:server` and `pgstack:databases`). Throws
 * {@link ConfigError} listing every problem with its path.
 */
export function parseStackConfig(raw: unknown, stack: string): StackConfig {
  const result = stackConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((i) =>
    // Each unknown key by its own path, with the closest known key (`did you mean …?`).
    i.code === "unrecognized_keys" ? unknownKeyMessages(stackConfigSchema, i.path, i.keys, configPath) : [`${configPath(i.path)}: ${i.message}`],
  );
  throw new ConfigError(stack, issues);
}

/** The keys of the `pgstack:` namespace in a stack file's `config:` (or Pulumi's config), without the prefix. */
export function namespaceKeys(config: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config ?? {})) if (key.startsWith(`${CONFIG_NAMESPACE}:`)) out[key.slice(CONFIG_NAMESPACE.length + 1)] = value;
  return out;
}

/** The secret keys a raw config names (read defensively: it is not validated yet). */
function namedSecrets(server: unknown, databases: unknown): Set<string> {
  const s = (server ?? {}) as { adminPasswordSecret?: unknown; sslrootcertSecret?: unknown };
  const names = [s.adminPasswordSecret ?? "adminPassword", s.sslrootcertSecret];
  for (const db of Array.isArray(databases) ? databases : []) {
    for (const r of Array.isArray((db as { roles?: unknown })?.roles) ? (db as { roles: unknown[] }).roles : []) names.push((r as { passwordSecret?: unknown })?.passwordSecret);
  }
  return new Set(names.filter((n): n is string => typeof n === "string"));
}

/**
 * Parses the whole `pgstack:` namespace (`keys` from {@link namespaceKeys}): `server`, `databases`
 * and `safety`, plus the secrets they name (`adminPasswordSecret`, `sslrootcertSecret`, each
 * role's `passwordSecret`). Any other key is refused with its path and the closest known key, so
 * a misspelt `pgstack:sever` is never silently ignored. Throws {@link ConfigError}.
 */
export function parseStackKeys(keys: Record<string, unknown>, stack: string): StackConfig {
  const { server, databases, safety, ...rest } = keys;
  const secrets = namedSecrets(server, databases);
  const unknown = Object.fromEntries(Object.entries(rest).filter(([k]) => !secrets.has(k)));
  return parseStackConfig({ server, databases, safety, ...unknown }, stack);
}

/** The database's migrations folder, relative to the project root. */
export function migrationsDir(db: DatabaseConfig): string {
  return db.migrations ?? `migrations/${db.name}`;
}

/** The config's expectations in the core's terms (plain names are in `public`). */
export function expectationsOf(db: DatabaseConfig): Expectations {
  // The schema has validated every entry already; a failure here is a bug, not bad input.
  const value = <T>(p: Parsed<T>): T => {
    if (!p.ok) throw new Error(`internal: an unvalidated expectation reached expectationsOf: ${p.problem}`);
    return p.value;
  };
  return {
    tables: db.expect.tables.map((t) => value(parseTableRef(t))),
    foreignKeys: db.expect.foreignKeys.map((fk) => value(parseForeignKeyRef(fk))),
  };
}

/**
 * The safety policy of one database: the profile's defaults (explicit `pgstack:safety.profile`,
 * else `dev` when the database allows resets and `prod` otherwise), overridden per class.
 */
export function safetyPolicyOf(config: StackConfig, db: DatabaseConfig): SafetyPolicy {
  const safety = config.safety;
  const profile = safety.profile ?? (db.reset.allowed ? "dev" : "prod");
  const base = PROFILES[profile];
  const set = <T>(v: T | undefined, d: T): T => (v === undefined ? d : v);
  const p = safety.policy;
  return {
    profile,
    dataLoss: set(p.dataLoss, base.dataLoss),
    castFailure: set(p.castFailure, base.castFailure),
    fkOrphans: set(p.fkOrphans, base.fkOrphans),
    notNull: set(p.notNull, base.notNull),
    duplicates: set(p.duplicates, base.duplicates),
    rename: set(p.rename, base.rename),
    privilege: set(p.privilege, base.privilege),
    lint: set(p.lint, base.lint),
    rehearsal: set(safety.rehearsal, base.rehearsal),
    exactCountBelow: set(safety.exactCountBelow, base.exactCountBelow),
    statementTimeout: set(safety.statementTimeout, base.statementTimeout),
  };
}
