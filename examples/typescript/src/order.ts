/**
 * An order workflow: reserve the stock, charge the card, ship.
 *
 * Each step's result is checkpointed, so a retry or a replay never reserves or ships
 * twice. The payment service is flaky (in this example its first `failures` attempts
 * fail), so `charge` retries: after 1 s, then 2 s; a third failure fails the order.
 */
import { createRetryStrategy, JitterStrategy, withDurableExecution } from "@aws/durable-execution-sdk-js";

export interface Order {
  orderId: string;
  items: string[];
  amount: number;
  failures?: number; // how many charge attempts the payment service fails
}

export interface OrderResult {
  orderId: string;
  status: "shipped";
  reservation: string;
  paid: number;
  chargeAttempts: number;
  trackingId: string;
}

const chargeRetry = createRetryStrategy({
  maxAttempts: 3,
  initialDelay: { seconds: 1 },
  backoffRate: 2,
  jitter: JitterStrategy.NONE,
});

export const handler = withDurableExecution(async (order: Order, context): Promise<OrderResult> => {
  const reservation = await context.step("reserve", async () => `R-${order.orderId}-${order.items.length}`);

  const payment = await context.step(
    "charge",
    async (step) => {
      if (step.attempt <= (order.failures ?? 0)) {
        throw new Error(`payment service unavailable (attempt ${step.attempt})`);
      }
      return { paid: order.amount, attempt: step.attempt };
    },
    { retryStrategy: chargeRetry },
  );

  const trackingId = await context.step("ship", async () => `TRK-${order.orderId}`);

  return {
    orderId: order.orderId,
    status: "shipped",
    reservation,
    paid: payment.paid,
    chargeAttempts: payment.attempt,
    trackingId,
  };
});
