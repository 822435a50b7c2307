/**
 * A stack as `npm run diff` needs it: its validated config (`Pulumi.<stack>.yaml`) and its admin
 * password (the embedded server's file, or the stack's secret read through the local backend).
 * The password is only ever held in memory, never printed.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import yaml from "js-yaml";
import { CONFIG_NAMESPACE, namespaceKeys, parseStackKeys, type DatabaseConfig, type StackConfig } from "../../infra/config.js";
import { readDevPassword } from "../../infra/devserver.js";
import { UsageError, type ConnectionOptions, type ManagedSchema } from "../../infra/lifecycle/index.js";
import { ensureToolchain, passphraseFile, pulumiEnv, workingStackFile } from "../pulumi-env.js";


/** A loaded stack. */
export interface DiffStack {
  name: string;
  config: StackConfig;
  /** The admin connection to one of its databases. */
  connection(database: string): ConnectionOptions;
}

/** Reads a secret config value of a stack through the Pulumi CLI and the local backend. */
export type SecretReader = (stack: string, key: string) => string;

/** The default {@link SecretReader}: `pulumi config get`, with the scripts' toolchain and local backend. */
export function pulumiSecretReader(projectRoot: string): SecretReader {
  let env: Record<string, string> | undefined;
  return (stack, key) => {
    env ??= pulumiEnv(ensureToolchain(), { backendDir: path.join(projectRoot, ".pgstack", "state"), passphraseFile: passphraseFile(path.join(projectRoot, ".pgstack")) });
    const r = spawnSync("pulumi", ["config", "get", `${CONFIG_NAMESPACE}:${key}`, "--stack", stack, "--config-file", workingStackFile(stack, projectRoot), "--non-interactive"], {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      encoding: "utf8",
    });
    if (r.status !== 0) {
      throw new UsageError(
        `stack "${stack}": cannot read the secret ${CONFIG_NAMESPACE}:${key} (${(r.stderr || r.error?.message || "").trim().split("\n")[0]})\n` +
          `  → set it with \`pulumi config set --secret ${key} <value> -s ${stack}\``,
      );
    }
    return r.stdout.replace(/\n$/, "");
  };
}

/** Loads `Pulumi.<stack>.yaml` from `projectRoot`, validated, and how to connect as its admin. */
export function loadDiffStack(projectRoot: string, stack: string, readSecret: SecretReader): DiffStack {
  const file = path.join(projectRoot, `Pulumi.${stack}.yaml`);
  if (!fs.existsSync(file)) throw new UsageError(`no stack "${stack}": ${path.relative(projectRoot, file)} does not exist`);
  const doc = (yaml.load(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const raw = doc.config ?? {};
  let config: StackConfig;
  try {
    config = parseStackKeys(namespaceKeys(raw), stack);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const s = config.server;
  const password = s.embedded ? readDevPassword(projectRoot, stack) : readSecret(stack, s.adminPasswordSecret);
  return {
    name: stack,
    config,
    connection: (database) => ({ host: s.host, port: s.port, user: s.adminUser, password, database, sslmode: s.sslmode, applicationName: "pgstack (diff)" }),
  };
}

/** The managed schemas with their grants, as the stack creates them (see the component). */
export function managedSchemas(db: DatabaseConfig): ManagedSchema[] {
  return db.schemas.map((s) => ({
    name: s,
    owner: db.owner,
    grants: db.grants
      .filter((g) => g.schema === s)
      .map((g) => ({ role: g.role, schema: g.schemaPrivileges, tables: g.tablePrivileges, sequences: g.sequencePrivileges })),
  }));
}
