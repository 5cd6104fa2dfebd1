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

export * from "./wait_for_condition";
export * from "./wait_for_callback";
export * from "./parallel";
export * from "./map";
export * from "./plugin";
