/**
 * The Pulumi CLI's entry point (`main` in Pulumi.yaml): this project's own program, one consumer of
 * the pgstack library. It sits at the project root so the root is the working directory of the
 * program, the dynamic providers and the backup commands (Pulumi runs a program in its main
 * file's folder), and package.json's `exports` stay the library's.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { pgstackProgram } from "./infra/program.js";
import { profile } from "./infra/providers/common.js";

// PGSTACK_PROFILE: the program's process start to its modules loaded, then to its outputs.
const started = Math.round(performance.timeOrigin);
profile("program", "load", undefined, started);

// Pulumi exports the resolved object's keys as stack outputs: one per database.
export = pgstackProgram({ projectRoot: path.resolve(__dirname) })
  .finally(() => profile("program", "run", undefined, started))
  .catch((err: unknown) => {
    // A RunError prints as a plain message (no stack trace): these are user errors.
    throw new pulumi.RunError(err instanceof Error ? err.message : String(err));
  });
