/**
 * INTEGRATION HOOK for the rehearsal (issue 8, point 3), built separately in
 * `infra/lifecycle/rehearsal.ts`. Until that module exists, preview prints "rehearsal: not
 * available". The integrator may replace {@link loadRehearse} with a static import of `rehearse`.
 */
import type { ConnectionOptions } from "../connection.js";
import type { Migration } from "../source.js";

/** The rehearsal's signature, as `infra/lifecycle/rehearsal.ts` exports it. */
export type RehearseFn = (
  admin: ConnectionOptions,
  database: string,
  pending: Migration[],
  opts: { role: string; session?: { lockTimeout: string; statementTimeout: string }; rowLimit?: number; logger?: (msg: string) => void },
) => Promise<unknown>;

/** `rehearse` from `infra/lifecycle/rehearsal.ts`, or undefined while that module does not exist. */
export async function loadRehearse(): Promise<RehearseFn | undefined> {
  // A computed specifier: the type checker must not require the module to exist yet.
  const specifier = ["..", "rehearsal.js"].join("/");
  const missing = (err: unknown) => {
    const code = (err as { code?: string }).code;
    return (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") && String((err as Error).message).includes("rehearsal");
  };
  let mod: { rehearse?: RehearseFn } | undefined;
  // CommonJS `require` first (the provider host loads pgstack through tsx's require hook, which
  // maps `.js` to `.ts`), then a dynamic import (test runners that transform ES modules).
  try {
    mod = typeof require === "function" ? (require(specifier) as typeof mod) : undefined;
  } catch (err) {
    if (!missing(err)) throw err;
  }
  if (!mod) {
    try {
      mod = (await import(specifier)) as typeof mod;
    } catch (err) {
      if (!missing(err)) throw err;
      return undefined;
    }
  }
  return typeof mod?.rehearse === "function" ? mod.rehearse : undefined;
}
