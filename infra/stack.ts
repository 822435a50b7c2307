/**
 * Reads the stack's config once: the zod-validated settings plus the secrets they name. Every
 * problem, including a missing secret, is reported at once with its config path.
 */
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, parseStackConfig, type StackConfig } from "./config.js";
import { readDevPassword } from "./devserver.js";

/** The parsed stack: settings and secrets. */
export interface LoadedStack {
  stack: string;
  config: StackConfig;
  /** The admin password, as a secret. */
  adminPassword: pulumi.Output<string>;
  /** Role name → secret password, for roles that name a `passwordSecret`. */
  rolePasswords: Record<string, pulumi.Output<string>>;
}

/** Loads and validates the current stack's config. Throws {@link ConfigError} listing every problem. */
export function loadStack(projectRoot: string): LoadedStack {
  const stack = pulumi.getStack();
  const cfg = new pulumi.Config(CONFIG_NAMESPACE);
  const config = parseStackConfig({ server: cfg.getObject("server"), databases: cfg.getObject("databases"), safety: cfg.getObject("safety") }, stack);

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
  const rolePasswords: Record<string, pulumi.Output<string>> = {};
  config.databases.forEach((db, i) =>
    db.roles.forEach((r, j) => {
      if (r.passwordSecret) rolePasswords[r.name] = secret(r.passwordSecret, `${CONFIG_NAMESPACE}:databases[${i}].roles[${j}].passwordSecret`);
    }),
  );
  if (missing.length > 0) throw new ConfigError(stack, missing);
  return { stack, config, adminPassword, rolePasswords };
}
