/**
 * A chained invoke: Checkout prices the cart, then calls the ShippingQuote function
 * (named by SHIPPING_QUOTE_FUNCTION, which the template sets with `!Ref`) with
 * `context.invoke`. Checkout does not run while ShippingQuote does, and the quote is
 * checkpointed: a replay reads it back instead of calling ShippingQuote again.
 */
import { withDurableExecution } from "@aws/durable-execution-sdk-js";
import type { Quote, QuoteRequest } from "./shipping-quote.ts";

export interface Cart {
  cartId: string;
  lines: { sku: string; price: number; quantity: number; weightKg: number }[];
  country: string;
}

export interface CheckoutResult {
  cartId: string;
  subtotal: number;
  shipping: number;
  carrier: string;
  total: number;
}

export const handler = withDurableExecution(async (cart: Cart, context): Promise<CheckoutResult> => {
  const subtotal = await context.step("subtotal", async () =>
    cart.lines.reduce((sum, line) => sum + line.price * line.quantity, 0),
  );
  const weightKg = cart.lines.reduce((sum, line) => sum + line.weightKg * line.quantity, 0);

  const quoteFunction = process.env.SHIPPING_QUOTE_FUNCTION;
  if (!quoteFunction) throw new Error("SHIPPING_QUOTE_FUNCTION is not set");
  const quote = await context.invoke<QuoteRequest, Quote>("shipping-quote", quoteFunction, {
    weightKg,
    country: cart.country,
  });

  return { cartId: cart.cartId, subtotal, shipping: quote.price, carrier: quote.carrier, total: subtotal + quote.price };
});
