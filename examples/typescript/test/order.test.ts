import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecutionStatus, OperationStatus } from "@aws/durable-execution-sdk-js-testing";
import { handler, type OrderResult } from "../src/order.ts";
import { runnerFor, topLevel, useRunners } from "./runners.ts";

useRunners({ skipTime: true }); // the charge step's retry delays pass at once

test("the order ships once the payment service recovers", async () => {
  const runner = runnerFor<OrderResult>("OrderWorkflow", handler);

  const execution = await runner.run({ payload: { orderId: "o-7", items: ["book", "pen"], amount: 42, failures: 2 } });

  assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
  assert.deepEqual(execution.getResult(), {
    orderId: "o-7",
    status: "shipped",
    reservation: "R-o-7-2",
    paid: 42,
    chargeAttempts: 3,
    trackingId: "TRK-o-7",
  });
  assert.deepEqual(topLevel(execution), ["reserve", "charge", "ship"]);
  const charge = runner.getOperation("charge");
  assert.equal(charge.getStatus(), OperationStatus.SUCCEEDED);
  assert.equal(charge.getEvents()?.filter((event) => event.EventType === "StepFailed").length, 2);
  assert.deepEqual(charge.getStepDetails()?.result, { paid: 42, attempt: 3 });
});

test("the order fails, unshipped, when every charge attempt fails", async () => {
  const runner = runnerFor<OrderResult>("OrderWorkflow", handler);

  const execution = await runner.run({ payload: { orderId: "o-8", items: ["lamp"], amount: 10, failures: 5 } });

  assert.equal(execution.getStatus(), ExecutionStatus.FAILED);
  assert.match(execution.getError().errorMessage ?? "", /payment service unavailable \(attempt 3\)/);
  assert.equal(runner.getOperation("charge").getStatus(), OperationStatus.FAILED);
  assert.deepEqual(topLevel(execution), ["reserve", "charge"]);
});
