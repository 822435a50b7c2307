/** The one schema model, catalog reader and differ, and the objects pgstack knows. */
export * from "./model.js";
export * from "./known.js";
export * from "./read.js";
export * from "./diff.js";
