/** Conformance suite "wait" (requirements 2-1 .. 2-5). */

import { withDurableExecution, type DurableContext } from "@aws/durable-execution-sdk-js";

/** 2-1: a single 2 s wait. */
export const wait_2_1 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  await context.wait({ seconds: 2 });
  return { waited: 2 };
});

/** 2-2: a 2 s wait with an explicit name. */
export const wait_2_2 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  await context.wait("custom_wait_name", { seconds: 2 });
  return { waited: 2 };
});

/** 2-3: two sequential named waits, each suspending and resuming the execution. */
export const wait_2_3 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  await context.wait("wait-1", { seconds: 2 });
  await context.wait("wait-2", { seconds: 2 });
  return { completedWaits: 2 };
});

/** 2-4: a one-minute wait (Duration=60 in history). */
export const wait_2_4 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  await context.wait({ minutes: 1 });
  return { waited: 60 };
});

/** 2-5: a one-hour wait (Duration=3600 in history). */
export const wait_2_5 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  await context.wait({ hours: 1 });
  return { waited: 3600 };
});
