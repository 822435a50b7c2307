/**
 * Reads the stack's config once: the zod-validated settings plus the secrets they name. Every
 * problem, including a missing secret, is reported at once with its config path.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, namespaceKeys, parseStackKeys, type StackConfig } from "./config.js";
import { readDevPassword } from "./devserver.js";

/** The parsed stack: settings and secrets. */
export interface LoadedStack {
  stack: string;
  config: StackConfig;
  /** The admin password, as a secret. */
  adminPassword: pulumi.Output<string>;
  /** Role name → secret password, for roles that name a `passwordSecret`. */
  rolePasswords: Map<string, pulumi.Output<string>>;
  /** The CA certificate (`sslrootcert` or `sslrootcertSecret`), when the config gives one. */
  rootCert?: RootCert;
}

/**
 * The server's CA certificate, as each client takes it: the PEM text for pg (inside the secret
 * connection of the dynamic providers), and a file, relative to the project, for the postgresql
 * provider (`sslrootcert`) and pg_dump (`PGSSLROOTCERT`), which read it from disk.
 */
export interface RootCert {
  pem: pulumi.Output<string>;
  file: pulumi.Output<string>;
}

/** Where a CA given as a secret is written for the clients that read a file (mode 0600, git-ignored). */
export function secretCertFile(stack: string, key: string): string {
  return path.join(".pgstack", "tls", `${stack}-${key}.pem`);
}

/** The problem with a PEM text, or undefined when it holds a certificate. */
function pemProblem(text: string): string | undefined {
  return /-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(text) ? undefined : "holds no PEM certificate (-----BEGIN CERTIFICATE----- … -----END CERTIFICATE-----)";
}

/** Loads and validates the current stack's config. Throws {@link ConfigError} listing every problem. */
export function loadStack(projectRoot: string): LoadedStack {
  const stack = pulumi.getStack();
  const cfg = new pulumi.Config(CONFIG_NAMESPACE);
  // Every key of the namespace, so a misspelt one is refused instead of ignored; objects parsed
  // by Pulumi's own reader, the rest (secrets, unknown keys) only named.
  const keys = Object.fromEntries(
    Object.keys(namespaceKeys(pulumi.runtime.allConfig())).map((k) => [k, ["server", "databases", "safety"].includes(k) ? cfg.getObject(k) : true]),
  );
  const config = parseStackKeys(keys, stack);

  const missing: string[] = [];
  const secret = (key: string, path: string): pulumi.Output<string> => {
    const value = cfg.getSecret(key);
    if (value === undefined) {
      missing.push(
        `${path}: the secret "${CONFIG_NAMESPACE}:${key}" is not set; run \`pulumi config set --secret ${key} <value> -s ${stack}\``,
      );
      return pulumi.secret("");
    }
    return value;
  };

  const adminPassword = config.server.embedded
    ? pulumi.secret(readDevPassword(projectRoot, stack))
    : secret(config.server.adminPasswordSecret, `${CONFIG_NAMESPACE}:server.adminPasswordSecret`);
  const rolePasswords = new Map<string, pulumi.Output<string>>();
  config.databases.forEach((db, i) =>
    db.roles.forEach((r, j) => {
      if (r.passwordSecret) rolePasswords.set(r.name, secret(r.passwordSecret, `${CONFIG_NAMESPACE}:databases[${i}].roles[${j}].passwordSecret`));
    }),
  );
  const rootCert = readRootCert(projectRoot, stack, config, secret, missing);
  if (missing.length > 0) throw new ConfigError(stack, missing);
  return { stack, config, adminPassword, rolePasswords, ...(rootCert ? { rootCert } : {}) };
}

/** The CA certificate from `sslrootcert` (a file) or `sslrootcertSecret` (a secret written to a 0600 file); problems go to `problems`. */
function readRootCert(projectRoot: string, stack: string, config: StackConfig, secret: (key: string, path: string) => pulumi.Output<string>, problems: string[]): RootCert | undefined {
  const { sslrootcert, sslrootcertSecret } = config.server;
  if (sslrootcert !== undefined) {
    const at = `${CONFIG_NAMESPACE}:server.sslrootcert`;
    const full = path.resolve(projectRoot, sslrootcert);
    if (!fs.existsSync(full)) {
      problems.push(`${at}: the file "${sslrootcert}" does not exist (paths are relative to the project folder); give the CA certificate file of the server, or use sslrootcertSecret`);
      return undefined;
    }
    const text = fs.readFileSync(full, "utf8");
    const problem = pemProblem(text);
    if (problem) problems.push(`${at}: the file "${sslrootcert}" ${problem}`);
    // The file as written in the config: the provider and pg_dump run in the project folder.
    return { pem: pulumi.output(text), file: pulumi.output(sslrootcert) };
  }
  if (sslrootcertSecret === undefined) return undefined;
  const at = `${CONFIG_NAMESPACE}:server.sslrootcertSecret`;
  const pem = secret(sslrootcertSecret, at);
  const file = secretCertFile(stack, sslrootcertSecret);
  const written = pem.apply((text) => {
    const problem = pemProblem(text);
    if (problem) throw new ConfigError(stack, [`${at}: the secret ${CONFIG_NAMESPACE}:${sslrootcertSecret} ${problem}`]);
    fs.mkdirSync(path.join(projectRoot, path.dirname(file)), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(projectRoot, file), text, { mode: 0o600 });
    fs.chmodSync(path.join(projectRoot, file), 0o600);
    return file;
  });
  // The path is no secret; the PEM stays one (inside the connection, and in the file only).
  return { pem, file: pulumi.unsecret(written) };
}
