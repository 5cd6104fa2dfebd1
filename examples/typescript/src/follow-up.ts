/**
 * A long wait: welcome a new user, wait a day, then send a follow-up. While it waits
 * nothing runs and nothing is billed; the execution resumes from the checkpoint, and
 * the welcome email is not sent again.
 */
import { withDurableExecution } from "@aws/durable-execution-sdk-js";

export interface SignUp {
  userId: string;
  email: string;
}

export interface FollowUpResult {
  userId: string;
  sent: string[];
}

export const handler = withDurableExecution(async (user: SignUp, context): Promise<FollowUpResult> => {
  const welcome = await context.step("welcome-email", async () => `welcome -> ${user.email}`);
  await context.wait("one-day", { days: 1 });
  const followUp = await context.step("follow-up-email", async () => `how is it going? -> ${user.email}`);
  return { userId: user.userId, sent: [welcome, followUp] };
});
