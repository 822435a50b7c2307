/**
 * What every pgstack provider shares: the typed provider shape and its error boundary, the
 * progress logger, connections, value comparison and the "provider code changed" check. Pulumi
 * is imported for its types only: the providers run no Pulumi code.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type pg from "pg";
import type * as pulumi from "@pulumi/pulumi";
import { connect, toPgstackError, type ConnectionOptions, type Logger, type PgstackError } from "../lifecycle/index.js";

/** Pulumi's `CheckFailure`. */
export type Failure = pulumi.dynamic.CheckFailure;

/** Pulumi's `DiffResult`, every field set. */
export type DiffResult = Required<Pick<pulumi.dynamic.DiffResult, "changes" | "replaces" | "deleteBeforeReplace">>;

/** What `read` returns: the live properties and, so a refresh causes no spurious diff, the inputs. Empty when the object is gone. */
export type ReadResult<Inputs, Outputs> = { id: string; props: Outputs; inputs: Inputs } | { id?: undefined; props?: undefined; inputs?: undefined };

/**
 * One dynamic provider, typed: Pulumi's `dynamic.ResourceProvider<Inputs, Outputs>` with every
 * method, and one more type, `Args`, for what the program passes to `check`: a `check` that
 * reshapes its inputs (MigrationSafety keeps names and checksums only) cannot be typed by the
 * SDK's `check(olds: Inputs, news: Inputs)`. `Args` is what the resource class in `index.ts`
 * takes (through {@link ArgsOf}), so the two sides are declared once.
 */
export interface Provider<Args, Inputs = Args, Outputs = Inputs> {
  check(olds: Partial<Inputs> | undefined, news: Args): Promise<{ inputs: Inputs; failures: Failure[] }>;
  diff(id: string, olds: Outputs, news: Inputs): Promise<DiffResult>;
  create(inputs: Inputs): Promise<{ id: string; outs: Outputs }>;
  read(id: string, props: Outputs): Promise<ReadResult<Inputs, Outputs>>;
  update(id: string, olds: Outputs, news: Inputs): Promise<{ outs: Outputs }>;
  delete(id: string, props: Outputs): Promise<void>;
}

/** The database a provider call is about, for messages (inputs name it in their connection). */
function databaseOf(value: unknown): string | undefined {
  const connection = (value as { connection?: { database?: unknown } } | undefined)?.connection;
  return typeof connection?.database === "string" ? connection.database : undefined;
}

/**
 * The error as the engine gets it: the {@link PgstackError} itself (its message is what the
 * resource's error shows), made fit for the host's log. Pulumi's provider host also prints
 * `${err}: ${err.stack}` for diff, read and delete: that line becomes `[pgstack] <where>: <the
 * message's first line>`, not a stack trace. (An internal error keeps its cause's stack in `cause`.)
 */
function forEngine(err: PgstackError, where: string): PgstackError {
  err.stack = err.message.split("\n")[0] ?? "";
  err.toString = () => `[pgstack] ${where}`;
  return err;
}

/**
 * The one error boundary of the providers: whatever a method throws reaches the user as a
 * {@link PgstackError}'s message (an unexpected error as an internal one), with no stack trace.
 * `check` turns it into a failure without a property name, so the refusal shows in `preview`
 * and the engine prints no property value before it.
 */
export function defineProvider<Args, Inputs, Outputs>(kind: string, p: Provider<Args, Inputs, Outputs>): Provider<Args, Inputs, Outputs> {
  const where = (method: string, value: unknown) => {
    const db = databaseOf(value);
    return `${kind}.${method}${db ? ` on database "${db}"` : ""}`;
  };
  const guarded =
    <A extends unknown[], R>(method: string, fn: (...args: A) => Promise<R>, subject: (...args: A) => unknown) =>
    async (...args: A): Promise<R> => {
      const started = Date.now();
      try {
        return await fn(...args);
      } catch (err) {
        const at = where(method, subject(...args));
        throw forEngine(toPgstackError(err, at), at);
      } finally {
        profile(kind, method, subject(...args), started);
      }
    };
  return {
    async check(olds, news) {
      const started = Date.now();
      try {
        return await p.check(olds, news);
      } catch (err) {
        // With a failure the engine stops at this resource and keeps no inputs: the program's stand in.
        return { inputs: news as unknown as Inputs, failures: [{ property: "", reason: toPgstackError(err, where("check", news)).message }] };
      } finally {
        profile(kind, "check", news, started);
      }
    },
    diff: guarded("diff", p.diff, (_id, _olds, news) => news),
    create: guarded("create", p.create, (inputs) => inputs),
    read: guarded("read", p.read, (_id, props) => props),
    update: guarded("update", p.update, (_id, _olds, news) => news),
    delete: guarded("delete", p.delete, (_id, props) => props),
  };
}

/**
 * `PGSTACK_PROFILE=<file>`: one JSON line per provider call (start in ms since 1970, duration,
 * process, kind, method, database) appended to that file, to see where a preview's time goes.
 * Off by default; it writes no inputs, so no secret.
 */
export function profile(kind: string, method: string, subject: unknown, started: number): void {
  const file = process.env["PGSTACK_PROFILE"];
  if (!file) return;
  const line = { start: started, ms: Date.now() - started, pid: process.pid, kind, method, database: databaseOf(subject) ?? null };
  try {
    fs.appendFileSync(file, `${JSON.stringify(line)}\n`);
  } catch {
    // a profile must never fail a call
  }
}

/**
 * The arguments of a resource class: the provider's `Args`, each property a `pulumi.Input`, down
 * to nested objects and arrays (the program passes Outputs inside the connection, for example).
 */
export type ArgsOf<T> = { [K in keyof T]: InputOf<T[K]> };
/** One value as a `pulumi.Input`, nested objects and arrays included. */
export type InputOf<T> = undefined extends T
  ? InputOf<Exclude<T, undefined>> | undefined
  : [T] extends [string | number | boolean | null]
    ? pulumi.Input<T>
    : [T] extends [readonly (infer E)[]]
      ? pulumi.Input<readonly InputOf<E>[]>
      : [T] extends [object]
        ? pulumi.Input<{ [K in keyof T]: InputOf<T[K]> }>
        : pulumi.Input<T>;

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
