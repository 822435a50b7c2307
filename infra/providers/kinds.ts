/**
 * pgstack's provider logic by resource kind: Pulumi's check/diff/create/read/update/delete turned
 * into calls to the lifecycle core. Loaded inside Pulumi's dynamic-provider host through
 * `handlers.ts` (see `index.ts`), and called directly by the provider tests.
 */
import { guard } from "./guard.js";
import { membership } from "./membership.js";
import { migrations } from "./migrations.js";
import { password } from "./password.js";
import { everyDeploy } from "./every-deploy.js";
import { reset } from "./reset.js";
import { safety } from "./safety.js";
import { verification } from "./verification.js";

export { same, setLogger, providerChanged, type Failure } from "./common.js";
export { guard, existingObjectsError, existingObjects, type GuardInputs, type GuardedObject, type VersionNeed } from "./guard.js";
export { migrations, type MigrationInput, type MigrationSetInputs, type MigrationSetOutputs } from "./migrations.js";
export { password } from "./password.js";
export { membership, type MembershipInputs, type MembershipOutputs } from "./membership.js";
export { reset, type ResetInputs, type ResetOutputs } from "./reset.js";
export { everyDeploy, type EveryDeployInputs, type EveryDeployOutputs } from "./every-deploy.js";
export { safety, type SafetyInputs, type SafetyState } from "./safety.js";
export { verification, type VerificationInputs, type VerificationOutputs } from "./verification.js";
export { driftBeforeUp, measureDrift } from "./drift.js";

/** The handlers by resource kind, as the provider closures look them up. */
export const handlers = { reset, migrations, verification, password, guard, everyDeploy, safety, membership };
export type HandlerKind = keyof typeof handlers;
