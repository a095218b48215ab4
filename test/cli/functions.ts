/** A --functions module for the serve tests: what a user's jobs.js exports. */

import { z } from "zod";
import { defineFunction } from "../../src/index.js";

export const greet = defineFunction<{ name: string }>("Greet", async (ctx) => {
  console.log(`greeted ${ctx.request.name}`);
});

export const functions = [
  greet,
  defineFunction("Fail", { retries: 0 }, async () => {
    throw new Error("always fails");
  }),
  defineFunction("Typed", { schema: z.object({ name: z.string() }) }, async () => {}),
];
