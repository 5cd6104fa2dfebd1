// The handler in sequential.ts run by AWS's LocalDurableTestRunner (in memory, real time),
// `rounds` times after one warm-up; prints {"seconds": [...]} as one JSON line.
//
//   node local_runner.js <steps> <rounds>
import { LocalDurableTestRunner } from "@aws/durable-execution-sdk-js-testing";
import { handler } from "./sequential";

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 100);
  const rounds = Number(process.argv[3] ?? 7);
  await LocalDurableTestRunner.setupTestEnvironment({ skipTime: false });
  const expected = (steps * (steps - 1)) / 2;
  const seconds: number[] = [];
  try {
    for (let n = 0; n <= rounds; n++) {
      const runner = new LocalDurableTestRunner({ handlerFunction: handler });
      const started = performance.now();
      const execution = await runner.run({ payload: { steps } });
      const elapsed = (performance.now() - started) / 1000;
      if (execution.getStatus() !== "SUCCEEDED" || execution.getResult() !== expected) {
        throw new Error(`unexpected outcome: ${execution.getStatus()} ${JSON.stringify(execution.getResult())}`);
      }
      if (n > 0) seconds.push(elapsed); // round 0 warms up the runner and the handler
    }
  } finally {
    await LocalDurableTestRunner.teardownTestEnvironment();
  }
  process.stdout.write(`${JSON.stringify({ seconds })}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
