/** Reads the committed stack files, so tests check the config users actually run. */
import { readFileSync } from "node:fs";
import yaml from "js-yaml";

/** The raw `{ server, databases }` of `Pulumi.<stack>.yaml`. */
export function rawStackConfig(stack: string): { server: unknown; databases: unknown } {
  const doc = yaml.load(readFileSync(`Pulumi.${stack}.yaml`, "utf8")) as { config: Record<string, unknown> };
  return { server: doc.config["pgstack:server"], databases: doc.config["pgstack:databases"] };
}
