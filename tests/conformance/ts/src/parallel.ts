/**
 * Conformance suite "parallel" (requirements 8-1 .. 8-22).
 *
 * Unless a requirement says otherwise, branches run with maxConcurrency 1 so they
 * execute in index order and the history is deterministic.
 */

import {
  CompletionConfig,
  DurableContext,
  NestingType,
  withDurableExecution,
} from "@aws/durable-execution-sdk-js";
import { HandlerTestError } from "./support";
import { FULL, NO_STATUS, projection, wrappedJsonSerdes } from "./support_b";

type Branch<T> = (ctx: DurableContext) => Promise<T>;

/** A branch that returns `value` directly. */
function returns<T>(value: T): Branch<T> {
  return async () => value;
}

/** A branch that raises. */
function fails(index: number): Branch<never> {
  return async () => {
    throw new HandlerTestError(`branch ${index} failed`);
  };
}

/** A branch running one step that returns `value`. */
function stepReturning<T>(value: T): Branch<T> {
  return (ctx) => ctx.step(async () => value);
}

/** Branches one at a time, completing as `completionConfig` says. */
function sequential(completionConfig: CompletionConfig): {
  maxConcurrency: number;
  completionConfig: CompletionConfig;
} {
  return { maxConcurrency: 1, completionConfig };
}

/** 8-1: two branches, each a single step ("task-1", "task-2"). */
export const parallel_8_1 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel(
    "parallel",
    [stepReturning("task-1"), stepReturning("task-2")],
    { maxConcurrency: 1 },
  );
  return batch.getResults();
});

/** 8-2: the branches-only form (no name); branches return values directly. */
export const parallel_8_2 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel([returns("alpha"), returns("beta")], { maxConcurrency: 1 });
  return batch.getResults();
});

/** 8-3: named-branch objects "first" and "second". */
export const parallel_8_3 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel(
    "named",
    [
      { name: "first", func: returns("one") },
      { name: "second", func: returns("two") },
    ],
    { maxConcurrency: 1 },
  );
  return batch.getResults();
});

/** 8-4: branches returning a string, a number and an object. */
export const parallel_8_4 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const branches: Branch<unknown>[] = [returns("hello"), returns(42), returns({ k: "v" })];
  const batch = await context.parallel("hetero", branches, { maxConcurrency: 1 });
  return batch.getResults();
});

/** 8-5: an empty branch list completes at once. */
export const parallel_8_5 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const branches: Branch<unknown>[] = [];
  return (await context.parallel("empty", branches)).getResults();
});

/** 8-6: fail-fast (tolerated 0): ok, fail, never started. */
export const parallel_8_6 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "failfast",
    [returns("ok"), fails(1), returns("never")],
    sequential({ toleratedFailureCount: 0 }),
  );
  return projection(batch, FULL);
});

/** 8-7: fail-fast, then the handler rethrows the first branch failure. */
export const parallel_8_7 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "throwing",
    [fails(0), returns("never")],
    sequential({ toleratedFailureCount: 0 }),
  );
  batch.throwIfError();
  return batch.getResults();
});

/** 8-8: minSuccessful 2 of four branches stops after two. */
export const parallel_8_8 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "min-successful",
    [returns("a"), returns("b"), returns("c"), returns("d")],
    sequential({ minSuccessful: 2 }),
  );
  return projection(batch, ["completionReason", "successCount", "totalCount"]);
});

/** 8-9: toleratedFailureCount 1: ok, fail, ok all run. */
export const parallel_8_9 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "tolerated",
    [returns("a"), fails(1), returns("c")],
    sequential({ toleratedFailureCount: 1 }),
  );
  return projection(batch, FULL);
});

/** 8-10: toleratedFailureCount 1 exceeded by two failures; the third never starts. */
export const parallel_8_10 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "tolerated-exceeded",
    [fails(0), fails(1), returns("never")],
    sequential({ toleratedFailureCount: 1 }),
  );
  return projection(batch, NO_STATUS);
});

/** 8-11: three branches, maxConcurrency 2; results stay in branch order. */
export const parallel_8_11 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel(
    "concurrent",
    [returns("r0"), returns("r1"), returns("r2")],
    { maxConcurrency: 2 },
  );
  return batch.getResults();
});

/** 8-12: FLAT nesting: branch steps sit directly under the Parallel context. */
export const parallel_8_12 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel("flat", [stepReturning("fa"), stepReturning("fb")], {
    maxConcurrency: 1,
    nesting: NestingType.FLAT,
  });
  return batch.getResults();
});

/** 8-13: toleratedFailurePercentage 25 exceeded by 2 failures of 4. */
export const parallel_8_13 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "tolerated-pct",
    [fails(0), fails(1), returns("c"), returns("d")],
    sequential({ toleratedFailurePercentage: 25 }),
  );
  return projection(batch, NO_STATUS);
});

/** 8-14: branch 1 suspends on a 2 s wait; replay skips the finished branch 0. */
export const parallel_8_14 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const waitingBranch: Branch<string> = async (ctx) => {
    await ctx.wait({ seconds: 2 });
    return "b1";
  };
  const batch = await context.parallel("replay", [stepReturning("b0"), waitingBranch], {
    maxConcurrency: 1,
  });
  return batch.getResults();
});

/** 8-15: an item serdes storing each branch result as {"wrapped": value}. */
export const parallel_8_15 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel("serde", [returns("x"), returns("y")], {
    maxConcurrency: 1,
    itemSerdes: wrappedJsonSerdes<string>(),
  });
  return batch.getResults();
});

/** 8-16: every branch fails within tolerance (3 of 3). */
export const parallel_8_16 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<never>(
    "all-fail",
    [fails(0), fails(1), fails(2)],
    sequential({ toleratedFailureCount: 3 }),
  );
  return projection(batch, FULL);
});

/** 8-17: minSuccessful 3 never reached; every branch runs. */
export const parallel_8_17 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "min-not-reached",
    [returns("a"), fails(1), returns("c")],
    sequential({ minSuccessful: 3 }),
  );
  return projection(batch, FULL);
});

/** 8-18: minSuccessful 3 and toleratedFailureCount 1; tolerance is exceeded first. */
export const parallel_8_18 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "combined",
    [fails(0), fails(1), returns("c"), returns("d")],
    sequential({ minSuccessful: 3, toleratedFailureCount: 1 }),
  );
  return projection(batch, NO_STATUS);
});

/** 8-19: maxConcurrency 0 is rejected before anything runs; the execution fails. */
export const parallel_8_19 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel("bad-concurrency", [returns("a"), returns("b")], {
    maxConcurrency: 0,
  });
  return batch.getResults();
});

/** 8-20: the batch accessors: hasFailure, succeeded(), failed(), getErrors(). */
export const parallel_8_20 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "accessors",
    [returns("a"), fails(1), returns("c")],
    sequential({ toleratedFailureCount: 1 }),
  );
  return {
    hasFailure: batch.hasFailure,
    successCount: batch.succeeded().length,
    failureCount: batch.failed().length,
    errorCount: batch.getErrors().length,
  };
});

/** 8-21: one outer branch running an inner parallel of two steps. */
export const parallel_8_21 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const branchA: Branch<string[]> = async (ctx) => {
    const inner = await ctx.parallel("inner", [stepReturning("i1"), stepReturning("i2")], {
      maxConcurrency: 1,
    });
    return inner.getResults();
  };
  const batch = await context.parallel("outer", [branchA], { maxConcurrency: 1 });
  return batch.getResults();
});

/** 8-22: 1 failure of 4 equals toleratedFailurePercentage 25, so all run. */
export const parallel_8_22 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.parallel<string>(
    "pct-boundary",
    [fails(0), returns("b"), returns("c"), returns("d")],
    sequential({ toleratedFailurePercentage: 25 }),
  );
  return projection(batch, FULL);
});
