/**
 * One database and everything that belongs to it, as a ComponentResource:
 * roles → database → schemas → grants → backup → reset → migrations → verification.
 */
import * as command from "@pulumi/command";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { acceptsDataLoss, CONFIG_NAMESPACE, expectationsOf, type DatabaseConfig, type ServerConfig } from "../config.js";
import type { ManagedSchema, Migration } from "../lifecycle/index.js";
import { DatabaseReset, GeneratedPassword, MigrationSet, PgBackup, PgDatabase, PgRole, PgSchema, SchemaVerification, type ConnectionInput } from "../providers/index.js";

/** Arguments of {@link PostgresDatabase}. */
export interface PostgresDatabaseArgs {
  stack: string;
  /** Index of this database in `pgstack:databases`, for config paths in messages. */
  index: number;
  server: ServerConfig;
  db: DatabaseConfig;
  adminPassword: pulumi.Output<string>;
  /** Secret passwords from config, by role name. */
  rolePasswords: Map<string, pulumi.Output<string>>;
  /** The migrations, loaded and parsed by the program. */
  migrations: Migration[];
  /** The pg_dump backup folder for this database, relative to the project. */
  backupDir: string;
  /** The project root (absolute): backups are written under it. */
  projectRoot: string;
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
  inventory: pulumi.Output<unknown>;
}

/** A PostgreSQL database managed by pgstack. */
export class PostgresDatabase extends pulumi.ComponentResource {
  /** The database: `postgresql.Database`, or pgstack's own under `provisioner: pgstack`. */
  readonly database: pulumi.CustomResource;
  readonly reset: DatabaseReset;
  readonly migrations: MigrationSet;
  readonly verification: SchemaVerification;
  /** The backup taken before each reset generation. */
  readonly backup: pulumi.CustomResource;
  readonly outputs: DatabaseOutputs;

  constructor(name: string, args: PostgresDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("pgstack:index:PostgresDatabase", name, {}, opts);
    const { db, server } = args;
    const at = `${CONFIG_NAMESPACE}:databases[${args.index}]`;

    const managed: ManagedSchema[] = db.schemas.map((s) => ({
      name: s,
      owner: db.owner,
      grants: db.grants
        .filter((g) => g.schema === s)
        .map((g) => ({ role: g.role, schema: g.schemaPrivileges, tables: g.tablePrivileges, sequences: g.sequencePrivileges })),
    }));
    const connectionTo = (database: string): ConnectionInput =>
      pulumi.secret({ host: server.host, port: server.port, user: server.adminUser, password: args.adminPassword, database, sslmode: server.sslmode });
    const connection = connectionTo(db.name);
    const passwordOf = (r: DatabaseConfig["roles"][number]): pulumi.Input<string> | undefined => {
      const configured = args.rolePasswords.get(r.name);
      if (configured) return configured;
      return r.login ? new GeneratedPassword(`${name}-${r.name}-password`, {}, { parent: this }).value : undefined;
    };

    const objects =
      server.provisioner === "postgresql"
        ? this.withPostgresqlProvider(name, args, passwordOf)
        : this.withPgstackProviders(name, args, passwordOf, connectionTo, managed);
    this.database = objects.database;
    this.backup = objects.backup;
    const lastBackup = objects.backupPath;
    const grants = objects.grants;

    this.reset = new DatabaseReset(
      `${name}-reset`,
      {
        connection,
        stack: args.stack,
        configPath: `${at}.reset`,
        generation: db.reset.generation,
        allowed: db.reset.allowed,
        acceptDataLoss: acceptsDataLoss(db),
        schemas: managed,
        backup: lastBackup,
      },
      { parent: this, dependsOn: [this.backup, ...grants], deletedWith: this.database },
    );

    this.migrations = new MigrationSet(
      `${name}-migrations`,
      {
        connection,
        role: db.owner,
        migrations: args.migrations.map((m) => ({ id: m.id, name: m.name, file: m.file, checksum: m.checksum, inTransaction: m.inTransaction, sql: m.sql })),
        resetGeneration: this.reset.generation,
      },
      { parent: this, dependsOn: [this.reset], deletedWith: this.database },
    );

    this.verification = new SchemaVerification(
      `${name}-verification`,
      { connection, schemas: db.schemas, expectations: expectationsOf(db), migrationHead: this.migrations.head },
      { parent: this, dependsOn: [this.migrations], deletedWith: this.database },
    );

    const inventory = this.verification.inventory;
    this.outputs = {
      tables: inventory.apply((tables) => {
        const bySchema: Record<string, string[]> = {};
        for (const t of tables) {
          const [schema = "", table = ""] = t.table.split(".");
          (bySchema[schema] ??= []).push(table);
        }
        for (const list of Object.values(bySchema)) list.sort();
        return bySchema;
      }),
      foreignKeys: inventory.apply((tables) =>
        tables
          .flatMap((t) => t.foreignKeys.map((fk) => `${t.table}.${fk.replace(/ on delete .*$/, "").replace(/ -> (\S+)\((.+)\)$/, " -> $1.$2")}`))
          .sort(),
      ),
      migrationHead: this.migrations.head,
      resetGeneration: this.reset.generation,
      lastBackup,
      fingerprint: this.verification.fingerprint,
      drift: this.verification.drift,
      inventory,
    };
    this.registerOutputs(this.outputs);
  }

  /** Roles, database, schemas and grants through the @pulumi/postgresql provider; backups through @pulumi/command. */
  private withPostgresqlProvider(name: string, args: PostgresDatabaseArgs, passwordOf: (r: DatabaseConfig["roles"][number]) => pulumi.Input<string> | undefined): ProvisionedObjects {
    const { db, server } = args;
    const provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: server.host,
        port: server.port,
        username: server.adminUser,
        password: args.adminPassword,
        sslmode: server.sslmode,
        superuser: true,
        database: "postgres",
        connectTimeout: 15,
      },
      { parent: this },
    );
    const withProvider = { parent: this, provider };
    const roles = db.roles.map((r) => {
      const password = passwordOf(r);
      return new postgresql.Role(`${name}-role-${r.name}`, { name: r.name, login: r.login, password: password ? pulumi.secret(password) : undefined }, withProvider);
    });
    // A stack that may not reset may not lose the database either: `pulumi destroy` stops here.
    const database = new postgresql.Database(name, { name: db.name, owner: db.owner }, { ...withProvider, dependsOn: roles, protect: !db.reset.allowed });
    // Everything inside the database goes with it: no drop of each schema or grant first.
    const inside = { ...withProvider, deletedWith: database };
    const schemas = db.schemas.map(
      (s) => new postgresql.Schema(`${name}-schema-${s}`, { name: s, database: database.name, owner: db.owner, ifNotExists: true }, { ...inside, dependsOn: [database] }),
    );
    const grants = db.grants.flatMap((g, j) => {
      const base = { database: database.name, role: g.role, schema: g.schema };
      const dependsOn = [...schemas, ...roles];
      const out: pulumi.CustomResource[] = [
        new postgresql.Grant(`${name}-grant-${j}-schema`, { ...base, objectType: "schema", privileges: g.schemaPrivileges }, { ...inside, dependsOn }),
      ];
      // Default privileges: migrations create the tables later, as the owner.
      if (g.tablePrivileges.length) {
        out.push(new postgresql.DefaultPrivileges(`${name}-grant-${j}-tables`, { ...base, owner: db.owner, objectType: "table", privileges: g.tablePrivileges }, { ...inside, dependsOn }));
      }
      if (g.sequencePrivileges.length) {
        out.push(new postgresql.DefaultPrivileges(`${name}-grant-${j}-sequences`, { ...base, owner: db.owner, objectType: "sequence", privileges: g.sequencePrivileges }, { ...inside, dependsOn }));
      }
      return out;
    });
    // A pg_dump before every generation change; its path is an output, so a rollback is a pg_restore.
    const backup = new command.local.Command(
      `${name}-backup`,
      {
        create: backupScript(args.backupDir, db.name, db.reset.generation),
        environment: { PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.adminUser, PGDATABASE: db.name, PGSSLMODE: server.sslmode, PGPASSWORD: args.adminPassword },
        triggers: [db.reset.generation],
      },
      { parent: this, dependsOn: [database, ...schemas, ...grants], deletedWith: database },
    );
    return { database, grants: [...schemas, ...grants], backup, backupPath: pulumi.unsecret(backup.stdout).apply((s) => s.trim()) };
  }

  /** The same objects through pgstack's own providers (no native plugins needed). */
  private withPgstackProviders(
    name: string,
    args: PostgresDatabaseArgs,
    passwordOf: (r: DatabaseConfig["roles"][number]) => pulumi.Input<string> | undefined,
    connectionTo: (database: string) => ConnectionInput,
    managed: ManagedSchema[],
  ): ProvisionedObjects {
    const { db } = args;
    const admin = connectionTo("postgres");
    const roles = db.roles.map((r) => {
      const password = passwordOf(r);
      return new PgRole(`${name}-role-${r.name}`, { connection: admin, name: r.name, login: r.login, ...(password ? { password: pulumi.secret(password) } : {}) }, { parent: this });
    });
    const database = new PgDatabase(name, { connection: admin, name: db.name, owner: db.owner }, { parent: this, dependsOn: roles, protect: !db.reset.allowed });
    const inside = { parent: this, deletedWith: database };
    // Each schema carries its grants and default privileges: one statement batch, one resource.
    const schemas = managed.map((s) => new PgSchema(`${name}-schema-${s.name}`, { connection: connectionTo(db.name), schema: s }, { ...inside, dependsOn: [database, ...roles] }));
    const backup = new PgBackup(
      `${name}-backup`,
      { connection: connectionTo(db.name), root: args.projectRoot, dir: args.backupDir, generation: db.reset.generation },
      { ...inside, dependsOn: [database, ...schemas] },
    );
    return { database, grants: schemas, backup, backupPath: backup.path };
  }
}

/** What a provisioning strategy declares for one database. */
interface ProvisionedObjects {
  database: pulumi.CustomResource;
  /** Schemas and grants: the reset runs after them. */
  grants: pulumi.CustomResource[];
  backup: pulumi.CustomResource;
  backupPath: pulumi.Output<string>;
}

/**
 * The backup command: `pg_dump -Fc` to `<dir>/<db>-g<generation>-<UTC time>.dump`; prints the
 * path. Connection settings come from PG* variables, so no secret is on the command line.
 */
export function backupScript(dir: string, database: string, generation: number): string {
  return [
    "set -eu",
    // Prefer Debian's versioned binary: /usr/bin/pg_dump is a wrapper that may pick another version.
    'PG_DUMP="${PGSTACK_PG_DUMP:-}"',
    'if [ -z "$PG_DUMP" ]; then for c in /usr/lib/postgresql/15/bin/pg_dump "$(command -v pg_dump || true)"; do if [ -x "$c" ]; then PG_DUMP="$c"; break; fi; done; fi',
    'if [ -z "$PG_DUMP" ]; then echo "pg_dump not found: install PostgreSQL client 15 or set PGSTACK_PG_DUMP" >&2; exit 1; fi',
    `mkdir -p '${dir}'`,
    `f='${dir}/${database}-g${generation}-'"$(date -u +%Y%m%dT%H%M%SZ)"'.dump'`,
    `"$PG_DUMP" -Fc --no-password -f "$f"`,
    'printf "%s" "$f"',
  ].join("\n");
}
