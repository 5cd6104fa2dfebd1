/**
 * Conformance suite "wait_for_callback" (requirements 7-1 .. 7-15).
 *
 * The submitters only register the callback id; the validator completes the
 * callbacks as the requirements' CallbackActions say.
 */

import {
  CallbackError,
  CallbackTimeoutError,
  DurableContext,
  DurableLogger,
  withDurableExecution,
} from "@aws/durable-execution-sdk-js";
import { HandlerTestError, fixedRetry } from "./support";
import { plainJsonSerdes } from "./support_b";

type SubmitContext = { logger: DurableLogger };

/** Hand the callback id to "the external system" (the validator reads history). */
const submit = async (callbackId: string, submitContext: SubmitContext): Promise<void> => {
  submitContext.logger.info(`callback id registered: ${callbackId}`);
};

/** 7-1: one waitForCallback named after the input; returns the payload. */
export const wait_for_callback_7_1 = withDurableExecution(
  async (event: string, context: DurableContext) => context.waitForCallback(event, submit),
);

/** 7-2: one waitForCallback named "approval". */
export const wait_for_callback_7_2 = withDurableExecution(
  async (_event: unknown, context: DurableContext) => context.waitForCallback("approval", submit),
);

/** 7-3: an anonymous inline submitter and no name. */
export const wait_for_callback_7_3 = withDurableExecution(
  async (_event: unknown, context: DurableContext) => context.waitForCallback(async () => {}),
);

/** 7-4: the callback fails; uncaught, the execution fails. */
export const wait_for_callback_7_4 = withDurableExecution(
  async (event: string, context: DurableContext) => context.waitForCallback(event, submit),
);

/** 7-5: a 3 s timeout nobody meets; the execution fails. */
export const wait_for_callback_7_5 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    context.waitForCallback(event, submit, { timeout: { seconds: 3 } }),
);

/** 7-6: the callback fails; the handler catches it and returns "recovered". */
export const wait_for_callback_7_6 = withDurableExecution(
  async (event: string, context: DurableContext) => {
    try {
      return await context.waitForCallback(event, submit);
    } catch (error) {
      if (error instanceof CallbackError) return "recovered";
      throw error;
    }
  },
);

/** 7-7: the submitter always raises; 2 attempts 1 s apart, then the operation fails. */
export const wait_for_callback_7_7 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    context.waitForCallback(
      event,
      async () => {
        throw new HandlerTestError("submitter failed");
      },
      { retryStrategy: fixedRetry(2) },
    ),
);

/** 7-8: waitForCallback inside a child context named "wrapper". */
export const wait_for_callback_7_8 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    context.runInChildContext("wrapper", (child) => child.waitForCallback(event, submit)),
);

/** 7-9: two sequential waitForCallback operations, "first" then "second". */
export const wait_for_callback_7_9 = withDurableExecution(
  async (_event: unknown, context: DurableContext) => {
    await context.waitForCallback("first", submit);
    return context.waitForCallback("second", submit);
  },
);

/** 7-10: a 1 s wait, a top-level step, then waitForCallback. */
export const wait_for_callback_7_10 = withDurableExecution(
  async (event: string, context: DurableContext) => {
    await context.wait({ seconds: 1 });
    await context.step("prepare", async () => ({ fixed: "data" }));
    return context.waitForCallback(event, submit);
  },
);

/** 7-11: the payload is decoded as a JSON object; returns its "status". */
export const wait_for_callback_7_11 = withDurableExecution(
  async (event: string, context: DurableContext) => {
    const result = await context.waitForCallback<{ status: string }>(event, submit, {
      serdes: plainJsonSerdes<{ status: string }>(),
    });
    return result.status;
  },
);

/** 7-12: a 5 s heartbeat timeout with no heartbeat; the execution fails. */
export const wait_for_callback_7_12 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    context.waitForCallback(event, submit, { heartbeatTimeout: { seconds: 5 } }),
);

/** 7-13: a 10 s heartbeat timeout kept alive by a heartbeat, then success. */
export const wait_for_callback_7_13 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    context.waitForCallback(event, submit, { heartbeatTimeout: { seconds: 10 } }),
);

/** 7-14: a 3 s timeout, caught; returns "timed-out-handled". */
export const wait_for_callback_7_14 = withDurableExecution(
  async (event: string, context: DurableContext) => {
    try {
      return await context.waitForCallback(event, submit, { timeout: { seconds: 3 } });
    } catch (error) {
      if (error instanceof CallbackTimeoutError) return "timed-out-handled";
      throw error;
    }
  },
);

/** 7-15: success without a payload; returns null. */
export const wait_for_callback_7_15 = withDurableExecution(
  async (event: string, context: DurableContext) =>
    (await context.waitForCallback(event, submit)) ?? null,
);
