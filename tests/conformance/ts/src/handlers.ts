/**
 * The single entry point of the TypeScript conformance handlers: every handler
 * the template names (``Handler: handlers.<export>``) is re-exported here, so
 * one esbuild bundle serves every function.
 */

export * from "./step";
export * from "./wait";
export * from "./child";
export * from "./callback";
export * from "./invoke";

// Suites 6 .. 10 (wait_for_condition, wait_for_callback, parallel, map, plugin):
// one `export * from "./<suite>";` line each, below.
