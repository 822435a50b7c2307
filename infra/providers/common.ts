/**
 * What every pgstack provider shares: the progress logger, connections, value comparison and the
 * "provider code changed" check. No Pulumi import beyond its `unknownValue` marker type.
 */
import type pg from "pg";
import { connect, type ConnectionOptions, type Logger } from "../lifecycle/index.js";

/** Pulumi's `CheckFailure`, restated so the providers need no Pulumi import. */
export interface Failure {
  property: string;
  reason: string;
}

/** Pulumi's `DiffResult`, restated. */
export interface DiffResult {
  changes: boolean;
  replaces: string[];
  deleteBeforeReplace: boolean;
}

/** Where progress goes. The host wires it to Pulumi's log; tests capture it. */
export let logger: Logger = {
  info: (m) => process.stderr.write(`[pgstack] ${m}\n`),
  warn: (m) => process.stderr.write(`[pgstack] warning: ${m}\n`),
};

/** Replaces the progress logger (tests, or a host with a richer log). */
export function setLogger(l: Logger): void {
  logger = l;
}

/** pgstack's own queries (catalog reads, locks, the reset) give up after this; migrations set their own. */
export const STATEMENT_TIMEOUT_MS = 10 * 60_000;

/** Runs `fn` with a fresh admin connection that shows as `pgstack (pulumi)` in pg_stat_activity. */
export async function withConnection<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect({ ...c, applicationName: "pgstack (pulumi)", statementTimeoutMs: c.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS });
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * For `read` (refresh): runs `fn`, or returns undefined when the database itself is gone, so the
 * engine drops the resource from the state instead of failing the whole refresh.
 */
export async function readOrGone<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T | undefined> {
  try {
    return await withConnection(c, fn);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === "3D000") return undefined; // invalid_catalog_name
    throw err;
  }
}

/**
 * Deep equality by value. Why not JSON.stringify: the state stores objects with sorted keys, so
 * the old and new sides of a diff list the same keys in different orders.
 */
export function same(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "undefined";
}

/** The property Pulumi's dynamic-provider host keeps the serialized provider in. */
const PROVIDER_KEY = "__provider";

/**
 * True when the stored provider code differs from the program's. Pulumi runs the *stored* code
 * for `read` and `delete`, so an old closure (for example one that captured the absolute path of
 * another checkout) must be rewritten: reporting a change makes the next `up` update the resource
 * and store the new closure, and the change shows in the preview.
 */
export function providerChanged(olds: object, news: object): boolean {
  const before = (olds as Record<string, unknown>)[PROVIDER_KEY];
  const after = (news as Record<string, unknown>)[PROVIDER_KEY];
  return typeof before === "string" && typeof after === "string" && before !== after;
}

/** `check` for resources whose inputs need no validation beyond the config schema's. */
export async function acceptInputs<T>(_olds: unknown, news: T): Promise<{ inputs: T; failures: Failure[] }> {
  return { inputs: news, failures: [] };
}

/** Picks a resource's input properties out of its outputs, for `ReadResult.inputs`. */
export function inputsOf<T extends object, K extends readonly (keyof T)[]>(props: T, keys: K): Pick<T, K[number]> {
  const out = {} as Pick<T, K[number]>;
  for (const k of keys) out[k] = props[k];
  return out;
}
