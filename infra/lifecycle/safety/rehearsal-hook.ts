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
  try {
    const mod = (await import(specifier)) as { rehearse?: RehearseFn };
    return typeof mod.rehearse === "function" ? mod.rehearse : undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "MODULE_NOT_FOUND" || code === "ERR_MODULE_NOT_FOUND") return undefined;
    throw err;
  }
}
