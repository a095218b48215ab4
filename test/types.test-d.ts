/** Compile-time guarantees of the public API, checked by tsc (npm run check) and Vitest's typecheck. */

import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import {
  createTickerQ,
  defineFunction,
  type EnqueueJob,
  type Middleware,
  type MiddlewareNode,
  type StoreCall,
  type TickerContext,
  type TimeTicker,
} from "../src/index.js";

interface Welcome {
  email: string;
  name: string;
}

const sendWelcome = defineFunction("SendWelcomeEmail", { retries: 3 }, async (ctx: TickerContext<Welcome>) => {
  expectTypeOf(ctx.request.email).toEqualTypeOf<string>();
});
const digest = defineFunction("SendDailyDigest", { cron: "0 0 9 * * *" }, async () => {});
const resize = defineFunction("Resize", { schema: z.object({ url: z.url(), width: z.number() }) }, async (ctx) => {
  expectTypeOf(ctx.request.width).toEqualTypeOf<number>();
});
const tq = createTickerQ({ functions: [sendWelcome, digest, resize] });

describe("typed functions", () => {
  it("accepts the right name and request shape", () => {
    void tq.timeTickers.add({ function: "SendWelcomeEmail", request: { email: "a@b.c", name: "Ann" } });
    void tq.timeTickers.add({ function: "SendDailyDigest" });
    void tq.timeTickers.add({ function: "Resize", request: { url: "https://x", width: 10 }, priority: "High" });
    void tq.cronTickers.add({ function: "SendDailyDigest", expression: "0 0 9 * * *" });
    expectTypeOf(tq.timeTickers.add).returns.resolves.toEqualTypeOf<TimeTicker>();
  });

  it("refuses an unknown function name", () => {
    // @ts-expect-error: no such function
    void tq.timeTickers.add({ function: "SendWelcomeMail", request: { email: "a@b.c", name: "Ann" } });
    // @ts-expect-error: no such function
    void tq.cronTickers.add({ function: "Nope", expression: "* * * * *" });
  });

  it("refuses a request of the wrong shape, or a missing one", () => {
    // @ts-expect-error: name is missing
    void tq.timeTickers.add({ function: "SendWelcomeEmail", request: { email: "a@b.c" } });
    // @ts-expect-error: width must be a number
    void tq.timeTickers.add({ function: "Resize", request: { url: "https://x", width: "10" } });
    // @ts-expect-error: the request is required
    void tq.timeTickers.add({ function: "SendWelcomeEmail" });
  });

  it("types children and their run conditions", () => {
    void tq.timeTickers.add({
      function: "SendDailyDigest",
      children: [{ function: "SendWelcomeEmail", runCondition: "OnSuccess", request: { email: "a@b.c", name: "x" } }],
    });
    void tq.timeTickers.add({
      function: "SendDailyDigest",
      // @ts-expect-error: not a run condition
      children: [{ function: "SendDailyDigest", runCondition: "Whenever" }],
    });
  });

  it("types the handler's context", () => {
    defineFunction("Ctx", async (ctx, signal) => {
      expectTypeOf(ctx.id).toEqualTypeOf<string>();
      expectTypeOf(ctx.scheduledFor).toEqualTypeOf<Date>();
      expectTypeOf(ctx.type).toEqualTypeOf<"TimeTicker" | "CronTickerOccurrence">();
      expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
      expectTypeOf(ctx.skipIfAlreadyRunning).returns.toEqualTypeOf<Promise<void>>();
    });
  });
});

describe("middleware", () => {
  it("types each hook: its argument, next() and what it returns", () => {
    const full: Middleware = {
      name: "full",
      async enqueue(job, next) {
        expectTypeOf(job).toEqualTypeOf<EnqueueJob>();
        expectTypeOf(job.metadata).toEqualTypeOf<Record<string, string>>();
        expectTypeOf(job.executionTime).toEqualTypeOf<Date | null>();
        expectTypeOf(job.duplicate).toEqualTypeOf<boolean>();
        expectTypeOf(next).toEqualTypeOf<() => Promise<void>>();
        job.metadata.tenant = "acme";
        // @ts-expect-error: metadata values are strings
        job.metadata.attempt = 1;
        // @ts-expect-error: only metadata is written to
        job.functionName = "Other";
        await next();
      },
      async run(ctx, next) {
        expectTypeOf(ctx).toEqualTypeOf<TickerContext<unknown>>();
        expectTypeOf(ctx.metadata.tenant).toEqualTypeOf<string | undefined>();
        expectTypeOf(next).toEqualTypeOf<() => Promise<void>>();
        await next();
      },
      async store(call, next) {
        expectTypeOf(call.operation).toEqualTypeOf<StoreCall["operation"]>();
        expectTypeOf(call.operation).toEqualTypeOf<"claim" | "start" | "complete">();
        await next();
      },
      attach(node) {
        expectTypeOf(node).toEqualTypeOf<MiddlewareNode>();
        expectTypeOf(node.dueCounts).returns.resolves.toEqualTypeOf<Record<string, number>>();
        return () => {};
      },
    };
    const none: Middleware = {}; // every hook is optional
    createTickerQ({ functions: [sendWelcome], middleware: [full, none] });
    expectTypeOf<Middleware["enqueue"]>().toEqualTypeOf<
      ((job: EnqueueJob, next: () => Promise<void>) => Promise<void>) | undefined
    >();
    expectTypeOf<Middleware["run"]>().toEqualTypeOf<
      ((ctx: TickerContext<unknown>, next: () => Promise<void>) => Promise<void>) | undefined
    >();
  });

  it("refuses hooks of the wrong shape", () => {
    const wrong: Middleware = {
      // @ts-expect-error: a hook returns a promise
      enqueue(_job, next) {
        void next();
      },
    };
    // @ts-expect-error: not a hook
    const unknown: Middleware = { around: async () => {} };
    void [wrong, unknown];
  });
});
