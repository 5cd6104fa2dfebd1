/**
 * Conformance suite "wait_for_condition" (requirements 6-1 .. 6-13).
 *
 * Polls use a fixed 1 s delay without jitter unless the requirement names another.
 */

import {
  DurableContext,
  DurableOperationError,
  WaitForConditionConfig,
  withDurableExecution,
} from "@aws/durable-execution-sdk-js";
import { HandlerTestError, fixedPoll, prefixSerdes } from "./support";

const increment = async (state: number): Promise<number> => state + 1;

function pollUntil(threshold: number, initial = 0, delayS = 1): WaitForConditionConfig<number> {
  return { waitStrategy: fixedPoll<number>((s) => s < threshold, delayS), initialState: initial };
}

/** 6-1: count up from 0 until the counter reaches the input (3). */
export const wait_for_condition_6_1 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.waitForCondition(increment, pollUntil(Number(event))),
);

/** 6-2: initial state 5, unchanged by the check; the condition holds at once. */
export const wait_for_condition_6_2 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.waitForCondition(async (state: number) => state, {
      waitStrategy: fixedPoll<number>((s) => s < 5),
      initialState: Number(event),
    }),
);

/** 6-3: named "poll-status"; counts from 0 to 2. */
export const wait_for_condition_6_3 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.waitForCondition("poll-status", increment, pollUntil(Number(event))),
);

/** 6-4: initial state 5, counting up to the input (8). */
export const wait_for_condition_6_4 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.waitForCondition(increment, pollUntil(Number(event), 5)),
);

/** 6-5: a fixed 2 s delay between polls, counting from 0 to the input (3). */
export const wait_for_condition_6_5 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.waitForCondition(increment, pollUntil(Number(event), 0, 2)),
);

/** 6-6: the condition is never met; the strategy allows 3 attempts, then fails. */
export const wait_for_condition_6_6 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.waitForCondition(increment, {
      waitStrategy: fixedPoll<number>(() => true, 1, 3),
      initialState: 0,
    }),
);

const failingCheck = async (_state: number): Promise<number> => {
  throw new HandlerTestError("condition check failed");
};

/** 6-7: the check raises on its first call; uncaught, the execution fails. */
export const wait_for_condition_6_7 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.waitForCondition(failingCheck, pollUntil(1)),
);

/**
 * 6-8: the check raises; the handler catches the operation's failure and returns
 * "recovered". The SDK reports a failed check as a StepError; catching
 * DurableOperationError covers it and WaitForConditionError alike.
 */
export const wait_for_condition_6_8 = withDurableExecution(
  async (_event: unknown, context: DurableContext): Promise<number | string> => {
    try {
      return await context.waitForCondition(failingCheck, pollUntil(1));
    } catch (error) {
      if (error instanceof DurableOperationError) return "recovered";
      throw error;
    }
  },
);

interface Progress {
  status: "PENDING" | "DONE";
  attempts: number;
}

/** 6-9: the state is an object {status, attempts}; DONE once attempts reaches 2. */
export const wait_for_condition_6_9 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.waitForCondition(
      async (state: Progress): Promise<Progress> => {
        const attempts = state.attempts + 1;
        return { status: attempts >= 2 ? "DONE" : "PENDING", attempts };
      },
      {
        waitStrategy: fixedPoll<Progress>((s) => s.status === "PENDING"),
        initialState: { status: "PENDING", attempts: 0 },
      },
    ),
);

/** 6-10: the check returns null and the strategy stops at once. */
export const wait_for_condition_6_10 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.waitForCondition(async (_state: null): Promise<null> => null, {
      waitStrategy: () => ({ shouldContinue: false }),
      initialState: null,
    }),
);

/** 6-11: a custom serdes for a string state; appends "x" until the length is 2. */
export const wait_for_condition_6_11 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.waitForCondition(async (state: string) => `${state}x`, {
      waitStrategy: fixedPoll<string>((s) => s.length < 2),
      initialState: "",
      serdes: prefixSerdes("encoded:"),
    }),
);

/** 6-12: the final state (2) feeds a step multiplying it by 10. */
export const wait_for_condition_6_12 = withDurableExecution(
  async (event: unknown, context: DurableContext) => {
    const final = await context.waitForCondition(increment, pollUntil(Number(event)));
    return context.step("multiply", async () => final * 10);
  },
);

/** 6-13: two sequential polls; the first (0 -> 2) seeds the second (2 -> 4). */
export const wait_for_condition_6_13 = withDurableExecution(
  async (_event: unknown, context: DurableContext) => {
    const first = await context.waitForCondition(increment, pollUntil(2));
    return context.waitForCondition(increment, pollUntil(4, first));
  },
);
