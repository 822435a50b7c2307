/** The Pulumi CLI's entry point (`main` in Pulumi.yaml): the pgstack program for this project. */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { pgstackProgram } from "./program.js";
import { profile } from "./providers/common.js";

// PGSTACK_PROFILE: the program's process start to its modules loaded, then to its outputs.
const started = Math.round(performance.timeOrigin);
profile("program", "load", undefined, started);

// Pulumi exports the resolved object's keys as stack outputs: one per database.
export = pgstackProgram({ projectRoot: path.resolve(__dirname, "..") })
  .finally(() => profile("program", "run", undefined, started))
  .catch((err: unknown) => {
    // A RunError prints as a plain message (no stack trace): these are user errors.
    throw new pulumi.RunError(err instanceof Error ? err.message : String(err));
  });
