/** The one schema model, catalog reader and differ. */
export * from "./model.js";
export * from "./read.js";
export * from "./diff.js";
