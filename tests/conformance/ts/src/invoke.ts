/**
 * Conformance suite "invoke" (requirements 5-1 .. 5-16): chained invoke.
 *
 * The callers use ``context.invoke``; the targets they call are durable
 * functions of the same template (their names come from environment variables
 * the template sets, defaulting to the template's logical ids).
 */

import {
  InvokeError,
  withDurableExecution,
  type DurableContext,
  type DurablePromise,
  type InvokeConfig,
  type Serdes,
} from "@aws/durable-execution-sdk-js";

import { HandlerTestError } from "./support";

/** Near, but under, the 256 KB checkpoint limit. */
const LARGE_PAYLOAD_CHARS = 200_000;

function echoTarget(): string {
  return process.env.INVOKE_ECHO_TARGET || "InvokeEchoTarget";
}

function failTarget(): string {
  return process.env.INVOKE_FAIL_TARGET || "InvokeFailTarget";
}

function sizeTarget(): string {
  return process.env.INVOKE_SIZE_TARGET || "InvokeSizeTarget";
}

/**
 * ``context.invoke`` without a name, whatever the payload.
 *
 * The SDK tells its two call forms apart by the type of the second argument:
 * ``invoke(funcId, "text")`` would read as ``invoke(name, funcId)``. The
 * named form with no name avoids that for string payloads.
 */
function invokeUnnamed<I, O = unknown>(
  context: DurableContext,
  funcId: string,
  input: I,
  config?: InvokeConfig<I, O>,
): DurablePromise<O> {
  return context.invoke<I, O>(undefined as unknown as string, funcId, input, config);
}

// --- targets ------------------------------------------------------------------------

/** Target: returns its input unchanged. */
export const invoke_echo_target = withDurableExecution(async (event: unknown) => event);

/** Target: always fails. */
export const invoke_fail_target = withDurableExecution(async (): Promise<never> => {
  throw new HandlerTestError("invoked target failed on purpose");
});

/** Target: reports the size of what it received. */
export const invoke_size_target = withDurableExecution(async (event: unknown) => {
  return { length: JSON.stringify(event ?? null).length };
});

// --- callers ------------------------------------------------------------------------

/** 5-1: invoke the echo target with the input; returns its result. */
export const invoke_5_1 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), event);
});

interface NamedPayload {
  name: string;
  payload: unknown;
}

/** 5-2: a named invoke (name from the input). */
export const invoke_5_2 = withDurableExecution(async (event: NamedPayload, context: DurableContext) => {
  return context.invoke(event.name, echoTarget(), event.payload);
});

/** 5-3: the echo target returns a nested object unchanged. */
export const invoke_5_3 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), event);
});

/** 5-4: invoke with a null payload; the result is null. */
export const invoke_5_4 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), null);
});

/** 5-5: the target fails; InvokeError propagates and the execution fails. */
export const invoke_5_5 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, failTarget(), event);
});

/** 5-6: the target fails; the caller catches InvokeError and returns a fallback. */
export const invoke_5_6 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  try {
    return await invokeUnnamed(context, failTarget(), event);
  } catch (error) {
    if (!(error instanceof InvokeError)) {
      throw error;
    }
    return "fallback";
  }
});

/** 5-7: invoke with a payload near the size limit. */
export const invoke_5_7 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, sizeTarget(), { data: "x".repeat(LARGE_PAYLOAD_CHARS) });
});

interface TenantPayload {
  tenantId: string;
  payload: unknown;
}

/** 5-8: invoke with a tenant id. */
export const invoke_5_8 = withDurableExecution(async (event: TenantPayload, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), event.payload, { tenantId: event.tenantId });
});

/** 5-9: invoke, then a 1 s wait; replay returns the cached invoke result. */
export const invoke_5_9 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const result = await invokeUnnamed(context, echoTarget(), "cached");
  await context.wait({ seconds: 1 });
  return result;
});

/** 5-10: a failed invoke is caught, then a 1 s wait; replay re-throws from the cache. */
export const invoke_5_10 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  let result: unknown;
  try {
    result = await invokeUnnamed(context, failTarget(), event);
  } catch (error) {
    if (!(error instanceof InvokeError)) {
      throw error;
    }
    result = "caught";
  }
  await context.wait({ seconds: 1 });
  return result;
});

/** 5-11: a step, then invoke with the step's result. */
export const invoke_5_11 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const value = await context.step("produce", async () => "from-step");
  return invokeUnnamed(context, echoTarget(), value);
});

/** 5-12: invoke, then a step that processes the invoke result. */
export const invoke_5_12 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const result = await invokeUnnamed<string, string>(context, echoTarget(), "from-invoke");
  return context.step("process", async () => `processed:${result}`);
});

/** 5-13: invoke inside a child context. */
export const invoke_5_13 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.runInChildContext("invoke-child", async (child) => invokeUnnamed(child, echoTarget(), "in-child"));
});

/** 5-14: two sequential invokes of two targets. */
export const invoke_5_14 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const first = await invokeUnnamed(context, echoTarget(), "first");
  const second = await invokeUnnamed(context, sizeTarget(), first);
  return { first, second };
});

function upperTopLevel(value: unknown): unknown {
  if (typeof value === "string") {
    return value.toUpperCase();
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, typeof v === "string" ? v.toUpperCase() : v]),
    );
  }
  return value;
}

/** JSON, with string values upper-cased when serializing. */
const uppercaseStringSerdes: Serdes<unknown> = {
  serialize: async (value) => JSON.stringify(upperTopLevel(value ?? null)),
  deserialize: async (data) => (data === undefined ? undefined : JSON.parse(data)),
};

/** Reads the result's raw text upper-cased (no JSON decoding). */
const uppercaseRawResultSerdes: Serdes<string> = {
  serialize: async (value) => value,
  deserialize: async (data) => data?.toUpperCase(),
};

/** 5-15: a custom payload serdes transforms the outgoing payload. */
export const invoke_5_15 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), event, { payloadSerdes: uppercaseStringSerdes });
});

/**
 * 5-16: a custom result serdes upper-cases the raw result text.
 *
 * The echo target returns "hello" (JSON text ``"hello"``); the deserializer
 * upper-cases that raw text, so the handler returns the string ``"HELLO"``
 * including its quotes, which is what the requirement expects.
 */
export const invoke_5_16 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return invokeUnnamed(context, echoTarget(), event, { resultSerdes: uppercaseRawResultSerdes });
});
