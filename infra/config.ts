/**
 * The stack config, as a zod schema. It is parsed once; every error is reported at once, each
 * with its config path (`pgstack:databases[0].roles[1].name`) and what to do.
 */
import { z } from "zod";
import { identifierProblem } from "./lifecycle/identifiers.js";
import type { Expectations, ForeignKeyExpectation } from "./lifecycle/verify.js";

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
    sslmode: z.enum(["disable", "require", "verify-full"]).default("disable"),
    /** The secret config key holding the admin password. Not used by embedded servers. */
    adminPasswordSecret: secretKey.default("adminPassword"),
  })
  .default({
    embedded: false,
    host: "127.0.0.1",
    port: 5432,
    adminUser: "postgres",
    sslmode: "disable",
    adminPasswordSecret: "adminPassword",
  });

const roleSchema = z.strictObject({
  name: identifier.refine((n) => !RESERVED_ROLE_NAMES.has(n), {
    error: (i) => `${JSON.stringify(i.input)} is reserved by Postgres as a role name; choose another name`,
  }),
  login: z.boolean().default(false),
  /**
   * The secret config key holding this role's password. When absent, a login role gets a
   * generated password that lives only in the (encrypted) stack state.
   */
  passwordSecret: secretKey.optional(),
  /**
   * The role exists already and this stack takes it over: it is imported (as `pulumi import`
   * does) and kept on destroy. Without it, an existing role is an error.
   */
  adopt: z.boolean().default(false),
});

const schemaPrivilege = z.enum(["USAGE", "CREATE"]);
const tablePrivilege = z.enum(["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]);
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
  })
  .default({ generation: 0, allowed: false });

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

const tableRef = z.string().regex(/^([a-z_][a-z0-9_$]*\.)?[a-z_][a-z0-9_$]*$/, "must be table or schema.table");
const fkRef = z
  .string()
  .regex(
    /^\s*([a-z_][a-z0-9_$]*\.){1,2}[a-z_][a-z0-9_$]*\s*->\s*([a-z_][a-z0-9_$]*\.){1,2}[a-z_][a-z0-9_$]*\s*$/,
    'must look like "table.column -> table.column" (optionally schema.table.column)',
  );

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
  session: sessionSchema,
  drift: driftSchema,
  expect: z
    .strictObject({
      tables: z.array(tableRef).default([]),
      foreignKeys: z.array(fkRef).default([]),
    })
    .default({ tables: [], foreignKeys: [] }),
});

/** The raw config shape, as the two keys `pgstack:server` and `pgstack:databases`. */
export const stackConfigSchema = z
  .strictObject({
    server: serverSchema,
    databases: z.array(databaseSchema).min(1, "declare at least one database"),
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
        if (r.passwordSecret && !r.login) issue(at("roles", j, "passwordSecret"), "only login roles have a password; set login: true or remove it");
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

      const { generation, acceptDataLoss } = db.reset;
      if (acceptDataLoss !== undefined && acceptDataLoss > generation) {
        issue(at("reset", "acceptDataLoss"), `accepts data loss for generation ${acceptDataLoss}, which is above reset.generation (${generation})`);
      }
      db.expect.tables.forEach((t, j) => {
        const schema = t.includes(".") ? t.split(".")[0] ?? "" : "public";
        if (!schemas.has(schema)) issue(at("expect", "tables", j), `schema "${schema}" of "${t}" is not in databases[${i}].schemas`);
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
export class ConfigError extends Error {
  readonly issues: readonly string[];
  constructor(stack: string, issues: readonly string[]) {
    super(
      `stack "${stack}": the config has ${issues.length} problem(s):\n` +
        issues.map((i) => `  - ${i}`).join("\n") +
        `\n  → fix them in Pulumi.${stack}.yaml (or with \`pulumi config set --path\`) and run again`,
    );
    this.name = "ConfigError";
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
    // Top-level keys are Pulumi config keys themselves: name each (`pgstack:sever`), not the root.
    i.path.length === 0 && i.code === "unrecognized_keys"
      ? i.keys.map((k) => `${CONFIG_NAMESPACE}:${k}: unknown config key; pgstack reads ${CONFIG_NAMESPACE}:server and ${CONFIG_NAMESPACE}:databases`)
      : [`${configPath(i.path)}: ${i.message}`],
  );
  throw new ConfigError(stack, issues);
}

/** The database's migrations folder, relative to the project root. */
export function migrationsDir(db: DatabaseConfig): string {
  return db.migrations ?? `migrations/${db.name}`;
}

/** Whether the stack accepted data loss for the generation it asks for. */
export function acceptsDataLoss(db: DatabaseConfig): boolean {
  return db.reset.acceptDataLoss === db.reset.generation;
}

/** The config's expectations in the core's terms (plain names are in `public`). */
export function expectationsOf(db: DatabaseConfig): Expectations {
  const ref = (s: string): { schema: string; table: string; column: string } => {
    const parts = s.trim().split(".");
    if (parts.length === 3) return { schema: parts[0] ?? "", table: parts[1] ?? "", column: parts[2] ?? "" };
    return { schema: "public", table: parts[0] ?? "", column: parts[1] ?? "" };
  };
  return {
    tables: db.expect.tables.map((t) => (t.includes(".") ? { schema: t.split(".")[0] ?? "", table: t.split(".")[1] ?? "" } : { schema: "public", table: t })),
    foreignKeys: db.expect.foreignKeys.map((fk): ForeignKeyExpectation => {
      const [from = "", to = ""] = fk.split("->");
      return { from: ref(from), to: ref(to) };
    }),
  };
}

/** Whether `up` refuses on unaccepted drift (`refuse`) or only warns: by default prod-like stacks refuse. */
export function driftPolicy(db: DatabaseConfig): "refuse" | "warn" {
  return db.drift.policy ?? (db.reset.allowed ? "warn" : "refuse");
}
