/**
 * Middleware and job metadata on each store, on a test clock: the order of hooks, a context
 * enriched for the handler, metadata written at enqueue and read in run (kept by retries,
 * copied to children, on cron occurrences), a throwing or contract-breaking middleware, the
 * size limit, the store hooks, and the store's due count by function.
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  defineFunction,
  TickerQError,
  type Middleware,
  type Store,
  type StoreCall,
  type TickerContext,
} from "../../src/index.js";
import { runDue, TestClock } from "../../src/testing/index.js";
import { node, T0, type StoreFactory } from "../helpers/engine.js";
import { at, newJob } from "./fixtures.js";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

/** Records each hook's entry and exit in `log`, under `name`. */
function recorder(name: string, log: string[]): Middleware {
  return {
    name,
    async enqueue(job, next) {
      log.push(`${name}:enqueue:${job.functionName}`);
      job.metadata[name] = `${job.functionName}@${name}`;
      await next();
      log.push(`${name}:stored`);
    },
    async run(ctx, next) {
      log.push(`${name}:run:${ctx.retryCount}`);
      try {
        await next();
        log.push(`${name}:ok`);
      } catch (error) {
        log.push(`${name}:threw:${(error as Error).message}`);
        throw error;
      }
    },
  };
}

export function describeEngineMiddleware(name: string, makeStore: StoreFactory): void {
  describe(`middleware and job metadata on ${name}`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let clock: TestClock;
    const nodes: { stop(o?: { timeoutMs?: number }): Promise<void> }[] = [];
    const start = async <N extends { start(): Promise<void>; stop(): Promise<void> }>(n: N) => {
      nodes.push(n);
      await n.start();
      return n;
    };

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
      clock = new TestClock(T0);
    });
    afterEach(async () => {
      for (const n of nodes.splice(0)) await n.stop({ timeoutMs: 0 });
      await cleanup();
    });

    it("runs the first middleware outermost, stores what enqueue wrote and hands it to run", async () => {
      const log: string[] = [];
      const seen: Record<string, string>[] = [];
      const fn = defineFunction("Work", async (ctx) => {
        log.push("handler");
        seen.push({ ...ctx.metadata });
      });
      const tq = await start(node(store, clock, [fn], { middleware: [recorder("a", log), recorder("b", log)] }));
      tq.pause(); // nothing runs before the enqueue is checked
      const job = await tq.timeTickers.add({ function: "Work" });
      expect(log.splice(0)).toEqual(["a:enqueue:Work", "b:enqueue:Work", "b:stored", "a:stored"]);
      const metadata = { a: "Work@a", b: "Work@b" };
      expect(job.metadata).toEqual(metadata);
      expect((await tq.timeTickers.get(job.id))!.metadata).toEqual(metadata);
      tq.resume();
      await runDue(tq);
      expect(log).toEqual(["a:run:0", "b:run:0", "handler", "b:ok", "a:ok"]);
      expect(seen).toEqual([metadata]);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("DueDone");
    });

    it("lets run middleware enrich the handler's context", async () => {
      const tenants: unknown[] = [];
      const scope: Middleware = {
        async enqueue(job, next) {
          job.metadata.tenant = "acme";
          await next();
        },
        async run(ctx, next) {
          Object.assign(ctx, { tenant: ctx.metadata.tenant?.toUpperCase() });
          await next();
        },
      };
      const fn = defineFunction("Work", async (ctx: TickerContext<undefined>) => {
        tenants.push((ctx as TickerContext<undefined> & { tenant?: string }).tenant);
      });
      const tq = await start(node(store, clock, [fn], { middleware: [scope] }));
      await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(tenants).toEqual(["ACME"]);
    });

    it("keeps metadata across retries, each attempt through the middleware", async () => {
      const log: string[] = [];
      const attempts: [number, string | undefined][] = [];
      const fn = defineFunction("Flaky", { retries: 1, retryIntervals: [1] }, async (ctx) => {
        attempts.push([ctx.retryCount, ctx.metadata.a]);
        if (ctx.retryCount === 0) throw new Error("first fails");
      });
      const tq = await start(node(store, clock, [fn], { middleware: [recorder("a", log)] }));
      const job = await tq.timeTickers.add({ function: "Flaky" });
      await runDue(tq);
      await clock.advance(1000);
      await runDue(tq);
      expect(attempts).toEqual([
        [0, "Flaky@a"],
        [1, "Flaky@a"],
      ]);
      expect(log.slice(2)).toEqual(["a:run:0", "a:threw:first fails", "a:run:1", "a:ok"]);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({ status: "Done", metadata: { a: "Flaky@a" } });
    });

    it("copies a parent's metadata to its children, a child's own keys winning", async () => {
      const ran: [string, Record<string, string>][] = [];
      const tagging: Middleware = {
        async enqueue(job, next) {
          if (job.parentId === null) job.metadata.root = job.id;
          job.metadata.own = job.functionName;
          await next();
        },
      };
      const parent = defineFunction("Parent", async (ctx) => void ran.push([ctx.functionName, { ...ctx.metadata }]));
      const child = defineFunction("Child", async (ctx) => void ran.push([ctx.functionName, { ...ctx.metadata }]));
      const tq = await start(node(store, clock, [parent, child], { middleware: [tagging] }));
      const job = await tq.timeTickers.add({
        function: "Parent",
        children: [{ function: "Child", runCondition: "OnSuccess" }],
      });
      await runDue(tq);
      expect(ran).toEqual([
        ["Parent", { root: job.id, own: "Parent" }],
        ["Child", { root: job.id, own: "Child" }],
      ]);
    });

    it("sends the cron occurrences this node creates through enqueue", async () => {
      const kinds: string[] = [];
      const seen: Record<string, string>[] = [];
      const mark: Middleware = {
        async enqueue(job, next) {
          kinds.push(job.type);
          job.metadata.cron = job.cronTickerId ?? "none";
          await next();
        },
      };
      const fn = defineFunction("Tick", async (ctx) => void seen.push({ ...ctx.metadata }));
      const tq = await start(node(store, clock, [fn], { middleware: [mark] }));
      const ticker = await tq.cronTickers.add({ function: "Tick", expression: "*/1 * * * * *" });
      await clock.advance(1000);
      await runDue(tq);
      expect(kinds.length).toBeGreaterThan(0);
      expect(new Set(kinds)).toEqual(new Set(["CronTickerOccurrence"]));
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[0]).toEqual({ cron: ticker.id });
      await clock.advance(500); // between two planned instants
      const triggered = await tq.cronTickers.trigger(ticker.id);
      expect(triggered.metadata).toEqual({ cron: ticker.id });
    });

    it("tells enqueue which cron occurrences another node had stored first (duplicate)", async () => {
      const reached = new Map<string, boolean>();
      const watch: Middleware = {
        async enqueue(job, next) {
          await next();
          reached.set(job.id, job.duplicate);
        },
      };
      const fn = defineFunction("Tick", async () => {});
      const first = await start(node(store, clock, [fn], { middleware: [watch] }));
      const second = await start(node(store, clock, [fn], { middleware: [watch] }));
      await first.cronTickers.add({ function: "Tick", expression: "* * * * * *" });
      for (let i = 0; i < 3; i++) {
        await clock.advance(1000);
        await runDue(first);
        await runDue(second);
      }
      const stored = await store.jobList({ type: "CronTickerOccurrence", limit: 100 });
      const kept = [...reached].filter(([, duplicate]) => !duplicate).map(([id]) => id);
      expect(kept.sort()).toEqual(stored.items.map((j) => j.id).sort());
      expect(reached.size).toBeGreaterThan(kept.length); // both nodes planned the same instants
    });

    it("fails the attempt, not the engine, when run middleware throws", async () => {
      let handled = 0;
      let calls = 0;
      const policy: Middleware = {
        async run(_ctx, next) {
          if (++calls === 1) throw new Error("policy says no");
          await next();
        },
      };
      const fn = defineFunction("Work", { retries: 1, retryIntervals: [1] }, async () => void handled++);
      const tq = await start(node(store, clock, [fn], { middleware: [policy] }));
      const job = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({
        status: "Idle",
        retryCount: 1,
        exceptionMessage: "policy says no",
      });
      expect(handled).toBe(0);
      await clock.advance(1000);
      await runDue(tq);
      expect(handled).toBe(1);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("Done");
      const other = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect((await tq.timeTickers.get(other.id))!.status).toBe("DueDone");
    });

    it("fails an attempt whose middleware never calls next(), with code MIDDLEWARE", async () => {
      const lazy: Middleware = { name: "lazy", async run() {} };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [lazy] }));
      const job = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      const row = (await tq.timeTickers.get(job.id))!;
      expect(row.status).toBe("Failed");
      expect(row.exceptionMessage).toBe('middleware "lazy" returned without calling next()');
    });

    it("fails an attempt whose middleware returns before next() settles, once the handler has ended", async () => {
      let ended = false;
      const hasty: Middleware = {
        name: "hasty",
        run(_ctx, next) {
          void next(); // not awaited: the hook is done while the handler still runs
          return Promise.resolve();
        },
      };
      const fn = defineFunction("Work", async () => {
        await new Promise((resolve) => setImmediate(resolve));
        ended = true;
        throw new Error("the handler's own failure");
      });
      const tq = await start(node(store, clock, [fn], { middleware: [hasty] }));
      const job = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(ended).toBe(true);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({
        status: "Failed",
        exceptionMessage: 'middleware "hasty" returned before its next() had settled',
      });
    });

    it("fails an attempt with the error of a middleware that threw while its next() ran, once the handler has ended", async () => {
      let ended = false;
      const rash: Middleware = {
        name: "rash",
        run(_ctx, next) {
          void next();
          return Promise.reject(new Error("gave up early"));
        },
      };
      const fn = defineFunction("Work", async () => {
        await new Promise((resolve) => setImmediate(resolve));
        ended = true;
      });
      const tq = await start(node(store, clock, [fn], { middleware: [rash] }));
      const job = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(ended).toBe(true);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({ status: "Failed", exceptionMessage: "gave up early" });
    });

    it("fails the whole add when enqueue middleware throws or skips next(), storing nothing", async () => {
      const picky: Middleware = {
        async enqueue(job, next) {
          if (job.functionName === "Bad") throw new Error("refused by policy");
          if (job.functionName === "Skip") return;
          await next();
        },
      };
      const good = defineFunction("Good", async () => {});
      const bad = defineFunction("Bad", async () => {});
      const skip = defineFunction("Skip", async () => {});
      const tq = await start(node(store, clock, [good, bad, skip], { middleware: [picky] }));
      const thrown = await rejection(tq.timeTickers.addMany([{ function: "Good" }, { function: "Bad" }]));
      expect((thrown as Error).message).toBe("refused by policy");
      const skipped = await rejection(tq.timeTickers.add({ function: "Skip" }));
      expect(skipped).toBeInstanceOf(TickerQError);
      expect((skipped as TickerQError).code).toBe("MIDDLEWARE");
      const child = await rejection(
        tq.timeTickers.add({ function: "Good", children: [{ function: "Bad", runCondition: "OnSuccess" }] }),
      );
      expect((child as Error).message).toBe("refused by policy");
      expect((await tq.timeTickers.list()).total).toBe(0);
      await tq.timeTickers.add({ function: "Good" });
      expect((await tq.timeTickers.list()).total).toBe(1);
    });

    it("refuses metadata over the size limit, naming the field", async () => {
      const greedy: Middleware = {
        async enqueue(job, next) {
          job.metadata.blob = "x".repeat(5000);
          await next();
        },
      };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [greedy] }));
      const error = await rejection(tq.timeTickers.add({ function: "Work" }));
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT", field: "metadata" });
      expect((await tq.timeTickers.list()).total).toBe(0);
    });

    it("refuses too many metadata keys, a key too long and a value not a string, naming field and value", async () => {
      let write: (metadata: Record<string, string>) => void = () => {};
      const writer: Middleware = {
        async enqueue(job, next) {
          write(job.metadata);
          await next();
        },
      };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [writer] }));
      const refused = async (fill: (metadata: Record<string, string>) => void) => {
        write = fill;
        return (await rejection(tq.timeTickers.add({ function: "Work" }))) as TickerQError;
      };
      const many = await refused((m) => {
        for (let i = 0; i < 33; i++) m[`k${i}`] = "v";
      });
      expect(many).toMatchObject({ code: "INVALID_ARGUMENT", field: "metadata" });
      expect(many.message).toMatch(/^metadata of job \S+ has 33 keys, over the limit of 32: \["k0", "k1", /);
      const longKey = "k".repeat(65);
      const long = await refused((m) => void (m[longKey] = "v"));
      expect(long).toMatchObject({ code: "INVALID_ARGUMENT", field: "metadata" });
      expect(long.message).toContain(`has a key of 65 characters ("${"k".repeat(60)}`);
      expect(long.message).toMatch(/keys are 1 to 64$/);
      const number = await refused((m) => void ((m as Record<string, unknown>).attempt = 7));
      expect(number).toMatchObject({ code: "INVALID_ARGUMENT", field: "metadata.attempt" });
      expect(number.message).toMatch(/^metadata of job \S+: "attempt" must be a string; got 7$/);
      // At the limits it is stored.
      write = (m) => {
        for (let i = 0; i < 32; i++) m[`${i}`.padStart(64, "k")] = "v";
      };
      const job = await tq.timeTickers.add({ function: "Work" });
      expect(Object.keys(job.metadata ?? {})).toHaveLength(32);
      expect((await tq.timeTickers.list()).total).toBe(1);
    });

    it("fails an attempt whose middleware calls next() twice, the handler run once", async () => {
      let handled = 0;
      const twice: Middleware = {
        name: "twice",
        async run(_ctx, next) {
          await next();
          await next();
        },
      };
      const fn = defineFunction("Work", async () => void handled++);
      const tq = await start(node(store, clock, [fn], { middleware: [twice] }));
      const job = await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(handled).toBe(1);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({
        status: "Failed",
        exceptionMessage: 'middleware "twice" called next() twice',
      });
    });

    it("rejects an add whose enqueue middleware throws after next(), the batch stored whole", async () => {
      const late: Middleware = {
        name: "late",
        async enqueue(job, next) {
          await next();
          if (job.functionName === "Loud") throw new Error("audit log unreachable");
        },
      };
      const quiet = defineFunction("Quiet", async () => {});
      const loud = defineFunction("Loud", async () => {});
      const tq = await start(node(store, clock, [quiet, loud], { middleware: [late] }));
      const error = await rejection(tq.timeTickers.addMany([{ function: "Quiet" }, { function: "Loud" }]));
      expect((error as Error).message).toBe("audit log unreachable");
      // next() resolved once the batch was stored: a later throw cannot take it back, nor half of it.
      expect((await tq.timeTickers.list()).items.map((job) => job.function).sort()).toEqual(["Loud", "Quiet"]);
    });

    it("fails an add whose enqueue middleware calls next() twice, with code MIDDLEWARE", async () => {
      const twice: Middleware = {
        name: "twice",
        async enqueue(_job, next) {
          await next();
          await next();
        },
      };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [twice] }));
      const error = await rejection(tq.timeTickers.add({ function: "Work" }));
      expect(error).toBeInstanceOf(TickerQError);
      expect(error).toMatchObject({ code: "MIDDLEWARE", message: 'middleware "twice" called next() twice' });
      // The first next() stored it: the rejection reports a broken middleware, not a failed insert.
      expect((await tq.timeTickers.list()).total).toBe(1);
    });

    it("fails a batch whose enqueue middleware returns before its job is stored, storing nothing", async () => {
      const firstId = "00000000-0000-4000-8000-00000000000a";
      const hasty: Middleware = {
        name: "hasty",
        async enqueue(job, next) {
          if (job.id === firstId) {
            void next(); // not awaited: this hook is done before the batch is written
            return;
          }
          // The other job's hook calls next() only after the first one has returned.
          await new Promise((resolve) => setImmediate(resolve));
          await next();
        },
      };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [hasty] }));
      const error = await rejection(tq.timeTickers.addMany([{ function: "Work", id: firstId }, { function: "Work" }]));
      expect(error).toMatchObject({
        code: "MIDDLEWARE",
        message: `the enqueue of job ${firstId} ended before it was stored`,
      });
      expect((await tq.timeTickers.list()).total).toBe(0);
    });

    it("wraps the engine's claim, start and completion calls with store hooks", async () => {
      const calls: StoreCall["operation"][] = [];
      const spy: Middleware = {
        async store(call, next) {
          calls.push(call.operation);
          expect(call.store).toBe(store.name);
          await next();
        },
      };
      const fn = defineFunction("Work", async () => {});
      const tq = await start(node(store, clock, [fn], { middleware: [spy], prefetch: 1 }));
      await tq.timeTickers.add({ function: "Work" });
      await runDue(tq);
      expect(calls).toContain("claim");
      expect(calls).toContain("complete");
    });

    it("stores metadata and counts due Idle jobs by function (the store)", async () => {
      await store.init();
      await store.jobInsertMany({
        jobs: [
          newJob({ function: "A", metadata: { traceparent: "00-abc-def-01", "k.é": "ü" } }),
          newJob({ function: "A" }),
          newJob({ function: "B" }),
          newJob({ function: "B", executionTime: at(60) }),
        ],
      });
      const counts = await store.jobDueCountByFunction({ now: at(1) });
      expect(counts).toEqual({ A: 2, B: 1 });
      const claimed = await store.jobClaimDue({
        nodeId: "n1",
        now: at(1),
        until: at(1),
        limit: 10,
        longRunningLimit: 0,
      });
      const withMetadata = claimed.filter((job) => job.metadata !== null);
      expect(withMetadata.map((job) => job.metadata)).toEqual([{ traceparent: "00-abc-def-01", "k.é": "ü" }]);
      expect(await store.jobDueCountByFunction({ now: at(1) })).toEqual({});
    });
  });
}
