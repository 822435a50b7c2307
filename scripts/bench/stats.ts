/** Small statistics and timing helpers shared by the bench modules. */
import * as v8 from "node:v8";
import * as vm from "node:vm";
import type pg from "pg";

/** Seconds since `started` (a performance.now() reading). */
export function since(started: number): number {
  return (performance.now() - started) / 1000;
}

/** Median; the mean of the middle two for an even count. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Median of per-round ratios `a[i] / b[i]`. Runs of one round sit next to each other in time,
 * so a noisy neighbour that slows a whole round cancels out; shown beside the ratio of medians.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, i) => x / (b[i] ?? Number.NaN)));
}

/** Rotates `xs` left by `by`: round r starts with a different contender. */
export function rotate<T>(xs: readonly T[], by: number): T[] {
  const k = by % xs.length;
  return [...xs.slice(k), ...xs.slice(0, k)];
}

/** Rounds to 4 decimals for the JSON line. */
export function r4(x: number): number {
  return Math.round(x * 10_000) / 10_000;
}

/**
 * A full garbage collection before each timed run, so one contender's garbage is not
 * collected on the next one's clock. `npm run bench` cannot pass --expose-gc, so it is
 * switched on at run time.
 */
export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as () => void;
  }
  gc();
}
let gc: (() => void) | undefined;

/** Quiets the machine before a timed run: garbage collected, dirty buffers flushed. */
export async function settle(admin: pg.Client): Promise<void> {
  collectGarbage();
  await admin.query("CHECKPOINT");
}

/** Progress goes to stderr, so stdout stays results only. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** One count from a one-row, one-column query. */
export async function count(client: pg.Client, sql: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(sql);
  return Number(rows[0]?.n ?? Number.NaN);
}

/** `met` or `MISSED`, for the report. */
export function verdict(ok: boolean): string {
  return ok ? "met" : "MISSED";
}
