import assert from "node:assert/strict";
import { test } from "node:test";
import { ExecutionStatus, OperationStatus } from "@aws/durable-execution-sdk-js-testing";
import { handler, type CheckoutResult } from "../src/checkout.ts";
import { handler as shippingQuote } from "../src/shipping-quote.ts";
import { runnerFor, topLevel, useRunners } from "./runners.ts";

useRunners({ skipTime: false });
// The template sets this with !Ref ShippingQuote; the local runner calls the handler
// registered under the same name.
process.env.SHIPPING_QUOTE_FUNCTION ??= "ShippingQuote";

test("checkout adds the quote of the ShippingQuote function", async () => {
  const runner = runnerFor<CheckoutResult>("Checkout", handler, { ShippingQuote: shippingQuote });

  const execution = await runner.run({
    payload: {
      cartId: "c-1",
      country: "FR",
      lines: [
        { sku: "mug", price: 12, quantity: 2, weightKg: 0.4 },
        { sku: "tea", price: 8, quantity: 1, weightKg: 0.25 },
      ],
    },
  });

  assert.equal(execution.getStatus(), ExecutionStatus.SUCCEEDED);
  assert.deepEqual(execution.getResult(), { cartId: "c-1", subtotal: 32, shipping: 9, carrier: "air", total: 41 });
  assert.deepEqual(topLevel(execution), ["subtotal", "shipping-quote"]);
  const quote = runner.getOperation("shipping-quote");
  assert.equal(quote.getStatus(), OperationStatus.SUCCEEDED);
  const answer = quote.getEvents()?.find((event) => event.EventType === "ChainedInvokeSucceeded");
  assert.deepEqual(JSON.parse(answer?.ChainedInvokeSucceededDetails?.Result?.Payload ?? "null"), { carrier: "air", price: 9 });
});
