/**
 * What Pulumi's dynamic-provider host loads (`index.ts` names this file; the package exports it
 * as `pgstack/providers`): the handlers of `kinds.ts`. In a checkout, inside the host, they come
 * from one prebuilt bundle of `kinds.ts` when one matches the sources exactly (host-bundle.ts):
 * loading ~70 TypeScript modules through tsx on every preview costs about a second, the bundle a
 * fraction of that. Anywhere else (tests, the library's compiled JavaScript), `kinds.ts` itself.
 */
import type * as Kinds from "./kinds.js";
import { hostBundle, inProviderHost } from "./host-bundle.js";

export type { HandlerKind } from "./kinds.js";

function load(): typeof Kinds {
  const bundle = inProviderHost() ? hostBundle(__dirname) : undefined;
  // A plain require: the host is CommonJS, and the choice must be made before anything loads.
  return (bundle ? require(bundle) : require("./kinds.js")) as typeof Kinds;
}

/** The handlers by resource kind, as the provider closures look them up. */
export const handlers: typeof Kinds.handlers = load().handlers;
