// The handler the Node benchmarks run: `steps` sequential steps, each returning its index.
import { type DurableContext, withDurableExecution } from "@aws/durable-execution-sdk-js";

export const handler = withDurableExecution(async (event: { steps: number }, context: DurableContext) => {
  let total = 0;
  for (let i = 0; i < event.steps; i++) {
    total += await context.step(`s${i}`, async () => i);
  }
  return total;
});
