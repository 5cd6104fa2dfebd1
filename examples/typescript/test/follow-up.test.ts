import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecutionStatus, OperationStatus } from "@aws/durable-execution-sdk-js-testing";
import { handler, type FollowUpResult } from "../src/follow-up.ts";
import { runnerFor, topLevel, useRunners } from "./runners.ts";

useRunners({ skipTime: true }); // the day passes at once (on perdure: in 10 s, --time-scale 8640)

test("the follow-up goes out a day after the welcome, which is sent once", { timeout: 60_000 }, async () => {
  const runner = runnerFor<FollowUpResult>("FollowUp", handler);
  const wait = runner.getOperation("one-day");

  const running = runner.run({ payload: { userId: "u-1", email: "ada@example.com" } });
  await wait.waitForData();
  assert.equal(wait.getWaitDetails()?.waitSeconds, 24 * 60 * 60);
  const execution = await running;

  assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
  assert.deepEqual(execution.getResult(), {
    userId: "u-1",
    sent: ["welcome -> ada@example.com", "how is it going? -> ada@example.com"],
  });
  assert.deepEqual(topLevel(execution), ["welcome-email", "one-day", "follow-up-email"]);
  assert.equal(wait.getStatus(), OperationStatus.SUCCEEDED);
  const welcome = runner.getOperation("welcome-email").getEvents() ?? [];
  assert.equal(welcome.filter((event) => event.EventType === "StepStarted").length, 1); // not sent again
  assert.ok(execution.getInvocations().length >= 2, "the handler ran again after the wait");
});
