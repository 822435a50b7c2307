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
require("tsx/cjs/api").register();
module.exports = require("./index.ts");
