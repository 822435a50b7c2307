/** Reads the committed stack files, so tests check the config users actually run. */
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

/** The raw `{ server, databases }` of `Pulumi.<stack>.yaml`. */
export function rawStackConfig(stack: string): { server: unknown; databases: unknown } {
  const doc = yaml.load(readFileSync(`Pulumi.${stack}.yaml`, "utf8")) as { config: Record<string, unknown> };
  return { server: doc.config["pgstack:server"], databases: doc.config["pgstack:databases"] };
}

/** A stack's databases with every database and role name suffixed, so stacks can share one server. */
export function renamedDatabases(stack: string, suffix: string): Record<string, unknown>[] {
  const dbs = structuredClone(rawStackConfig(stack).databases) as {
    name: string;
    owner: string;
    migrations?: string;
    roles: { name: string; passwordSecret?: string }[];
    grants: { role: string }[];
  }[];
  for (const db of dbs) {
    db.migrations = `migrations/${db.name}`;
    db.name = `${db.name}${suffix}`;
    db.owner = `${db.owner}${suffix}`;
    for (const r of db.roles) {
      r.name = `${r.name}${suffix}`;
      delete r.passwordSecret;
    }
    for (const g of db.grants) g.role = `${g.role}${suffix}`;
  }
  return dbs;
}
