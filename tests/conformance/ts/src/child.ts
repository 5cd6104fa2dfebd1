/** Conformance suite "child" (requirements 3-1 .. 3-18): runInChildContext. */

import {
  ChildContextError,
  withDurableExecution,
  type DurableContext,
} from "@aws/durable-execution-sdk-js";

import {
  HandlerTestError,
  crashProcess,
  firstTime,
  fixedRetry,
  noRetry,
  uppercaseRawSerdes,
} from "./support";

/** Over the SDK's 256 KB checkpoint limit. */
const LARGE_RESULT_BYTES = 300 * 1024;

/** How long a crashing step lets the SDK's queued checkpoints reach the backend. */
const CHECKPOINT_SETTLE_MS = 1000;

/** 3-1: a child context holding one step that returns the input. */
export const child_3_1 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.runInChildContext(async (child) => child.step(async () => event));
});

interface NamedValue {
  name: string;
  value: unknown;
}

/** 3-2: a child context named after input.name whose step returns input.value. */
export const child_3_2 = withDurableExecution(async (event: NamedValue, context: DurableContext) => {
  const value = event.value;
  return context.runInChildContext(event.name, async (child) => child.step(async () => value));
});

/** 3-3: two sequential steps in a child context; the second gets the first's result. */
export const child_3_3 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.runInChildContext("sequential-steps", async (child) => {
    const first = await child.step("first", async () => event);
    return child.step("second", async () => first);
  });
});

/** 3-4: the step inside a child context fails (no retry); the execution fails. */
export const child_3_4 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.runInChildContext("failing-child", async (child) =>
    child.step(async (): Promise<string> => {
      throw new HandlerTestError("step inside child failed");
    }, noRetry<string>()),
  );
});

/** 3-5: a failed child context is caught by the parent, which runs a recovery step. */
export const child_3_5 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  try {
    await context.runInChildContext(async (child) =>
      child.step(async (): Promise<string> => {
        throw new HandlerTestError("step inside child failed");
      }, noRetry<string>()),
    );
  } catch (error) {
    if (!(error instanceof ChildContextError)) {
      throw error;
    }
  }
  return context.step("recovery", async () => event);
});

/** 3-6: nested child contexts, each with a step. */
export const child_3_6 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.runInChildContext("outer", async (outer) => {
    await outer.step("outer-step", async () => event);
    return outer.runInChildContext("inner", async (inner) => inner.step("inner-step", async () => event));
  });
});

/** 3-7: a step in a child context fails once, then succeeds after a 1 s retry. */
export const child_3_7 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.runInChildContext("retrying-child", async (child) =>
    child.step(
      async (stepContext) => {
        if (stepContext.attempt < 2) {
          throw new HandlerTestError("first attempt fails");
        }
        return event;
      },
      { retryStrategy: fixedRetry(3) },
    ),
  );
});

/** 3-8: a step in a child context always fails; 2 attempts, then the child fails. */
export const child_3_8 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.runInChildContext("exhausting-child", async (child) =>
    child.step(
      async (stepContext): Promise<string> => {
        throw new HandlerTestError(`attempt ${stepContext.attempt} failed`);
      },
      { retryStrategy: fixedRetry(2) },
    ),
  );
});

/** 3-9: a child context then a wait; replay returns the child's cached result. */
export const child_3_9 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const result = await context.runInChildContext(async (child) => child.step(async () => event));
  await context.wait({ seconds: 1 });
  return result;
});

/** 3-10: a step followed by a wait inside a child context. */
export const child_3_10 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.runInChildContext("step-and-wait", async (child) => {
    await child.step("inner-step", async () => event);
    await child.wait({ seconds: 1 });
    return event;
  });
});

/**
 * 3-11: a child context whose result is over 256 KB (ReplayChildren), then a wait.
 *
 * The body logs with replay logging enabled (mode-aware logging off), so its
 * re-execution on replay is visible in the logs.
 */
export const child_3_11 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const large = await context.runInChildContext("large-result", async (child) => {
    child.configureLogger({ modeAware: false });
    child.logger.info(`large child context body running for ${event}`);
    const seed = await child.step("small-step", async () => "x");
    return seed.repeat(LARGE_RESULT_BYTES);
  });
  await context.wait({ seconds: 1 });
  return { length: large.length };
});

/**
 * 3-12: the process crashes inside a child context's step after StepStarted.
 *
 * The next invocation re-runs the (at-least-once) step, which then succeeds.
 */
export const child_3_12 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const arn = context.executionContext.durableExecutionArn;
  return context.runInChildContext(async (child) =>
    child.step(async () => {
      if (firstTime(arn, "3-12")) {
        // The SDK queues an at-least-once step's START without awaiting it.
        await crashProcess(CHECKPOINT_SETTLE_MS);
      }
      return event;
    }),
  );
});

/** 3-13: a child context holding only a wait, then a step outside it. */
export const child_3_13 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  await context.runInChildContext("wait-only", async (child) => {
    await child.wait({ seconds: 1 });
    return event;
  });
  return context.step("after-child", async () => event);
});

/** 3-14: a child context whose serdes stores the result as upper-cased raw text. */
export const child_3_14 = withDurableExecution(async (event: string, context: DurableContext) => {
  return context.runInChildContext(
    "uppercase-child",
    async (child) => child.step(async () => event),
    { serdes: uppercaseRawSerdes },
  );
});

/** 3-15: the child body throws directly, without any durable operation. */
export const child_3_15 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.runInChildContext("raising-child", async (): Promise<string> => {
    throw new HandlerTestError("child body failed");
  });
});

/** 3-16: the child body returns null without any durable operation. */
export const child_3_16 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.runInChildContext("null-child", async () => null);
});

/**
 * 3-17: a child body that only logs, then a wait; replay must not re-run the body.
 *
 * It logs with replay logging enabled (mode-aware logging off), so a
 * re-execution on replay would show up as a second log line.
 */
export const child_3_17 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const result = await context.runInChildContext("logging-child", async (child) => {
    child.configureLogger({ modeAware: false });
    child.logger.info(`child context body running for ${event}`);
    return event;
  });
  await context.wait({ seconds: 1 });
  return result;
});

/** 3-18: step + wait inside a child context, then step + wait after it. */
export const child_3_18 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  await context.runInChildContext("mixed-child", async (child) => {
    await child.step("inner-step", async () => event);
    await child.wait({ seconds: 1 });
    return event;
  });
  const result = await context.step("outer-step", async () => event);
  await context.wait({ seconds: 1 });
  return result;
});
