/**
 * Pulumi's entry point (`main` in Pulumi.yaml): loads the program, `index.ts`, through tsx.
 *
 * Why not `nodeargs: --import tsx`: tsx's hooks then see every module the process loads, and
 * the Pulumi SDKs alone are several hundred files (about 1 s more per `pulumi preview` or `up`
 * on a 2-core machine, measured with `node -e "require('@pulumi/pulumi')"` with and without
 * them). So the SDKs load first, natively, and tsx is registered after them, for the project's
 * own TypeScript. Nothing else changes: the same files, the same tsx, the same program folder.
 */
"use strict";
for (const sdk of ["@pulumi/pulumi", "@pulumi/postgresql", "@pulumi/command"]) require(sdk);
// Pulumi's runner installs source-map-support for its own ts-node. On tsx's output it maps
// nothing: an error in a .ts file, and the source position Pulumi records for each resource,
// named the transpiled position (`x.ts:2:858`, not `x.ts:4:9`). tsx turns on Node's own source
// maps, which give the TypeScript lines, and format the SDK's many stacks (one per resource and
// per promise) in less time: the formatting is left to Node.
Error.prepareStackTrace = undefined;
require("tsx/cjs/api").register();
module.exports = require("./index.ts");
