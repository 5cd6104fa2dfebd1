/**
 * Helpers shared by the TypeScript conformance handlers.
 *
 * Nothing here talks to a backend: these are the small pieces several
 * requirements need (a crash that looks like a Lambda runtime exit, a
 * once-per-execution marker that survives that crash, custom serdes, and
 * retry/wait strategies with fixed, jitter-free delays so histories are
 * deterministic). The Python handlers' conformance_support.py is the twin.
 */

import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  createRetryStrategy,
  createWaitStrategy,
  JitterStrategy,
  retryPresets,
  type RetryDecision,
  type Serdes,
  type StepConfig,
  type WaitForConditionDecision,
} from "@aws/durable-execution-sdk-js";

export const STATE_DIR_ENV = "CONFORMANCE_STATE_DIR";

/** An error a retry strategy is expected to recognise by type. */
export class TransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransientError";
  }
}

/** The error the conformance handlers throw on purpose. */
export class HandlerTestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandlerTestError";
  }
}

// --- crash / once-per-execution -------------------------------------------------

function stateDir(): string {
  const base = process.env[STATE_DIR_ENV] || join(tmpdir(), "perdure-conformance-state");
  mkdirSync(base, { recursive: true });
  return base;
}

/**
 * True the first time (execution, tag) is seen, on this machine, across processes.
 *
 * The marker is a file created exclusively ("wx"), so it survives the handler
 * process being killed, which an in-memory flag would not.
 */
export function firstTime(executionArn: string, tag: string): boolean {
  const digest = createHash("sha256").update(`${executionArn}\0${tag}`).digest("hex").slice(0, 32);
  try {
    closeSync(openSync(join(stateDir(), digest), "wx", 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") {
      return false;
    }
    throw error;
  }
  return true;
}

/**
 * Die the way a Lambda function does on process.exit: no cleanup, exit status 1.
 *
 * ``settleMs`` first lets the event loop run that long, so checkpoints the SDK
 * queued without awaiting them (an at-least-once step's or a child context's
 * START) reach the backend before the process disappears.
 */
export async function crashProcess(settleMs = 0): Promise<never> {
  if (settleMs > 0) {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
  }
  process.exit(1);
}

// --- retry / wait strategies ------------------------------------------------------

export type RetryStrategy = (error: Error, attemptsMade: number) => RetryDecision;

/** Retry every error, ``maxAttempts`` attempts in all, no jitter. */
export function fixedRetry(maxAttempts: number, delayS = 1, backoff = 1): RetryStrategy {
  return createRetryStrategy({
    maxAttempts,
    initialDelay: { seconds: delayS },
    maxDelay: { minutes: 5 },
    backoffRate: backoff,
    jitter: JitterStrategy.NONE,
  });
}

/** Step configuration without retries: the first failure is final. */
export function noRetry<T>(): StepConfig<T> {
  return { retryStrategy: retryPresets.noRetry };
}

/** A waitForCondition strategy polling every ``delayS`` seconds, no jitter. */
export function fixedPoll<T>(
  shouldContinuePolling: (state: T) => boolean,
  delayS = 1,
  maxAttempts = 60,
): (state: T, attemptsMade: number) => WaitForConditionDecision {
  return createWaitStrategy<T>({
    shouldContinuePolling,
    maxAttempts,
    initialDelay: { seconds: delayS },
    maxDelay: { seconds: delayS },
    backoffRate: 1,
    jitter: JitterStrategy.NONE,
  });
}

// --- serdes -----------------------------------------------------------------------

function upperStrings(value: unknown): unknown {
  if (typeof value === "string") {
    return value.toUpperCase();
  }
  if (Array.isArray(value)) {
    return value.map(upperStrings);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, upperStrings(v)]));
  }
  return value;
}

function parseJson(data: string | undefined): unknown {
  return data === undefined ? undefined : JSON.parse(data);
}

/** JSON, with every string value upper-cased on the way out. */
export const uppercaseJsonSerdes: Serdes<unknown> = {
  serialize: async (value) => JSON.stringify(upperStrings(value ?? null)),
  deserialize: async (data) => parseJson(data),
};

/** A string stored as its upper-cased raw text (not JSON). */
export const uppercaseRawSerdes: Serdes<string> = {
  serialize: async (value) => String(value).toUpperCase(),
  deserialize: async (data) => data,
};

/** A string stored as ``<prefix><value>``; reading strips the prefix. */
export function prefixSerdes(prefix: string): Serdes<string> {
  return {
    serialize: async (value) => `${prefix}${value}`,
    deserialize: async (data) => {
      if (data === undefined) {
        return undefined;
      }
      if (!data.startsWith(prefix)) {
        throw new Error(`payload ${JSON.stringify(data.slice(0, 40))} lacks prefix ${prefix}`);
      }
      return data.slice(prefix.length);
    },
  };
}

/** A value stored as the JSON envelope ``{"wrapped": value}``. */
export const wrappedJsonSerdes: Serdes<unknown> = {
  serialize: async (value) => JSON.stringify({ wrapped: value ?? null }),
  deserialize: async (data) => (data === undefined ? undefined : (JSON.parse(data) as { wrapped: unknown }).wrapped),
};

/** Plain JSON both ways. */
export const plainJsonSerdes: Serdes<unknown> = {
  serialize: async (value) => JSON.stringify(value ?? null),
  deserialize: async (data) => parseJson(data),
};
