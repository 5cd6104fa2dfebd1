/**
 * Conformance suite "step" (requirements 1-1 .. 1-20).
 *
 * Each handler is written from the prose of its requirement; the export name
 * carries the requirement id (``step_1_1`` is requirement 1-1).
 */

import {
  StepError,
  StepSemantics,
  withDurableExecution,
  type DurableContext,
  type RetryDecision,
} from "@aws/durable-execution-sdk-js";

import {
  HandlerTestError,
  TransientError,
  crashProcess,
  firstTime,
  fixedRetry,
  noRetry,
  uppercaseJsonSerdes,
} from "./support";

/** 1-1: a single step returning a greeting, succeeding first time. */
export const step_1_1 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.step(async () => `Hello, ${event}!`);
});

/** 1-2: the same step with an explicit name. */
export const step_1_2 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.step("custom_step_name", async () => `Hello, ${event}!`);
});

/** 1-3: two sequential steps, the second using the first's result. */
export const step_1_3 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const first = await context.step(async () => "first");
  return context.step(async () => `${first}_second`);
});

interface Profile {
  name: string;
  tags: string[];
}

/** 1-4: a step returning a nested object with arrays and mixed types. */
export const step_1_4 = withDurableExecution(async (event: Profile, context: DurableContext) => {
  return context.step(async () => {
    const tags = [...event.tags];
    return { user: { name: event.name, tags }, count: tags.length };
  });
});

/** 1-5: a step returning null. */
export const step_1_5 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(async () => null);
});

/** 1-6: per-step custom serdes that upper-cases strings when serializing. */
export const step_1_6 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.step(async () => event, { serdes: uppercaseJsonSerdes });
});

/** 1-7: a step that logs through the step context's logger. */
export const step_1_7 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  return context.step(async (stepContext) => {
    stepContext.logger.info(`Greeting step started for: ${event}`);
    const greeting = `Hello, ${event}!`;
    stepContext.logger.info(`Greeting step completed with: ${greeting}`);
    return greeting;
  });
});

/** 1-8: a step then a 2 s wait; replay skips the step. */
export const step_1_8 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const result = await context.step(async () => "computed");
  await context.wait({ seconds: 2 });
  return result;
});

/** 1-9: replay returns the checkpointed step result without re-running it. */
export const step_1_9 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const result = await context.step(async (stepContext) => {
    stepContext.logger.info("step executed");
    return "cached_value";
  });
  await context.wait({ seconds: 1 });
  return result;
});

/** 1-10: replay re-throws the checkpointed failure of a step without re-running it. */
export const step_1_10 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  let caught: string | null = null;
  try {
    await context.step(async (stepContext): Promise<string> => {
      stepContext.logger.info("step executed");
      throw new HandlerTestError("permanent failure");
    }, noRetry<string>());
  } catch (error) {
    if (!(error instanceof StepError)) {
      throw error;
    }
    caught = error.message;
  }
  await context.wait({ seconds: 1 });
  return { caught };
});

/** 1-11: fails on attempt 1, succeeds on attempt 2 after a 1 s retry. */
export const step_1_11 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(
    async (stepContext) => {
      if (stepContext.attempt < 2) {
        throw new HandlerTestError(`attempt ${stepContext.attempt} failed`);
      }
      return "Operation succeeded";
    },
    { retryStrategy: fixedRetry(3) },
  );
});

/** 1-12: always fails; 4 attempts in all, 1 s apart, then the execution fails. */
export const step_1_12 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(
    async (stepContext): Promise<string> => {
      throw new HandlerTestError(`attempt ${stepContext.attempt} failed`);
    },
    { retryStrategy: fixedRetry(4) },
  );
});

/** 1-13: the SDK's default retry strategy; fails twice, succeeds on attempt 3. */
export const step_1_13 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(async (stepContext) => {
    if (stepContext.attempt < 3) {
      throw new HandlerTestError(`attempt ${stepContext.attempt} failed`);
    }
    return "succeeded on attempt 3";
  });
});

/**
 * 1-14: retry 2 s initial delay, 3x backoff, no jitter; fails twice then succeeds.
 *
 * The requirement tracks the attempt count in DynamoDB; the step context's
 * ``attempt`` carries the same information.
 */
export const step_1_14 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(
    async (stepContext) => {
      if (stepContext.attempt < 3) {
        throw new HandlerTestError(`attempt ${stepContext.attempt} failed`);
      }
      return "succeeded on attempt 3";
    },
    { retryStrategy: fixedRetry(5, 2, 3) },
  );
});

function retryOnTransient(error: Error, attemptsMade: number): RetryDecision {
  if (error instanceof TransientError && attemptsMade < 3) {
    return { shouldRetry: true, delay: { seconds: 1 } };
  }
  return { shouldRetry: false };
}

function noRetryOnTransientError(error: Error, attemptsMade: number): RetryDecision {
  if (error instanceof TransientError || attemptsMade >= 3) {
    return { shouldRetry: false };
  }
  return { shouldRetry: true, delay: { seconds: 1 } };
}

/** 1-15: a strategy that retries only TransientError; attempt 1 throws one. */
export const step_1_15 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(
    async (stepContext) => {
      if (stepContext.attempt === 1) {
        throw new TransientError("transient failure");
      }
      return "recovered";
    },
    { retryStrategy: retryOnTransient },
  );
});

/** 1-16: a strategy that never retries TransientError; the step fails permanently. */
export const step_1_16 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(
    async (): Promise<string> => {
      throw new TransientError("transient failure");
    },
    { retryStrategy: noRetryOnTransientError },
  );
});

/** 1-17: at-most-once step, no retry, whose process crashes; replay fails it. */
export const step_1_17 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const arn = context.executionContext.durableExecutionArn;
  return context.step(
    "at_most_once_flaky_step",
    async (stepContext): Promise<string> => {
      stepContext.logger.info(`at-most-once step running with input ${event}`);
      if (firstTime(arn, "1-17")) {
        await crashProcess();
      }
      // Only reached if a backend re-runs an interrupted at-most-once step.
      throw new HandlerTestError("at-most-once step executed twice");
    },
    { semantics: StepSemantics.AtMostOncePerRetry, ...noRetry<string>() },
  );
});

/** 1-18: at-most-once step with retry; attempt 1 crashes, attempt 2 succeeds. */
export const step_1_18 = withDurableExecution(async (event: unknown, context: DurableContext) => {
  const arn = context.executionContext.durableExecutionArn;
  return context.step(
    async (stepContext) => {
      stepContext.logger.info(`at-most-once step attempt ${stepContext.attempt}: ${event}`);
      if (stepContext.attempt === 1 && firstTime(arn, "1-18")) {
        await crashProcess();
      }
      return "succeeded on second attempt";
    },
    { semantics: StepSemantics.AtMostOncePerRetry, retryStrategy: fixedRetry(3) },
  );
});

/** 1-19: a step that always throws, no retries; the execution fails. */
export const step_1_19 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  return context.step(async (): Promise<string> => {
    throw new HandlerTestError("step always fails");
  }, noRetry<string>());
});

/** 1-20: a failed step is caught by user code, which carries on with a fallback. */
export const step_1_20 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  let value: string;
  try {
    value = await context.step(async (): Promise<string> => {
      throw new HandlerTestError("step fails");
    }, noRetry<string>());
  } catch (error) {
    if (!(error instanceof StepError)) {
      throw error;
    }
    value = "fallback_result";
  }
  return context.step(async () => value);
});
