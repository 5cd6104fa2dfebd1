/**
 * One test body, two runners. Without PERDURE_URL a test runs its handler in this
 * process with the testing kit's LocalDurableTestRunner (which can skip time); with
 * PERDURE_URL=http://127.0.0.1:9000 the same test invokes the function on
 * `perdure serve -t template.yaml --time-scale 8640` with CloudDurableTestRunner,
 * which follows the execution's history through the Lambda API. The time scale makes
 * a day pass in 10 s there (waits, retry delays and callback timeouts).
 */
import { afterEach, beforeEach } from "node:test";
import { InvocationType, LambdaClient } from "@aws-sdk/client-lambda";
import type { DurableLambdaHandler } from "@aws/durable-execution-sdk-js";
import {
  CloudDurableTestRunner,
  LocalDurableTestRunner,
  type DurableOperation,
  type DurableTestRunner,
  type TestResult,
} from "@aws/durable-execution-sdk-js-testing";

/** The names of an execution's top-level operations, in the order they started. */
export function topLevel(execution: TestResult<unknown>): (string | undefined)[] {
  return execution
    .getOperations()
    .filter((op) => op.getParentId() === undefined)
    .map((op) => op.getName());
}

export const perdureUrl = process.env.PERDURE_URL;
export type Runner<T> = DurableTestRunner<DurableOperation, T>;

const region = "us-east-1";
const client = perdureUrl
  ? new LambdaClient({ endpoint: perdureUrl, region, credentials: { accessKeyId: "x", secretAccessKey: "x" } })
  : undefined;

/**
 * Set up the local runner's environment around each test of this file. Per test, not
 * per file: with `skipTime` the kit fakes the timers, and node:test itself schedules
 * the next test with a timer.
 */
export function useRunners(options: { skipTime: boolean }): void {
  if (perdureUrl) return;
  beforeEach(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: options.skipTime }));
  afterEach(() => LocalDurableTestRunner.teardownTestEnvironment());
}

/**
 * A runner for the template's function `functionName`, whose code is `handler`.
 * `invokes` names the functions it calls with `context.invoke`, for the local runner.
 */
export function runnerFor<T>(
  functionName: string,
  handler: DurableLambdaHandler,
  invokes: Record<string, DurableLambdaHandler> = {},
): Runner<T> {
  if (client) {
    // Event: the invoke answers at once with the execution's ARN; the runner then
    // follows the history, so a test can answer a callback while the execution waits.
    return new CloudDurableTestRunner<T>({
      functionName,
      client,
      config: { pollInterval: 100, invocationType: InvocationType.Event },
    });
  }
  const runner = new LocalDurableTestRunner<T>({ handlerFunction: handler });
  for (const [name, other] of Object.entries(invokes)) runner.registerDurableFunction(name, other);
  return runner;
}
