/**
 * Helpers of the wait_for_condition, wait_for_callback, parallel, map and plugin
 * handlers that support.ts lacks: serdes typed by their value (for the typed
 * itemSerdes and callback serdes) and BatchResult helpers.
 *
 * Nothing here talks to a backend.
 */

import {
  BatchItem,
  BatchItemStatus,
  BatchResult,
  ChildContextError,
  CompletionReason,
  Serdes,
} from "@aws/durable-execution-sdk-js";

// --- serdes --------------------------------------------------------------------

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
