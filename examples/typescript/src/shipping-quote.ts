/**
 * A durable function of its own that Checkout calls with `context.invoke`: it prices a
 * parcel by weight and destination.
 */
import { withDurableExecution } from "@aws/durable-execution-sdk-js";

export interface QuoteRequest {
  weightKg: number;
  country: string;
}

export interface Quote {
  carrier: string;
  price: number;
}

export const handler = withDurableExecution(async (request: QuoteRequest, context): Promise<Quote> =>
  context.step("rate", async () => ({
    carrier: request.country === "US" ? "ground" : "air",
    price: 5 + 2 * Math.ceil(request.weightKg),
  })),
);
