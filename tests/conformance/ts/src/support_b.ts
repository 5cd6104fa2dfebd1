/**
 * Helpers shared by the TypeScript handlers of the wait_for_condition,
 * wait_for_callback, parallel, map and plugin suites.
 *
 * Nothing here talks to a backend: an error class the handlers raise on purpose,
 * retry and poll strategies with fixed, jitter-free delays (so histories are
 * deterministic), and custom serdes.
 */

import {
  BatchItem,
  BatchItemStatus,
  BatchResult,
  ChildContextError,
  CompletionReason,
  JitterStrategy,
  RetryDecision,
  Serdes,
  WaitForConditionDecision,
  createRetryStrategy,
  createWaitStrategy,
} from "@aws/durable-execution-sdk-js";

/** The error the conformance handlers raise on purpose. */
export class HandlerTestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandlerTestError";
  }
}

// --- retry / wait strategies ---------------------------------------------------

export type RetryStrategy = (error: Error, attemptsMade: number) => RetryDecision;

/** Retry every error, `maxAttempts` attempts in all, `delayS` seconds apart, no jitter. */
export function fixedRetry(maxAttempts: number, delayS = 1): RetryStrategy {
  return createRetryStrategy({
    maxAttempts,
    initialDelay: { seconds: delayS },
    maxDelay: { minutes: 5 },
    backoffRate: 1,
    jitter: JitterStrategy.NONE,
  });
}

/** A waitForCondition strategy polling every `delayS` seconds while `shouldContinue` holds. */
export function fixedPoll<T>(
  shouldContinue: (state: T) => boolean,
  delayS = 1,
  maxAttempts = 60,
): (state: T, attemptsMade: number) => WaitForConditionDecision {
  return createWaitStrategy<T>({
    shouldContinuePolling: shouldContinue,
    maxAttempts,
    initialDelay: { seconds: delayS },
    maxDelay: { seconds: delayS },
    backoffRate: 1,
    jitter: JitterStrategy.NONE,
  });
}

// --- serdes --------------------------------------------------------------------

/** A string stored as `<prefix><value>`; reading strips the prefix. */
export function prefixSerdes(prefix: string): Serdes<string> {
  return {
    serialize: async (value) => (value === undefined ? undefined : `${prefix}${value}`),
    deserialize: async (data) => {
      if (data === undefined) return undefined;
      if (!data.startsWith(prefix)) {
        throw new Error(`payload ${JSON.stringify(data.slice(0, 40))} lacks prefix ${prefix}`);
      }
      return data.slice(prefix.length);
    },
  };
}

/** A value stored as the JSON envelope `{"wrapped": value}`. */
export function wrappedJsonSerdes<T>(): Serdes<T> {
  return {
    serialize: async (value) => JSON.stringify({ wrapped: value ?? null }),
    deserialize: async (data) =>
      data === undefined ? undefined : (JSON.parse(data) as { wrapped: T }).wrapped,
  };
}

/** Plain JSON both ways. */
export function plainJsonSerdes<T>(): Serdes<T> {
  return {
    serialize: async (value) => (value === undefined ? undefined : JSON.stringify(value)),
    deserialize: async (data) => (data === undefined ? undefined : (JSON.parse(data) as T)),
  };
}

// --- batch results ---------------------------------------------------------------

/** A BatchResult rebuilt from its items, as a custom operation-level serdes returns it. */
export class RebuiltBatchResult<T> implements BatchResult<T> {
  constructor(
    readonly all: Array<BatchItem<T>>,
    readonly completionReason: CompletionReason,
  ) {}

  succeeded(): Array<BatchItem<T> & { result: T }> {
    return this.all.filter(
      (item): item is BatchItem<T> & { result: T } => item.status === BatchItemStatus.SUCCEEDED,
    );
  }

  failed(): Array<BatchItem<T> & { error: ChildContextError }> {
    return this.all.filter(
      (item): item is BatchItem<T> & { error: ChildContextError } =>
        item.status === BatchItemStatus.FAILED,
    );
  }

  started(): Array<BatchItem<T> & { status: BatchItemStatus.STARTED }> {
    return this.all.filter(
      (item): item is BatchItem<T> & { status: BatchItemStatus.STARTED } =>
        item.status === BatchItemStatus.STARTED,
    );
  }

  get status(): BatchItemStatus.SUCCEEDED | BatchItemStatus.FAILED {
    return this.hasFailure ? BatchItemStatus.FAILED : BatchItemStatus.SUCCEEDED;
  }

  get hasFailure(): boolean {
    return this.failureCount > 0;
  }

  throwIfError(): void {
    const first = this.failed()[0];
    if (first) throw first.error;
  }

  getResults(): T[] {
    return this.succeeded().map((item) => item.result);
  }

  getErrors(): ChildContextError[] {
    return this.failed().map((item) => item.error);
  }

  get successCount(): number {
    return this.succeeded().length;
  }

  get failureCount(): number {
    return this.failed().length;
  }

  get startedCount(): number {
    return this.started().length;
  }

  get totalCount(): number {
    return this.all.length;
  }
}

/** The BatchResult fields a handler returns, picked by name. */
export type BatchField = "completionReason" | "status" | "successCount" | "failureCount" | "totalCount";

export const FULL: readonly BatchField[] = [
  "completionReason",
  "status",
  "successCount",
  "failureCount",
  "totalCount",
];
export const NO_STATUS: readonly BatchField[] = [
  "completionReason",
  "successCount",
  "failureCount",
  "totalCount",
];

export function projection<T>(
  batch: BatchResult<T>,
  fields: readonly BatchField[],
): Record<string, string | number> {
  const values: Record<BatchField, string | number> = {
    completionReason: batch.completionReason,
    status: batch.status,
    successCount: batch.successCount,
    failureCount: batch.failureCount,
    totalCount: batch.totalCount,
  };
  return Object.fromEntries(fields.map((field) => [field, values[field]]));
}
