/**
 * One database and everything that belongs to it, as a ComponentResource:
 * roles → database → schemas → grants → backup → reset → migrations → verification.
 */
import * as command from "@pulumi/command";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as path from "node:path";
import { CONFIG_NAMESPACE, expectationsOf, migrationsDir, type DatabaseConfig, type ServerConfig } from "../config.js";
import { ROLE_ATTRIBUTES, type AdoptedRole, type RoleAttribute, type RoleAttributes } from "../lifecycle/roles.js";
import type { ManagedSchema, Migration } from "../lifecycle/index.js";
import { parseQualifiedName } from "../lifecycle/identifiers.js";
import { acceptsDataLoss } from "../lifecycle/reset-policy.js";
import { schemasCreatedByMigrations } from "../lifecycle/migration-schemas.js";
import { DatabaseReset, EveryDeployTrigger, ExistingObjectsGuard, GeneratedPassword, MigrationSafety, MigrationSet, OwnerMembership, SchemaVerification, type ConnectionInput } from "../providers/index.js";
import { PROFILES } from "../lifecycle/safety/policy.js";
import type { SafetyPolicy } from "../lifecycle/safety/types.js";
import type { GuardedObject, VersionNeed } from "../providers/kinds.js";
import { listedMigration } from "../providers/migration-keys.js";
import { inventoryByTable, inventoryFromState, type InventoryEntry } from "../lifecycle/inventory.js";
import { driftPolicy, migrationsDigest } from "../lifecycle/drift-policy.js";
import { PG_DUMP_LOOKUP } from "../lifecycle/client-tools.js";

/**
 * The PostgreSQL server a {@link PostgresDatabase} lives on. Each setting is a `pulumi.Input`,
 * so it can be the output of the resource that creates the server (an RDS instance, a Cloud SQL
 * server, a container) in the same program: while it is unknown (the preview before the server
 * exists) pgstack shows what it will create and connects to nothing.
 */
export interface ServerInput {
  host: pulumi.Input<string>;
  port: pulumi.Input<number>;
  /** The role pgstack connects as: `LOGIN CREATEROLE CREATEDB` is enough, no superuser needed. */
  adminUser: pulumi.Input<string>;
  /** The admin's password; it is kept secret in the state. */
  adminPassword: pulumi.Input<string>;
  /** TLS mode, as libpq's `sslmode` (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`). Default `disable`. */
  sslmode?: pulumi.Input<ServerConfig["sslmode"]>;
  /**
   * The server's CA certificate, for every client alike: the PEM text (for pg, kept inside the
   * secret connection) and a file path relative to the program's folder (for the postgresql
   * provider's `sslrootcert` and pg_dump's `PGSSLROOTCERT`, which read a file).
   */
  rootCert?: { pem: pulumi.Input<string>; file: pulumi.Input<string> };
}

/** Arguments of {@link PostgresDatabase}. */
export interface PostgresDatabaseArgs {
  /** The server, its settings as `pulumi.Input`s. */
  server: ServerInput;
  /** The database, validated by the config schema (`parseStackConfig(...).databases[i]`). */
  db: DatabaseConfig;
  /** The migrations of `db`, loaded and parsed before anything is declared ({@link loadDatabaseMigrations}). */
  migrations: Migration[];
  /** Passwords of login roles, by role name; a login role without one gets a generated password. */
  rolePasswords?: Readonly<Record<string, pulumi.Input<string>>>;
  /** The stack, for messages and the reset policy. Default: the current Pulumi stack. */
  stack?: string;
  /** Where `db` is declared, for messages (e.g. `pgstack:databases[0]`). Default: `databases.<name>`. */
  configPath?: string;
  /** The pg_dump backup folder for this database, relative to the program's folder. Default: `backups/<stack>/<name>`. */
  backupDir?: string;
  /** The data-safety policy (`safetyPolicyOf`); default: the dev profile if resets are allowed, else prod. */
  safety?: SafetyPolicy;
  /**
   * The folder the migrations' `file` paths are relative to ({@link loadDatabaseMigrations}'s
   * `projectRoot`). Default: the working directory, where the providers run too: then the
   * MigrationSet and the safety check get names and checksums, and read the SQL they need.
   */
  projectRoot?: string;
}

/** The per-database stack outputs. */
export interface DatabaseOutputs {
  /** Tables per schema, sorted. */
  tables: pulumi.Output<Record<string, string[]>>;
  /** Foreign keys as `table.column -> table.column`, sorted. */
  foreignKeys: pulumi.Output<string[]>;
  migrationHead: pulumi.Output<string | null>;
  resetGeneration: pulumi.Output<number>;
  lastBackup: pulumi.Output<string>;
  fingerprint: pulumi.Output<string>;
  drift: pulumi.Output<string>;
  /** Every difference from the declared schema (the migrations applied to a shadow), one line per object. */
  driftReport: pulumi.Output<string[]>;
  /** Keyed by `schema.table`. */
  inventory: pulumi.Output<Record<string, InventoryEntry>>;
}

/** A PostgreSQL database managed by pgstack. */
export class PostgresDatabase extends pulumi.ComponentResource {
  readonly database: postgresql.Database;
  readonly reset: DatabaseReset;
  readonly migrations: MigrationSet;
  readonly verification: SchemaVerification;
  /** The data-safety check of the pending migrations; everything else depends on it. */
  readonly safety: MigrationSafety;
  /** The backup taken before each reset generation; absent with `backup: false`. */
  readonly backup: pulumi.CustomResource | undefined;
  readonly outputs: DatabaseOutputs;

  constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgstack:index:PostgresDatabase", name, {}, opts);
    const { db, server } = args;
    const stack = args.stack ?? pulumi.getStack();
    const at = configPathOf(args);

    const managed: ManagedSchema[] = db.schemas.map((s) => ({
      name: s,
      owner: db.owner,
      grants: db.grants
        .filter((g) => g.schema === s)
        .map((g) => ({ role: g.role, schema: g.schemaPrivileges, tables: g.tablePrivileges, sequences: g.sequencePrivileges })),
    }));
    const createdByMigrations = schemasCreatedByMigrations(args.migrations);
    const connectionTo = (database: string): ConnectionInput =>
      pulumi.secret({
        host: server.host,
        port: server.port,
        user: server.adminUser,
        password: server.adminPassword,
        database,
        sslmode: server.sslmode ?? "disable",
        ...(server.rootCert ? { sslrootcert: server.rootCert.pem } : {}),
      });
    const connection = connectionTo(db.name);
    // The MigrationSet and the safety check read the files of the migrations they judge or run
    // (the pending ones); the SQL of the whole history would travel to the engine on every run
    // only to be dropped there. Where the provider cannot find the files (another folder), the
    // SQL travels as before.
    const filesFound = path.resolve(args.projectRoot ?? process.cwd()) === process.cwd();
    // A string each (file, checksum, transaction mode) where the files are found: see ListedMigration.
    const listed = args.migrations.map((m) => (filesFound ? listedMigration(m) : { id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql }));
    const passwordOf = (r: RoleConfig): pulumi.Input<string> | undefined => {
      const configured = args.rolePasswords?.[r.name];
      if (configured) return configured;
      // An adopted role keeps the password it has: the application's own must keep working.
      return r.login && !r.adopt ? new GeneratedPassword(`${name}-${r.name}-password`, {}, { parent: this }).value : undefined;
    };

    // Registered first, and the guard (which every other object follows) depends on it: a refusal
    // stops the run before any role, grant, reset or migration is touched.
    this.safety = new MigrationSafety(
      `${name}-safety`,
      {
        connection,
        role: db.owner,
        migrations: listed,
        policy: args.safety ?? PROFILES[db.reset.allowed ? "dev" : "prod"],
        configPath: `${CONFIG_NAMESPACE}:safety`,
        resetGeneration: db.reset.generation,
        session: db.session,
        // Adoption as the MigrationSet plans it: what it records without running is not judged.
        schemas: db.schemas,
        ...(db.baseline !== undefined ? { baseline: db.baseline } : {}),
        databaseConfigPath: at,
        // Dropped by `check` (not in the state): it only decides whether this run rehearses.
        preview: pulumi.runtime.isDryRun(),
      },
      { parent: this },
    );

    // A managed schema a migration creates belongs to the migrations: its Schema and grants come after them.
    let migrationsDeclared: (r: pulumi.Resource) => void = () => undefined;
    const afterMigrations = new Promise<pulumi.Resource>((resolve) => (migrationsDeclared = resolve));
    const objects = this.provision(name, args, passwordOf, connectionTo, afterMigrations);
    this.database = objects.database;
    this.backup = objects.backup;
    const lastBackup = objects.backupPath;
    const grants = objects.grants;

    this.reset = new DatabaseReset(
      `${name}-reset`,
      {
        connection,
        stack,
        configPath: `${at}.reset`,
        generation: db.reset.generation,
        allowed: db.reset.allowed,
        acceptDataLoss: acceptsDataLoss(db.reset),
        schemas: managed,
        createdByMigrations: db.schemas.filter((s) => createdByMigrations.has(s)),
        backup: lastBackup,
        ...(objects.trigger ? { mode: "every-deploy" as const, trigger: objects.trigger } : {}),
      },
      { parent: this, dependsOn: [...(this.backup ? [this.backup] : []), ...grants], deletedWith: this.database },
    );

    this.migrations = new MigrationSet(
      `${name}-migrations`,
      {
        connection,
        role: db.owner,
        migrations: listed,
        // every-deploy: the reset's epoch is new after each reset, so everything re-applies.
        resetGeneration: objects.trigger ? this.reset.epoch : this.reset.generation,
        session: db.session,
        // Adoption: a database with tables and no history is matched against the migrations.
        schemas: db.schemas,
        // A schema a migration creates gets its owner and grants as soon as it runs (again after a reset).
        grants: managed,
        ...(db.baseline !== undefined ? { baseline: db.baseline } : {}),
        configPath: at,
      },
      { parent: this, dependsOn: [this.reset], deletedWith: this.database },
    );
    migrationsDeclared(this.migrations);

    this.verification = new SchemaVerification(
      `${name}-verification`,
      {
        connection,
        schemas: db.schemas,
        expectations: expectationsOf(db),
        migrationHead: this.migrations.head,
        grants: managed,
        declared: {
          dir: migrationsDir(db),
          digest: migrationsDigest(args.migrations),
          role: db.owner,
          policy: driftPolicy(db),
          accept: db.drift.accept,
          configPath: `${at}.drift`,
        },
      },
      // After the grants too: the inventory it records includes them.
      { parent: this, dependsOn: [this.migrations, ...grants, ...objects.lateGrants], deletedWith: this.database },
    );

    // The state keeps one JSON text per table (StoredInventory); the stack outputs show objects.
    const tableList = this.verification.inventory.apply(inventoryFromState);
    this.outputs = {
      tables: tableList.apply((tables) => {
        const bySchema: Record<string, string[]> = {};
        for (const t of tables) {
          // Names that need quotes are quoted in the inventory (`public."bazaar-vid_exports"`).
          const name = parseQualifiedName(t.table);
          const [schema = "", table = ""] = name.ok ? name.parts : t.table.split(".");
          (bySchema[schema] ??= []).push(table);
        }
        for (const list of Object.values(bySchema)) list.sort();
        return bySchema;
      }),
      foreignKeys: tableList.apply((tables) =>
        tables
          .flatMap((t) => t.foreignKeys.map((fk) => `${t.table}.${fk.replace(/ on delete .*$/, "").replace(/ -> (\S+)\((.+)\)$/, " -> $1.$2")}`))
          .sort(),
      ),
      migrationHead: this.migrations.head,
      resetGeneration: this.reset.generation,
      lastBackup,
      fingerprint: this.verification.fingerprint,
      drift: this.verification.drift,
      driftReport: this.verification.driftReport.apply((r) => r ?? []),
      inventory: tableList.apply(inventoryByTable),
    };
    // Nothing stored on the component: the stack outputs carry these already, and a second copy
    // of the inventory in the state would grow it with every table.
    this.registerOutputs({});
  }

  /**
   * Roles, the database, schemas and grants through `@pulumi/postgresql`; the backup through
   * `@pulumi/command`. A role or database that exists already is refused (in preview) unless the
   * config adopts it.
   */
  private provision(
    name: string,
    args: PostgresDatabaseArgs,
    passwordOf: (r: RoleConfig) => pulumi.Input<string> | undefined,
    connectionTo: (database: string) => ConnectionInput,
    afterMigrations: Promise<pulumi.Resource>,
  ): ProvisionedObjects {
    const { db, server } = args;
    const stack = args.stack ?? pulumi.getStack();
    const at = configPathOf(args);
    const provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: server.host,
        port: server.port,
        username: server.adminUser,
        password: pulumi.secret(server.adminPassword),
        sslmode: server.sslmode ?? "disable",
        ...(server.rootCert ? { sslrootcert: server.rootCert.file } : {}),
        // pgstack never needs a superuser: managed Postgres (RDS, Cloud SQL, Neon, Supabase) gives
        // an admin with CREATEROLE and CREATEDB. In this mode the provider reads no superuser-only
        // catalog and grants itself the role memberships Postgres asks for.
        superuser: false,
        database: "postgres",
        connectTimeout: 15,
      },
      { parent: this },
    );
    const withProvider = { parent: this, provider };
    const roleName = (r: { name: string }) => `${name}-role-${r.name}`;
    const guarded: GuardedObject[] = [
      ...db.roles.flatMap((r, j): GuardedObject[] =>
        r.adopt ? [] : [{ kind: "role", name: r.name, configPath: `${at}.roles[${j}]`, type: "postgresql:index/role:Role", resourceName: roleName(r) }],
      ),
      ...(db.adopt ? [] : [{ kind: "database" as const, name: db.name, configPath: at, type: "postgresql:index/database:Database", resourceName: name }]),
    ];
    const adoptedRoles = db.roles.flatMap((r, j): AdoptedRole[] => (r.adopt ? [adoptedRole(r, `${at}.roles[${j}]`)] : []));
    const needs = versionNeeds(db, at);
    const guard = new ExistingObjectsGuard(
      `${name}-guard`,
      {
        connection: connectionTo("postgres"),
        stack,
        objects: guarded,
        ...(adoptedRoles.length ? { adopted: adoptedRoles } : {}),
        ...(needs.length ? { needs } : {}),
        // The backup's pg_dump is checked against the server before anything is created.
        ...(needs.length ? { needs } : {}),
        backup: { enabled: db.backup, configPath: at, generation: db.reset.generation, everyDeploy: db.reset.mode === "every-deploy" },
      },
      { parent: this, dependsOn: [this.safety] },
    );
    // An adopted object is imported (Pulumi's `import` option, the in-code `pulumi import`) and
    // kept on destroy: the stack did not create it, so it does not drop it.
    const adopted = (adopt: boolean, id: string): pulumi.CustomResourceOptions => (adopt ? { import: id, retainOnDelete: true } : {});
    const roles = db.roles.map((r) => {
      const { args: roleArgs, ignoreChanges } = roleResourceArgs(r, passwordOf(r));
      return new postgresql.Role(roleName(r), roleArgs, { ...withProvider, dependsOn: [guard], ...adopted(r.adopt, r.name), ...(ignoreChanges.length ? { ignoreChanges } : {}) });
    });
    // Migrations run as the owner and a reset drops the owner's tables, ends its sessions and
    // closes its database, so the admin must be a member of the owner role with INHERIT and SET
    // (PostgreSQL 16+ gives a role's creator ADMIN only). A superuser is implicitly.
    const membership = new OwnerMembership(
      `${name}-admin-in-owner`,
      { connection: connectionTo("postgres"), owner: db.owner },
      // Stacks made before were a postgresql.GrantRole of this name: the alias makes this its
      // replacement, and deleting that first (its REVOKE) keeps the new grant.
      { parent: this, dependsOn: roles, aliases: [{ type: "postgresql:index/grantRole:GrantRole" }], deleteBeforeReplace: true },
    );
    // A stack that may not reset may not lose the database either: `pulumi destroy` stops here.
    const database = new postgresql.Database(
      name,
      { name: db.name, owner: db.owner },
      {
        ...withProvider,
        dependsOn: [guard, membership, ...roles],
        protect: !db.reset.allowed,
        ...adopted(db.adopt, db.name),
        // An adopted database keeps its settings (connection limit, template, encoding…): the config sets only its owner.
        ...(db.adopt ? { ignoreChanges: [...ADOPTED_DATABASE_KEEPS] } : {}),
      },
    );
    // Everything inside the database goes with it: no drop of each schema or grant first. An
    // adopted database stays on destroy, so its grants must be revoked one by one (or the
    // roles they name could not be dropped).
    const inside = { ...withProvider, deletedWith: database };
    const grantOptions = db.adopt ? withProvider : inside;
    const byMigrations = schemasCreatedByMigrations(args.migrations);
    const schemaOf = new Map(
      db.schemas.map((s) => [
        s,
        // Removing a schema from the config leaves it and its data in place (retainOnDelete).
        new postgresql.Schema(
          `${name}-schema-${s}`,
          { name: s, database: database.name, owner: db.owner, ifNotExists: true },
          { ...inside, dependsOn: byMigrations.has(s) ? [database, membership, afterMigrations] : [database, membership], retainOnDelete: true },
        ),
      ]),
    );
    const schemas = db.schemas.filter((s) => !byMigrations.has(s)).map((s) => schemaOf.get(s)!);
    const lateGrants: pulumi.CustomResource[] = db.schemas.filter((s) => byMigrations.has(s)).map((s) => schemaOf.get(s)!);
    // Grants on one schema run one role after the other: Postgres refuses two GRANTs that
    // update the same catalog row (the schema's, a table's ACL) at once ("tuple concurrently updated").
    const earlierOnSchema = new Map<string, pulumi.CustomResource[]>();
    const grants = db.grants.flatMap((g) => {
      const base = { database: database.name, role: g.role, schema: g.schema };
      const late = byMigrations.has(g.schema);
      const earlier = earlierOnSchema.get(g.schema) ?? [];
      const opts = { ...grantOptions, dependsOn: [...(late ? [schemaOf.get(g.schema)!] : schemas), ...roles, membership, ...earlier] };
      const id = `${name}-grant-${g.role}-${g.schema}`;
      const out: pulumi.CustomResource[] = [new postgresql.Grant(`${id}-schema`, { ...base, objectType: "schema", privileges: g.schemaPrivileges }, opts)];
      // Each object type twice: a Grant for what exists now (so a grant added after the
      // migrations reaches their tables, and removing a privilege revokes it) and default
      // privileges for what the migrations create later, as the owner.
      for (const [objectType, privileges] of [["table", g.tablePrivileges], ["sequence", g.sequencePrivileges]] as const) {
        if (privileges.length === 0) continue;
        out.push(new postgresql.Grant(`${id}-${objectType}s`, { ...base, objectType, objects: [], privileges: [...privileges] }, opts));
        out.push(new postgresql.DefaultPrivileges(`${id}-default-${objectType}s`, { ...base, owner: db.owner, objectType, privileges: [...privileges] }, opts));
      }
      earlierOnSchema.set(g.schema, [...earlier, ...out]);
      if (late) lateGrants.push(...out);
      return late ? [] : out;
    });
    // every-deploy: a trigger replaced on every deploy runs the backup and the reset again.
    const trigger =
      db.reset.mode === "every-deploy"
        ? new EveryDeployTrigger(`${name}-every-deploy`, { reason: `${at}.reset.mode is every-deploy: each pulumi up backs up, resets and re-applies this database` }, { parent: this })
        : undefined;
    if (!db.backup) return { database, grants: [...schemas, ...grants], lateGrants, backup: undefined, backupPath: pulumi.output("none (backup: false)"), trigger: trigger?.token };
    // A pg_dump before every generation change; its path is an output, so a rollback is a pg_restore.
    const backup = new command.local.Command(
      `${name}-backup`,
      {
        // The script comes through the environment: a failure then shows pg_dump's own error,
        // once (no live log), and not the script (the provider prints the command it ran).
        create: BACKUP_COMMAND,
        logging: "none",
        // Another input changed (a password, a host) but not the generation: no new dump, the last one's path stays.
        update: 'printf "%s" "$PULUMI_COMMAND_STDOUT"',
        // Connection settings as PG* variables: no secret on a command line or in a process list.
        environment: {
          PGSTACK_BACKUP: backupScript(args.backupDir ?? `backups/${stack}/${db.name}`, db.name, db.reset.generation),
          ...backupEnvironment(
            { host: server.host, port: pulumi.output(server.port).apply(String), adminUser: server.adminUser, sslmode: server.sslmode ?? "disable" },
            db.name,
            pulumi.secret(server.adminPassword),
            server.rootCert?.file,
          ),
        },
        triggers: trigger ? [db.reset.generation, trigger.token] : [db.reset.generation],
      },
      { parent: this, dependsOn: [database, ...schemas, ...grants], deletedWith: database },
    );
    return { database, grants: [...schemas, ...grants], lateGrants, backup, backupPath: pulumi.unsecret(backup.stdout).apply((s) => s.trim()), trigger: trigger?.token };
  }
}

/** Where the database is declared, for messages. */
function configPathOf(args: PostgresDatabaseArgs): string {
  return args.configPath ?? `databases.${args.db.name}`;
}

/** The config settings of `db` that an older PostgreSQL lacks: the guard refuses them in preview there. */
export function versionNeeds(db: DatabaseConfig, at: string): VersionNeed[] {
  return db.grants.flatMap((g, j): VersionNeed[] =>
    g.tablePrivileges.includes("MAINTAIN")
      ? [{ configPath: `${at}.grants[${j}].tablePrivileges`, what: "the MAINTAIN privilege (VACUUM, ANALYZE, REINDEX, CLUSTER, REFRESH MATERIALIZED VIEW, LOCK TABLE)", major: 17, instead: "remove MAINTAIN from it (on this server only the table's owner may do these)" }]
      : [],
  );
}

/** One role of the config. */
type RoleConfig = DatabaseConfig["roles"][number];

/** The postgresql provider's name for each role attribute of the config. */
export const ROLE_ATTRIBUTE_INPUTS: Readonly<Record<RoleAttribute, keyof postgresql.RoleArgs>> = {
  login: "login",
  createRole: "createRole",
  createDb: "createDatabase",
  inherit: "inherit",
  bypassRls: "bypassRowLevelSecurity",
  connectionLimit: "connectionLimit",
  validUntil: "validUntil",
};

/**
 * Role attributes the config has no key for. A role the stack creates gets the provider's
 * defaults for them; an adopted one keeps them.
 */
const UNMANAGED_ROLE_INPUTS: readonly (keyof postgresql.RoleArgs)[] = [
  "superuser",
  "replication",
  "searchPaths",
  "statementTimeout",
  "idleInTransactionSessionTimeout",
  "assumeRole",
  "roles",
  "encryptedPassword",
];

/**
 * The `postgresql.Role` inputs of one configured role, and what the engine must leave alone.
 * A role the stack creates gets exactly the config (Postgres' defaults for what it leaves out;
 * `login` false). An adopted role is imported; every attribute the config does not set is in
 * `ignoreChanges`, so the import takes the live value and no update ever touches it (an owner
 * keeps the CREATEROLE its migrations need), and so is its password unless `passwordSecret`
 * gives one (the application's own password keeps working).
 */
export function roleResourceArgs(r: RoleConfig, password: pulumi.Input<string> | undefined): { args: postgresql.RoleArgs; ignoreChanges: string[] } {
  const args: postgresql.RoleArgs = { name: r.name };
  const set = args as Record<string, unknown>;
  const ignoreChanges: string[] = [];
  for (const attribute of ROLE_ATTRIBUTES) {
    const input = ROLE_ATTRIBUTE_INPUTS[attribute];
    const value = attribute === "login" && !r.adopt ? (r.login ?? false) : r[attribute];
    if (value !== undefined) set[input] = value;
    else if (r.adopt) ignoreChanges.push(input);
  }
  if (password !== undefined) args.password = pulumi.secret(password);
  else if (r.adopt) ignoreChanges.push("password");
  if (r.adopt) ignoreChanges.push(...UNMANAGED_ROLE_INPUTS);
  return { args, ignoreChanges };
}

/** An adopted role as the guard's preview checks it: the attributes the config sets, and its password secret. */
function adoptedRole(r: RoleConfig, configPath: string): AdoptedRole {
  const set = Object.fromEntries(ROLE_ATTRIBUTES.flatMap((a) => (r[a] === undefined ? [] : [[a, r[a]]]))) as Partial<RoleAttributes>;
  return { name: r.name, configPath, set, ...(r.passwordSecret ? { passwordSecret: `${CONFIG_NAMESPACE}:${r.passwordSecret}` } : {}) };
}

/** The `postgresql.Database` inputs an adopted database keeps as they are (the config has no key for them). */
export const ADOPTED_DATABASE_KEEPS: readonly (keyof postgresql.DatabaseArgs)[] = [
  "allowConnections",
  "alterObjectOwnership",
  "connectionLimit",
  "encoding",
  "isTemplate",
  "lcCollate",
  "lcCtype",
  "tablespaceName",
  "template",
];

/** What {@link PostgresDatabase} provisions before the reset and the migrations. */
interface ProvisionedObjects {
  database: postgresql.Database;
  /** Schemas and grants: the reset runs after them. */
  grants: pulumi.CustomResource[];
  /** The schemas a migration creates, and their grants: after the migrations. */
  lateGrants: pulumi.CustomResource[];
  /** Absent with `backup: false`. */
  backup: pulumi.CustomResource | undefined;
  backupPath: pulumi.Output<string>;
  /** every-deploy: the trigger's token, new on every deploy. */
  trigger?: pulumi.Output<string>;
}

/** What the backup resource runs: the script in its environment ({@link backupScript}). */
export const BACKUP_COMMAND = 'sh -c "$PGSTACK_BACKUP"';

/**
 * pg_dump's connection as libpq variables: no secret on a command line or in a process list, and
 * TLS as the other clients have it (the same sslmode; the CA as a file, never the PEM itself).
 */
export function backupEnvironment<T>(
  server: { host: string | T; port: number | string | T; adminUser: string | T; sslmode: string | T },
  database: string,
  password: string | T,
  rootCertFile?: string | T,
): Record<string, string | T> {
  return {
    PGHOST: server.host,
    PGPORT: typeof server.port === "number" ? String(server.port) : server.port,
    PGUSER: server.adminUser,
    PGDATABASE: database,
    PGSSLMODE: server.sslmode,
    ...(rootCertFile !== undefined ? { PGSSLROOTCERT: rootCertFile } : {}),
    PGPASSWORD: password,
  };
}

/**
 * The backup script: `pg_dump -Fc` to `<dir>/<db>-g<generation>-<UTC time>.dump`; prints the
 * path. Connection settings come from PG* variables, so no secret is on the command line.
 */
export function backupScript(dir: string, database: string, generation: number): string {
  return [
    "set -eu",
    // The same lookup the preview's check runs (client-tools.ts), so it judged this binary.
    PG_DUMP_LOOKUP,
    'if [ -z "$PG_DUMP" ]; then echo "pg_dump not found: install the PostgreSQL client tools or set PGSTACK_PG_DUMP" >&2; exit 1; fi',
    `mkdir -p '${dir}'`,
    `f='${dir}/${database}-g${generation}-'"$(date -u +%Y%m%dT%H%M%SZ)"'.dump'`,
    // Written aside and renamed when complete: a failed dump leaves no file that looks like a backup.
    `"$PG_DUMP" -Fc --no-password -f "$f.partial" || { rc=$?; rm -f "$f.partial"; exit $rc; }`,
    'mv "$f.partial" "$f"',
    'printf "%s" "$f"',
  ].join("\n");
}

