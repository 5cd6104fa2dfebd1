/**
 * Conformance suite "map" (requirements 9-1 .. 9-20).
 *
 * Unless a requirement says otherwise, items run with maxConcurrency 1 so they
 * execute in index order and the history is deterministic.
 */

import {
  BatchItemStatus,
  BatchResult,
  CompletionConfig,
  DurableContext,
  MapConfig,
  NestingType,
  Serdes,
  withDurableExecution,
} from "@aws/durable-execution-sdk-js";
import { HandlerTestError, prefixSerdes } from "./support";
import { FULL, NO_STATUS, RebuiltBatchResult, plainJsonSerdes, projection } from "./support_b";

/** Four of these exceed the 256 KB checkpoint limit. */
const LARGE_ITEM_CHARS = 70 * 1024;

function sequential<I, O>(completionConfig: CompletionConfig): MapConfig<I, O> {
  return { maxConcurrency: 1, completionConfig };
}

/** Map function: items equal to "fail" raise, the others are returned as they are. */
const failOnMarker = async (_ctx: DurableContext, item: string, index: number): Promise<string> => {
  if (item === "fail") throw new HandlerTestError(`item ${index} failed`);
  return item;
};

const upper = async (_ctx: DurableContext, item: string): Promise<string> => item.toUpperCase();

/** 9-1: each item runs one step returning "Hello, <item>!". */
export const map_9_1 = withDurableExecution(async (event: string[], context: DurableContext) => {
  const batch = await context.map(
    "map",
    event,
    (ctx, item: string) => ctx.step(async () => `Hello, ${item}!`),
    { maxConcurrency: 1 },
  );
  return batch.getResults();
});

/** 9-2: the items-only form (no name); doubles each item directly. */
export const map_9_2 = withDurableExecution(async (event: number[], context: DurableContext) => {
  const batch = await context.map(event, async (_ctx, item: number) => item * 2, {
    maxConcurrency: 1,
  });
  return batch.getResults();
});

/** 9-3: the map function gets the item and its index and returns item + index. */
export const map_9_3 = withDurableExecution(async (event: number[], context: DurableContext) => {
  const batch = await context.map(
    "indexed",
    event,
    async (_ctx, item: number, index: number) => item + index,
    { maxConcurrency: 1 },
  );
  return batch.getResults();
});

/** 9-4: an empty item list completes at once. */
export const map_9_4 = withDurableExecution(
  async (event: unknown[] | null, context: DurableContext) => {
    const items = event ?? [];
    return (await context.map("empty", items, async (_ctx, item: unknown) => item)).getResults();
  },
);

/** 9-5: fail-fast (tolerated 0): ok, fail, never started. */
export const map_9_5 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "failfast",
    ["ok", "fail", "never"],
    failOnMarker,
    sequential({ toleratedFailureCount: 0 }),
  );
  return projection(batch, FULL);
});

/** 9-6: fail-fast, then the handler rethrows the first item failure. */
export const map_9_6 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "throwing",
    ["fail", "never"],
    failOnMarker,
    sequential({ toleratedFailureCount: 0 }),
  );
  batch.throwIfError();
  return batch.getResults();
});

/** 9-7: minSuccessful 2 of four items stops after two. */
export const map_9_7 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "min-successful",
    ["a", "b", "c", "d"],
    failOnMarker,
    sequential({ minSuccessful: 2 }),
  );
  return projection(batch, ["completionReason", "successCount", "totalCount"]);
});

/** 9-8: toleratedFailureCount 1: ok, fail, ok all run. */
export const map_9_8 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "tolerated",
    ["a", "fail", "c"],
    failOnMarker,
    sequential({ toleratedFailureCount: 1 }),
  );
  return projection(batch, FULL);
});

/** 9-9: two failures exceed toleratedFailureCount 1; the third never starts. */
export const map_9_9 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "tolerated-exceeded",
    ["fail", "fail", "never"],
    failOnMarker,
    sequential({ toleratedFailureCount: 1 }),
  );
  return projection(batch, NO_STATUS);
});

/** 9-10: 2 failures of 4 exceed toleratedFailurePercentage 25. */
export const map_9_10 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "tolerated-pct",
    ["fail", "fail", "c", "d"],
    failOnMarker,
    sequential({ toleratedFailurePercentage: 25 }),
  );
  return projection(batch, NO_STATUS);
});

/** 9-11: three items, maxConcurrency 2; results stay in item order. */
export const map_9_11 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map("concurrent", ["r0", "r1", "r2"], failOnMarker, {
    maxConcurrency: 2,
  });
  return batch.getResults();
});

/** 9-12: FLAT nesting: each item's step sits directly under the Map context. */
export const map_9_12 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "flat",
    ["fa", "fb"],
    (ctx, item: string) => ctx.step(async () => item),
    { maxConcurrency: 1, nesting: NestingType.FLAT },
  );
  return batch.getResults();
});

/** 9-13: a custom item namer ("item-<item>"); returns item * 10. */
export const map_9_13 = withDurableExecution(async (event: number[], context: DurableContext) => {
  const batch = await context.map("named-items", event, async (_ctx, item: number) => item * 10, {
    maxConcurrency: 1,
    itemNamer: (item: number) => `item-${item}`,
  });
  return batch.getResults();
});

/** 9-14: a per-item serdes storing results as "wrapped:<value>". */
export const map_9_14 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map("serdes", ["x", "y"], upper, {
    maxConcurrency: 1,
    itemSerdes: prefixSerdes("wrapped:"),
  });
  return batch.getResults();
});

/** 9-15: item 1 waits 1 s mid-map; replay skips the finished item 0. */
export const map_9_15 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "suspend",
    ["r0", "r1"],
    async (ctx, item: string, index: number) => {
      if (index === 1) await ctx.wait({ seconds: 1 });
      return ctx.step(async () => item);
    },
    { maxConcurrency: 1 },
  );
  return batch.getResults();
});

/** 9-16: four ~70 KB results; the Map result is stored with ReplayChildren. */
export const map_9_16 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "large",
    [0, 1, 2, 3],
    async (_ctx, item: number) => String(item).repeat(LARGE_ITEM_CHARS),
    { maxConcurrency: 1 },
  );
  return { successCount: batch.successCount, totalCount: batch.totalCount };
});

/** 9-17: a fully successful map, then a 1 s wait; replay skips the map. */
export const map_9_17 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map("then-wait", ["a", "b"], upper, { maxConcurrency: 1 });
  await context.wait({ seconds: 1 });
  return batch.getResults();
});

/** 9-18: a map with one tolerated failure, then a 1 s wait; no rethrow. */
export const map_9_18 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map(
    "fail-then-wait",
    ["ok", "fail"],
    failOnMarker,
    sequential({ toleratedFailureCount: 1 }),
  );
  await context.wait({ seconds: 1 });
  return projection(batch, FULL);
});

const OP_SERDE_PREFIX = "OPSERDE:";

/** Operation-level serdes for a whole map result of strings: "OPSERDE:X,Y". */
const opSerdes: Serdes<BatchResult<string>> = {
  serialize: async (value) =>
    value === undefined ? undefined : OP_SERDE_PREFIX + value.getResults().join(","),
  deserialize: async (data) => {
    if (data === undefined) return undefined;
    if (!data.startsWith(OP_SERDE_PREFIX)) {
      throw new Error(`not an OPSERDE payload: ${JSON.stringify(data.slice(0, 40))}`);
    }
    const body = data.slice(OP_SERDE_PREFIX.length);
    const results = body ? body.split(",") : [];
    return new RebuiltBatchResult(
      results.map((result, index) => ({ index, status: BatchItemStatus.SUCCEEDED, result })),
      "ALL_COMPLETED",
    );
  },
};

/** The item serdes is set explicitly so the operation-level serdes applies only to the whole result. */
function opSerdeConfig(): MapConfig<string, string> {
  return { maxConcurrency: 1, serdes: opSerdes, itemSerdes: plainJsonSerdes<string>() };
}

/** 9-19: an operation-level serdes writes the Map result as "OPSERDE:X,Y". */
export const map_9_19 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map("op-serde", ["x", "y"], upper, opSerdeConfig());
  return batch.getResults();
});

/** 9-20: as 9-19, then a 1 s wait; replay reads the Map result back through the serdes. */
export const map_9_20 = withDurableExecution(async (_event: unknown, context: DurableContext) => {
  const batch = await context.map("op-serde-replay", ["x", "y"], upper, opSerdeConfig());
  await context.wait({ seconds: 1 });
  return batch.getResults();
});
