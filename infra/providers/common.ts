/**
 * What every pgstack provider shares: the progress logger, connections, value comparison and the
 * "provider code changed" check. No Pulumi import beyond its `unknownValue` marker type.
 */
import { createHash } from "node:crypto";
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

/**
 * How long an idle connection is kept for the next call. Short on purpose: calls of one
 * `up` on one database follow each other within milliseconds (reset → migrations →
 * verification), and an idle session held any longer could be in the way of a
 * `DROP DATABASE` or a reset.
 */
export const IDLE_CONNECTION_MS = 1_000;

/** Idle connections by target (host, port, user, database, password digest), at most one each. */
const idle = new Map<string, { client: pg.Client; timer: NodeJS.Timeout }>();
/** Connections opened by this process, for tests and the bench. */
export const connectionStats = { opened: 0, reused: 0 };

function targetKey(c: ConnectionOptions): string {
  return JSON.stringify([c.host, c.port, c.user, c.database, c.sslmode ?? "", c.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS, createHash("sha256").update(c.password ?? "").digest("hex")]);
}

/** A healthy idle client for `key`, taken out of the idle set, or undefined. */
function takeIdle(key: string): pg.Client | undefined {
  const entry = idle.get(key);
  if (!entry) return undefined;
  idle.delete(key);
  clearTimeout(entry.timer);
  const state = entry.client as unknown as { _ending?: boolean; _connected?: boolean; _queryable?: boolean };
  if (state._ending || state._queryable === false) {
    void entry.client.end().catch(() => undefined);
    return undefined;
  }
  return entry.client;
}

/** Keeps `client` for the next call on the same target for {@link IDLE_CONNECTION_MS}. */
function keepIdle(key: string, client: pg.Client): void {
  const previous = idle.get(key);
  if (previous) {
    clearTimeout(previous.timer);
    void previous.client.end().catch(() => undefined);
  }
  // unref: an idle connection never keeps the provider process alive.
  const timer = setTimeout(() => {
    if (idle.get(key)?.client === client) idle.delete(key);
    void client.end().catch(() => undefined);
  }, IDLE_CONNECTION_MS).unref();
  idle.set(key, { client, timer });
}

/**
 * Runs `fn` with an admin connection that shows as `pgstack (pulumi)` in pg_stat_activity. A
 * connection the previous call on the same target left idle (within {@link IDLE_CONNECTION_MS})
 * is reused; one whose call failed is closed, since its session state is unknown.
 */
export async function withConnection<T>(c: ConnectionOptions, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const key = targetKey(c);
  let client = takeIdle(key);
  if (client) connectionStats.reused++;
  else {
    client = await connect({ ...c, applicationName: "pgstack (pulumi)", statementTimeoutMs: c.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS });
    connectionStats.opened++;
  }
  let result: T;
  try {
    result = await fn(client);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  keepIdle(key, client);
  return result;
}

/** Closes every idle connection (tests; a host that wants to exit at once). */
export async function closeIdleConnections(): Promise<void> {
  const entries = [...idle.values()];
  idle.clear();
  for (const e of entries) clearTimeout(e.timer);
  await Promise.all(entries.map((e) => e.client.end().catch(() => undefined)));
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
  // An absent optional input stays absent: `undefined` cannot cross the provider's gRPC boundary.
  for (const k of keys) if (props[k] !== undefined) out[k] = props[k];
  return out;
}
