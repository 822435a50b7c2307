/**
 * Who creates a managed schema. A managed schema (config `schemas`) that a migration creates
 * (`CREATE SCHEMA billing`) belongs to the migrations: nothing pre-creates it, or the migration
 * would fail with `schema "billing" already exists`. Every build that pre-creates the managed
 * schemas (the scratch builds, a fresh database, a reset) asks here which ones to leave out, and
 * whoever ran the migrations that create one gives it its owner and grants right after them.
 */
import { quoteIdent } from "./identifiers.js";
import { schemaDdl, type ManagedSchema } from "./reset.js";
import type { Migration } from "./source.js";
import { splitStatements } from "./sql.js";

/** A file that may create a schema (the parser decides): the others are not parsed. */
export const mayCreateSchema = (sql: string): boolean => /create\s+schema/i.test(sql);

/**
 * The schemas the migrations create (each `CREATE SCHEMA`, top-level). Call `loadSqlParser` first
 * when any file {@link mayCreateSchema}.
 */
export function schemasCreatedByMigrations(migrations: readonly Pick<Migration, "sql" | "file">[]): Set<string> {
  const out = new Set<string>();
  for (const m of migrations) {
    if (!mayCreateSchema(m.sql)) continue;
    for (const s of splitStatements(m.sql, m.file)) {
      const name = s.kind === "CreateSchemaStmt" ? s.node["schemaname"] : undefined;
      if (typeof name === "string") out.add(name);
    }
  }
  return out;
}

/** The managed schemas a build creates before the migrations run: those no migration creates. */
export function schemasToPrecreate<S extends { name: string }>(schemas: readonly S[], migrations: readonly Pick<Migration, "sql" | "file">[]): S[] {
  const created = schemasCreatedByMigrations(migrations);
  return schemas.filter((s) => !created.has(s.name));
}

/** The managed schemas these migrations create: a build gives them their owner and grants after running them. */
export function schemasCreatedBy<S extends { name: string }>(schemas: readonly S[], migrations: readonly Pick<Migration, "sql" | "file">[]): S[] {
  const created = schemasCreatedByMigrations(migrations);
  return schemas.filter((s) => created.has(s.name));
}

/**
 * The statements that give a managed schema the migrations just created its owner, schema grants
 * and default privileges ({@link schemaDdl}), and the table and sequence privileges on what those
 * migrations already created in it: default privileges reach only the objects created later.
 */
export function schemaDdlAfterMigrations(s: ManagedSchema): string[] {
  const schema = quoteIdent(s.name);
  const onExisting = s.grants.flatMap((g) => [
    ...(g.tables.length ? [`GRANT ${g.tables.join(", ")} ON ALL TABLES IN SCHEMA ${schema} TO ${quoteIdent(g.role)}`] : []),
    ...(g.sequences.length ? [`GRANT ${g.sequences.join(", ")} ON ALL SEQUENCES IN SCHEMA ${schema} TO ${quoteIdent(g.role)}`] : []),
  ]);
  return [...schemaDdl(s), ...onExisting];
}
