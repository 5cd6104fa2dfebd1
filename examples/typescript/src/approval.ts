/**
 * A human approval: an expense above the limit waits (up to three days) for a manager's
 * answer, sent with SendDurableExecutionCallbackSuccess. Nothing runs while it waits.
 *
 * `waitForCallback` hands the callback id to the submitter (here it would email the
 * manager a link carrying it) and resumes with the answer, JSON-decoded by `serdes`.
 */
import { defaultSerdes, withDurableExecution } from "@aws/durable-execution-sdk-js";

export interface Expense {
  expenseId: string;
  employee: string;
  amount: number;
}

export interface Decision {
  approved: boolean;
  by: string;
  comment?: string;
}

export interface ExpenseResult {
  expenseId: string;
  status: "paid" | "rejected";
  approvedBy?: string;
  reason?: string;
}

const AUTO_APPROVE_LIMIT = 100;

export const handler = withDurableExecution(async (expense: Expense, context): Promise<ExpenseResult> => {
  let approvedBy = "auto";
  if (expense.amount > AUTO_APPROVE_LIMIT) {
    const decision = await context.waitForCallback<Decision>(
      "manager-approval",
      async (callbackId, step) => {
        step.logger.info("approval requested", { expenseId: expense.expenseId, callbackId });
      },
      { timeout: { days: 3 }, serdes: defaultSerdes },
    );
    if (!decision?.approved) {
      return { expenseId: expense.expenseId, status: "rejected", reason: decision?.comment ?? "not approved" };
    }
    approvedBy = decision.by;
  }
  await context.step("pay-out", async () => `paid ${expense.amount} to ${expense.employee}`);
  return { expenseId: expense.expenseId, status: "paid", approvedBy };
});
