import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecutionStatus, OperationStatus, WaitingOperationStatus } from "@aws/durable-execution-sdk-js-testing";
import { handler, type ExpenseResult } from "../src/approval.ts";
import { runnerFor, topLevel, useRunners } from "./runners.ts";

useRunners({ skipTime: false }); // real time: the answer must come before the callback times out

test("an expense above the limit is paid once a manager approves it", async () => {
  const runner = runnerFor<ExpenseResult>("ExpenseApproval", handler);
  const approval = runner.getOperation("manager-approval");

  const running = runner.run({ payload: { expenseId: "e-1", employee: "sam", amount: 450 } });
  await approval.waitForData(WaitingOperationStatus.SUBMITTED); // the submitter has the callback id
  assert.equal(approval.getStatus(), OperationStatus.STARTED);
  await approval.sendCallbackSuccess(JSON.stringify({ approved: true, by: "dana" }));
  const execution = await running;

  assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
  assert.deepEqual(execution.getResult(), { expenseId: "e-1", status: "paid", approvedBy: "dana" });
  assert.equal(approval.getStatus(), OperationStatus.SUCCEEDED);
  assert.deepEqual(runner.getOperation("pay-out").getStepDetails()?.result, "paid 450 to sam");
});

test("a rejected expense is not paid", async () => {
  const runner = runnerFor<ExpenseResult>("ExpenseApproval", handler);
  const approval = runner.getOperation("manager-approval");

  const running = runner.run({ payload: { expenseId: "e-2", employee: "kim", amount: 900 } });
  await approval.waitForData(WaitingOperationStatus.SUBMITTED);
  await approval.sendCallbackSuccess(JSON.stringify({ approved: false, by: "dana", comment: "over budget" }));
  const execution = await running;

  assert.deepEqual(execution.getResult(), { expenseId: "e-2", status: "rejected", reason: "over budget" });
  assert.deepEqual(topLevel(execution), ["manager-approval"]); // nothing was paid
});

test("a small expense is paid without asking anyone", async () => {
  const runner = runnerFor<ExpenseResult>("ExpenseApproval", handler);

  const execution = await runner.run({ payload: { expenseId: "e-3", employee: "lee", amount: 40 } });

  assert.deepEqual(execution.getResult(), { expenseId: "e-3", status: "paid", approvedBy: "auto" });
  assert.deepEqual(topLevel(execution), ["pay-out"]);
});
