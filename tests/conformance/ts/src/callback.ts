/**
 * Conformance suite "callback" (requirements 4-1 .. 4-19): createCallback, then
 * await its promise.
 *
 * All of these run with an Event invocation; the validator sends the callback
 * results listed in each requirement's CallbackActions.
 */

import {
  CallbackError,
  CallbackTimeoutError,
  withDurableExecution,
  type DurableContext,
} from "@aws/durable-execution-sdk-js";

/** 4-1: a callback named after the input; returns its (raw) result. */
export const callback_4_1 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  return await promise;
});

/** 4-2: a callback named "approval". */
export const callback_4_2 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const [promise] = await context.createCallback("approval");
  return await promise;
});

/** 4-3: a callback with a 5 s timeout that nobody answers; the execution fails. */
export const callback_4_3 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { timeout: { seconds: 5 } });
  return await promise;
});

/** 4-4: a callback with a 5 s heartbeat timeout and no heartbeat; the execution fails. */
export const callback_4_4 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { heartbeatTimeout: { seconds: 5 } });
  return await promise;
});

/** 4-5: a 10 s heartbeat timeout kept alive by a heartbeat, then a success. */
export const callback_4_5 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { heartbeatTimeout: { seconds: 10 } });
  return await promise;
});

/** 4-6: the external system reports failure; uncaught, so the execution fails. */
export const callback_4_6 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  return await promise;
});

/** 4-7: create a callback, run a step, then await the (failing) callback. */
export const callback_4_7 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  await context.step("between-step", async () => "between");
  return await promise;
});

/** 4-8: callback with 5 s timeout, a step, then await; the callback times out. */
export const callback_4_8 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { timeout: { seconds: 5 } });
  await context.step("between-step", async () => "between");
  return await promise;
});

/** 4-9: callback, a 5 s wait, then await; the callback succeeds during the wait. */
export const callback_4_9 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  await context.wait({ seconds: 5 });
  return await promise;
});

/** 4-10: callback, a 5 s wait, then await; the callback fails during the wait. */
export const callback_4_10 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  await context.wait({ seconds: 5 });
  return await promise;
});

/** 4-11: callback with 3 s timeout, a 6 s wait, then await; it times out mid-wait. */
export const callback_4_11 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { timeout: { seconds: 3 } });
  await context.wait({ seconds: 6 });
  return await promise;
});

/** 4-12: await a callback, then a 2 s wait, then return the callback result. */
export const callback_4_12 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  const result = await promise;
  await context.wait({ seconds: 2 });
  return result;
});

/** 4-13: a failed callback is caught; a 2 s wait follows; returns the message. */
export const callback_4_13 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event);
  let message: string;
  try {
    message = await promise;
  } catch (error) {
    if (!(error instanceof CallbackError)) {
      throw error;
    }
    message = `callback failed: ${error.message}`;
  }
  await context.wait({ seconds: 2 });
  return message;
});

/** 4-14: a 3 s callback timeout is caught; a 2 s wait follows. */
export const callback_4_14 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback(event, { timeout: { seconds: 3 } });
  let message: string;
  try {
    message = await promise;
  } catch (error) {
    if (!(error instanceof CallbackTimeoutError)) {
      throw error;
    }
    message = `callback timed out: ${error.message}`;
  }
  await context.wait({ seconds: 2 });
  return message;
});

interface ReceivedMessage {
  id: string;
  message: string;
  timestamp: number;
}

/** 4-15: a custom deserializer builds a typed object, converting the timestamp. */
export const callback_4_15 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback<ReceivedMessage>(event, {
    serdes: {
      deserialize: async (data) => {
        if (data === undefined) {
          return undefined;
        }
        const raw = JSON.parse(data) as { id: string; message: string; timestamp: string };
        return {
          id: raw.id,
          message: raw.message,
          timestamp: Math.floor(Date.parse(raw.timestamp) / 1000),
        };
      },
    },
  });
  return { received: await promise };
});

/** 4-16: a custom deserializer reads the payload as a number. */
export const callback_4_16 = withDurableExecution(async (event: string, context: DurableContext) => {
  const [promise] = await context.createCallback<number>(event, {
    serdes: {
      deserialize: async (data) => (data === undefined ? undefined : Number(JSON.parse(data))),
    },
  });
  const count = await promise;
  return { count, doubled: count * 2 };
});

/** 4-17: create A, await A, then create B, await B. */
export const callback_4_17 = withDurableExecution(async (event: string[], context: DurableContext) => {
  const [promiseA] = await context.createCallback(event[0]);
  const a = await promiseA;
  const [promiseB] = await context.createCallback(event[1]);
  const b = await promiseB;
  return { a, b };
});

/** 4-18: create A and B, await A, then await B. */
export const callback_4_18 = withDurableExecution(async (event: string[], context: DurableContext) => {
  const [promiseA] = await context.createCallback(event[0]);
  const [promiseB] = await context.createCallback(event[1]);
  const a = await promiseA;
  const b = await promiseB;
  return { a, b };
});

/** 4-19: create A and B, await B first, then A. */
export const callback_4_19 = withDurableExecution(async (event: string[], context: DurableContext) => {
  const [promiseA] = await context.createCallback(event[0]);
  const [promiseB] = await context.createCallback(event[1]);
  const b = await promiseB;
  const a = await promiseA;
  return { a, b };
});
