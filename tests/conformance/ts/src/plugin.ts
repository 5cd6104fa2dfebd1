/**
 * Conformance suite "plugin" (requirements 10-1 .. 10-7).
 *
 * Each handler registers instrumentation plugins through the SDK's plugin API
 * (`withDurableExecution(handler, { plugins })`); the plugins write one JSON object
 * per hook to plain stdout (`process.stdout.write`, not the runtime's patched
 * console, whose lines carry a text prefix), stamped with the execution ARN from
 * the invocation-start hook, which is how the requirements find them through
 * CloudWatch Logs.
 */

import {
  AttemptEndInfo,
  AttemptInfo,
  DurableContext,
  DurableInstrumentationPlugin,
  InvocationEndInfo,
  InvocationInfo,
  OperationEndInfo,
  OperationInfo,
  OperationType,
  retryPresets,
  withDurableExecution,
} from "@aws/durable-execution-sdk-js";
import { HandlerTestError, fixedRetry } from "./support";

interface RecordingOptions {
  /** Also record the operation hooks of steps. */
  operations?: boolean;
  /** Also record the attempt hooks of steps. */
  attempts?: boolean;
  /** Every hook records, then throws. */
  faulty?: boolean;
}

/**
 * Writes `{"plugin": name, "hook": ..., "durableExecutionArn": ...}` per hook.
 *
 * One instance serves every invocation of its handler (the runtime runs one
 * invocation at a time per process); the ARN is taken from each invocation-start.
 */
class RecordingPlugin implements DurableInstrumentationPlugin {
  private arn = "";

  constructor(
    private readonly name: string,
    private readonly options: RecordingOptions = {},
  ) {}

  private log(hook: string, fields: Record<string, unknown>): void {
    const record = {
      plugin: this.name,
      hook,
      ...(this.options.faulty ? {} : fields),
      durableExecutionArn: this.arn,
    };
    process.stdout.write(`${JSON.stringify(record)}\n`);
    if (this.options.faulty) throw new Error(`${this.name} fails in ${hook} on purpose`);
  }

  private isStep(info: OperationInfo): boolean {
    return info.type === OperationType.STEP && info.subType === "Step";
  }

  async onInvocationStart(info: InvocationInfo): Promise<void> {
    this.arn = info.executionArn;
    this.log("invocation-start", { first: info.isFirstInvocation });
  }

  async onInvocationEnd(info: InvocationEndInfo): Promise<void> {
    this.log("invocation-end", { status: info.status });
  }

  async onOperationStart(info: OperationInfo): Promise<void> {
    if (this.options.operations && this.isStep(info)) {
      this.log("operation-start", { op: info.id });
    }
  }

  async onOperationEnd(info: OperationEndInfo): Promise<void> {
    if (this.options.operations && this.isStep(info)) {
      this.log("operation-end", { op: info.id, status: info.status });
    }
  }

  async onOperationAttemptStart(info: AttemptInfo): Promise<void> {
    if (this.options.attempts && this.isStep(info)) {
      this.log("attempt-start", { n: info.attempt, op: info.id });
    }
  }

  async onOperationAttemptEnd(info: AttemptEndInfo): Promise<void> {
    if (this.options.attempts && this.isStep(info)) {
      this.log("attempt-end", { n: info.attempt, outcome: info.outcome, op: info.id });
    }
  }
}

function greet(name: unknown): string {
  return `Hello, ${String(name)}!`;
}

/** 10-1: invocation-start (first=true) and invocation-end hooks around one step. */
export const plugin_10_1 = withDurableExecution(
  async (event: unknown, context: DurableContext) =>
    context.step(async (stepContext) => {
      stepContext.logger.info(`Greeting step running for: ${String(event)}`);
      return greet(event);
    }),
  { plugins: [new RecordingPlugin("CONFPLUGIN")] },
);

/** 10-2: operation-start and operation-end hooks of a step, with its operation id. */
export const plugin_10_2 = withDurableExecution(
  async (event: unknown, context: DurableContext) => context.step(async () => greet(event)),
  { plugins: [new RecordingPlugin("CONFPLUGIN", { operations: true })] },
);

/** 10-3: attempt hooks per step attempt; attempt 1 fails, attempt 2 succeeds. */
export const plugin_10_3 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.step(
      async (stepContext) => {
        if (stepContext.attempt === 1) throw new HandlerTestError("first attempt fails");
        return "Operation succeeded";
      },
      { retryStrategy: fixedRetry(3) },
    ),
  { plugins: [new RecordingPlugin("CONFPLUGIN", { attempts: true })] },
);

/** 10-4: every hook records, then throws; the execution is unaffected. */
export const plugin_10_4 = withDurableExecution(
  async (event: unknown, context: DurableContext) => context.step(async () => greet(event)),
  {
    plugins: [
      new RecordingPlugin("CONFPLUGIN-FAULTY", { operations: true, attempts: true, faulty: true }),
    ],
  },
);

/** 10-5: two plugins, A then B, both see the invocation hooks. */
export const plugin_10_5 = withDurableExecution(
  async (event: unknown, context: DurableContext) => context.step(async () => greet(event)),
  { plugins: [new RecordingPlugin("CONFPLUGIN-A"), new RecordingPlugin("CONFPLUGIN-B")] },
);

/** 10-6: a 2 s wait; first=true on the first invocation, first=false on the replay. */
export const plugin_10_6 = withDurableExecution(
  async (_event: unknown, context: DurableContext) => {
    await context.wait({ seconds: 2 });
  },
  { plugins: [new RecordingPlugin("CONFPLUGIN")] },
);

/** 10-7: a step that always raises, no retries; invocation-end reports FAILED. */
export const plugin_10_7 = withDurableExecution(
  async (_event: unknown, context: DurableContext) =>
    context.step(
      async (): Promise<string> => {
        throw new HandlerTestError("step always fails");
      },
      { retryStrategy: retryPresets.noRetry },
    ),
  { plugins: [new RecordingPlugin("CONFPLUGIN")] },
);
