/** The Pulumi CLI's entry point (`main` in Pulumi.yaml): the pgstack program for this project. */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { pgstackProgram } from "./program.js";

// Pulumi exports the resolved object's keys as stack outputs: one per database.
export = pgstackProgram({ projectRoot: path.resolve(__dirname, "..") }).catch((err: unknown) => {
  // A RunError prints as a plain message (no stack trace): these are user errors.
  throw new pulumi.RunError(err instanceof Error ? err.message : String(err));
});
