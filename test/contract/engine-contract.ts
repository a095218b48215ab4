/**
 * The engine's behaviour suite: every state, run condition, priority, retry, cancel and
 * shutdown rule of the core, run against each store through a test clock (no sleeps).
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  defineFunction,
  TerminateExecutionError,
  type RunCondition,
  type Store,
  type TickerContext,
  type TickerQ,
  type TickerStatus,
} from "../../src/index.js";
import { heartbeat, runDue, settle, TestClock } from "../../src/testing/index.js";
import { MAX_EXCEPTION_DETAILS, MAX_EXCEPTION_MESSAGE } from "../../src/executor.js";
import {
  addRunning,
  gate,
  node as baseNode,
  recoverLeasesOf,
  T0,
  waitFor,
  type StoreFactory,
} from "../helpers/engine.js";
import type { AnyFunctionDefinition, TickerQOptions } from "../../src/index.js";

/**
 * `nodeOptions` adds options to every node the suite makes (a fresh coordinator per node, for
 * the suite on SQL + Redis).
 */
export function describeEngineContract(
  name: string,
  makeStore: StoreFactory,
  nodeOptions?: () => Partial<TickerQOptions>,
): void {
  const node = <const F extends readonly AnyFunctionDefinition[]>(
    s: Store,
    c: TestClock,
    functions: F,
    options: Partial<TickerQOptions<F>> = {},
  ) => baseNode(s, c, functions, { ...(nodeOptions?.() as Partial<TickerQOptions<F>>), ...options });
  describe(`engine on ${name}`, () => {
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

    const ok = defineFunction("Ok", async (_ctx: TickerContext<{ n: number } | undefined>) => {});
    const boom = defineFunction("Boom", async () => {
      throw new Error("boom");
    });

    it("runs a due time ticker once and ends it DueDone with its history", async () => {
      const seen: TickerContext<{ n: number } | undefined>[] = [];
      const fn = defineFunction("Record", async (ctx: TickerContext<{ n: number } | undefined>) => {
        seen.push(ctx);
      });
      const tq = await start(node(store, clock, [fn]));
      const job = await tq.timeTickers.add({ function: "Record", request: { n: 7 }, description: "d" });
      expect(job.status).toBe("Idle");
      expect(await runDue(tq)).toBe(1);
      const done = await tq.timeTickers.get(job.id);
      expect(done).toMatchObject({ status: "DueDone", retryCount: 0, lockHolder: null, description: "d" });
      expect(done!.executedAt!.getTime()).toBe(T0.getTime());
      expect(done!.elapsedMs).toBe(0);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({
        id: job.id,
        type: "TimeTicker",
        functionName: "Record",
        retryCount: 0,
        isDue: true,
        request: { n: 7 },
        cronTickerId: null,
        parentId: null,
      });
      expect(seen[0]!.scheduledFor.getTime()).toBe(T0.getTime());
      const attempts = await tq.attempts(job.id);
      expect(attempts).toEqual([expect.objectContaining({ status: "DueDone", attempt: 0, nodeId: tq.nodeId })]);
    });

    it("add and addMany return each top-level ticker exactly as get() reads it back", async () => {
      const tq = node(store, clock, [ok]); // not started: nothing runs them meanwhile
      const added = [
        await tq.timeTickers.add({ function: "Ok" }),
        ...(await tq.timeTickers.addMany([
          { function: "Ok", request: { n: 1 }, priority: "High", retries: 2, retryIntervals: [0.5] },
          { function: "Ok", request: null as never, description: "null request" },
          {
            function: "Ok",
            request: { n: 2, at: new Date(T0), gone: undefined } as never,
            executionTime: new Date(T0.getTime() + 1_000),
            children: [{ function: "Ok", runCondition: "OnSuccess", request: { n: 3 } }],
          },
        ])),
      ];
      expect(added.map((ticker) => ticker.request)).toEqual([
        undefined,
        { n: 1 },
        null,
        { n: 2, at: T0.toISOString() },
      ]);
      for (const ticker of added) expect(await tq.timeTickers.get(ticker.id)).toEqual(ticker);
      expect((await tq.timeTickers.list({ parentId: added[3]!.id })).items).toHaveLength(1);
    });

    it("ends a synchronous handler's run by what it returns or throws, and awaits a thenable that is not a Promise", async () => {
      const order: string[] = [];
      const syncOk = defineFunction("SyncOk", (ctx: TickerContext<string>) => void order.push(`ok ${ctx.request}`));
      const syncThrow = defineFunction("SyncThrow", () => {
        throw new Error("thrown at once");
      });
      // A bare thenable: its end comes in a later turn, and the run waits for it.
      const thenable = defineFunction("Thenable", () => ({
        then(resolve: (value: unknown) => void, reject: (error: unknown) => void) {
          setImmediate(() => (order.push("thenable settled"), reject(new Error("rejected later"))));
        },
      }));
      const tq = await start(node(store, clock, [syncOk, syncThrow, thenable]));
      const a = await tq.timeTickers.add({ function: "SyncOk", request: "a" });
      const b = await tq.timeTickers.add({ function: "SyncThrow" });
      const c = await tq.timeTickers.add({ function: "Thenable" });
      await runDue(tq);
      expect(await tq.timeTickers.get(a.id)).toMatchObject({ status: "DueDone" });
      expect(await tq.timeTickers.get(b.id)).toMatchObject({ status: "Failed", exceptionMessage: "thrown at once" });
      expect(await tq.timeTickers.get(c.id)).toMatchObject({ status: "Failed", exceptionMessage: "rejected later" });
      expect(order.sort()).toEqual(["ok a", "thenable settled"]);
    });

    it("does not run a ticker before its time, and runs it when the clock gets there", async () => {
      const tq = await start(node(store, clock, [ok]));
      const job = await tq.timeTickers.add({ function: "Ok", executionTime: new Date(T0.getTime() + 60_000) });
      expect(await runDue(tq)).toBe(0);
      await clock.advance(59_999);
      await runDue(tq);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("Idle");
      await clock.advance(1);
      await runDue(tq);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("DueDone");
    });

    /** The store with every jobClaimDue call counted, and the size of each non-empty claim. */
    const countingClaims = (inner: Store) => {
      const seen = { calls: 0, claims: [] as number[] };
      const counted: Store = Object.create(inner);
      counted.jobClaimDue = async (params) => {
        seen.calls++;
        const jobs = await inner.jobClaimDue(params);
        if (jobs.length > 0) seen.claims.push(jobs.length);
        return jobs;
      };
      return { counted, seen };
    };

    it("claims the look-ahead before a job is due, taking the jobs due soon after in the same claim", async () => {
      const ran: number[] = [];
      const fn = defineFunction("Soon", async () => void ran.push(clock.now()));
      const { counted, seen } = countingClaims(store);
      const tq = await start(node(counted, clock, [fn], { lookaheadMs: 50 }));
      // The start's own cycles end first: one still running (its I/O is real, however slow)
      // would claim on a wake-up while the clock stands at +49, taking the jobs due by +124.
      await settle(tq);
      const at = (ms: number) => ({ function: "Soon" as const, executionTime: new Date(T0.getTime() + ms) });
      await tq.timeTickers.addMany([at(100), at(120), at(200)]);
      await clock.advance(49);
      await settle(tq);
      expect(seen.claims).toEqual([]);
      await clock.advance(1); // +50: the jobs due by +125 (look-ahead and half again) come in one claim
      await settle(tq);
      expect(seen.claims).toEqual([2]);
      // Each job's start write is issued a moment before it is due (+80, +100, +180) and its
      // handler waits for it; a test clock does not wait for I/O, so each step waits for the
      // write (the InProgress event) before the clock reaches the due instant.
      const inProgress = () =>
        waitFor<{ status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.status === "InProgress",
        );
      for (const [step, event] of [
        [80, inProgress],
        [100, inProgress],
        [120, null],
        [150, null],
        [180, inProgress],
        [200, null],
      ] as const) {
        const written = event?.();
        await clock.set(T0.getTime() + step);
        await written;
      }
      await settle(tq);
      expect(ran).toEqual([T0.getTime() + 100, T0.getTime() + 120, T0.getTime() + 200]);
      expect(seen.claims).toEqual([2, 1]);
    });

    it("a finished job frees its slot without a claim when nothing else is due (unless nothing else would tell)", async () => {
      const { counted, seen } = countingClaims(store);
      let callsWhileRunning = -1;
      const fn = defineFunction("Counted", async () => {
        callsWhileRunning = seen.calls;
      });
      const tq = await start(node(counted, clock, [fn]));
      await settle(tq); // the start's own claim is over
      const done = waitFor<{ status: string }>(
        (l) => tq.events.on("changed", l),
        (c) => c.status === "DueDone",
      );
      await tq.timeTickers.add({ function: "Counted" }); // its signal starts the claim
      await done;
      await settle(tq);
      expect(callsWhileRunning).toBeGreaterThan(0);
      // Where no signal, watch or coordinator reports other processes' new work (MySQL), it looks once.
      const { shared, signalsAcrossProcesses, wakesOnOtherWrites } = store.capabilities;
      const told = signalsAcrossProcesses || wakesOnOtherWrites || tq.options.coordinator?.carriesSignals;
      const looks = shared && !told ? 1 : 0;
      expect(seen.calls).toBe(callsWhileRunning + looks);
    });

    it("moves through Queued and InProgress, visible in events and in the store", async () => {
      const inside = gate<TickerStatus>();
      const fn = defineFunction("Look", async (ctx) => {
        inside.open((await tq.job(ctx.id))!.status);
      });
      const tq = await start(node(store, clock, [fn]));
      const statuses: TickerStatus[] = [];
      tq.events.on("changed", (change) => statuses.push(change.status));
      await tq.timeTickers.add({ function: "Look" });
      await runDue(tq);
      expect(await inside.promise).toBe("InProgress");
      expect(statuses).toEqual(["Idle", "Queued", "InProgress", "DueDone"]);
    });

    it("ends overdue work as Done, not DueDone, and tells the handler it is late", async () => {
      let isDue: boolean | undefined;
      const fn = defineFunction("Late", async (ctx) => {
        isDue = ctx.isDue;
      });
      const first = node(store, clock, [fn]);
      const job = await first.timeTickers.add({ function: "Late", executionTime: new Date(T0.getTime() + 1000) });
      await clock.advance(60_000); // the process was down when it was due
      const tq = await start(node(store, clock, [fn]));
      await runDue(tq);
      expect(isDue).toBe(false);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("Done");
    });

    it("retries with fractional intervals, the last repeating, then fails", async () => {
      const errors: unknown[] = [];
      const fn = defineFunction("Flaky", { retries: 3, retryIntervals: [1.5, 0.25] }, async () => {
        throw new Error("nope");
      });
      const tq = await start(
        node(store, clock, [fn], { onException: (error, info) => errors.push([info.retryCount, info.willRetry]) }),
      );
      const job = await tq.timeTickers.add({ function: "Flaky" });
      await runDue(tq);
      let row = (await tq.timeTickers.get(job.id))!;
      expect(row).toMatchObject({ status: "Idle", retryCount: 1, exceptionMessage: "nope" });
      expect(row.executionTime!.getTime()).toBe(T0.getTime() + 1500);
      expect(row.exceptionDetails).toContain("Error: nope");
      await clock.advance(1499);
      expect(await runDue(tq)).toBe(0);
      await clock.advance(1);
      await runDue(tq);
      row = (await tq.timeTickers.get(job.id))!;
      expect(row.executionTime!.getTime()).toBe(T0.getTime() + 1750);
      await clock.advance(250);
      await runDue(tq);
      row = (await tq.timeTickers.get(job.id))!;
      expect(row.executionTime!.getTime()).toBe(T0.getTime() + 2000); // 0.25 s again: the last repeats
      await clock.advance(250);
      await runDue(tq);
      row = (await tq.timeTickers.get(job.id))!;
      expect(row).toMatchObject({ status: "Failed", retryCount: 3 });
      expect(errors).toEqual([
        [0, true],
        [1, true],
        [2, true],
        [3, false],
      ]);
      const attempts = await tq.attempts(job.id);
      expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
        [0, "Failed"],
        [1, "Failed"],
        [2, "Failed"],
        [3, "Failed"],
      ]);
    });

    it("uses exponential backoff when a job has retries but no intervals", async () => {
      const tq = await start(node(store, clock, [boom]));
      const job = await tq.timeTickers.add({ function: "Boom", retries: 2 });
      await runDue(tq);
      expect((await tq.timeTickers.get(job.id))!.executionTime!.getTime()).toBe(T0.getTime() + 30_000);
      await clock.advance(30_000);
      await runDue(tq);
      expect((await tq.timeTickers.get(job.id))!.executionTime!.getTime()).toBe(T0.getTime() + 30_000 + 60_000);
    });

    it("ends a run Skipped on TerminateExecutionError, without retrying", async () => {
      const fn = defineFunction("Terminate", { retries: 5 }, async () => {
        throw new TerminateExecutionError("not today");
      });
      const tq = await start(node(store, clock, [fn]));
      const job = await tq.timeTickers.add({ function: "Terminate" });
      await runDue(tq);
      expect(await tq.timeTickers.get(job.id)).toMatchObject({
        status: "Skipped",
        retryCount: 0,
        exceptionMessage: "not today",
      });
    });

    it("ends a run Cancelled on ctx.requestCancellation(), aborting its signal and calling onCancelled", async () => {
      let aborted = false;
      const cancelled: string[] = [];
      const fn = defineFunction("SelfCancel", { retries: 3 }, async (ctx, signal) => {
        ctx.requestCancellation();
        aborted = signal.aborted && ctx.signal.aborted;
      });
      const tq = await start(node(store, clock, [fn], { onCancelled: (info) => cancelled.push(info.id) }));
      const job = await tq.timeTickers.add({ function: "SelfCancel" });
      await runDue(tq);
      expect(aborted).toBe(true);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("Cancelled");
      expect(cancelled).toEqual([job.id]);
    });

    it("gives a handler that declares only ctx its signal through ctx.signal, read before or after a cancel", async () => {
      // Such a handler is not handed a signal; ctx.signal makes it on first read, in either state.
      const seen: unknown[][] = [];
      const first = defineFunction("ReadsFirst", async (ctx: TickerContext<undefined>) => {
        const signal = ctx.signal;
        const aborted = new Promise((resolve) => signal.addEventListener("abort", resolve, { once: true }));
        ctx.requestCancellation();
        await aborted;
        seen.push(["first", signal.aborted, signal === ctx.signal, { ...ctx }.signal === signal]);
      });
      const late = defineFunction("ReadsLate", async (ctx: TickerContext<undefined>) => {
        ctx.requestCancellation();
        const reason = ctx.signal.reason as { code?: string };
        seen.push(["late", ctx.signal.aborted, reason.code]);
        ctx.signal.throwIfAborted();
      });
      const tq = await start(node(store, clock, [first, late]));
      const a = await tq.timeTickers.add({ function: "ReadsFirst" });
      await runDue(tq);
      const b = await tq.timeTickers.add({ function: "ReadsLate" });
      await runDue(tq);
      expect(seen).toEqual([
        ["first", true, true, true],
        ["late", true, "CANCELLED"],
      ]);
      for (const job of [a, b]) expect((await tq.timeTickers.get(job.id))!.status).toBe("Cancelled");
    });

    it("cancels by id: an Idle job at once, a running one through its signal", async () => {
      const started = gate();
      const fn = defineFunction("Wait", async (_ctx, signal) => {
        started.open();
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      });
      const tq = await start(node(store, clock, [fn, ok]));
      const idle = await tq.timeTickers.add({ function: "Ok", executionTime: new Date(T0.getTime() + 5000) });
      expect(await tq.cancel(idle.id)).toBe("cancelled");
      expect((await tq.timeTickers.get(idle.id))!.status).toBe("Cancelled");
      const running = await tq.timeTickers.add({ function: "Wait" });
      const done = runDue(tq);
      await started.promise;
      expect(await tq.cancel(running.id)).toBe("requested");
      await done;
      expect((await tq.timeTickers.get(running.id))!.status).toBe("Cancelled");
      expect(await tq.cancel(running.id)).toBe("final");
      expect(await tq.cancel("00000000-0000-0000-0000-000000000000")).toBe("not-found");
    });

    it("cancels a job running on another node", async () => {
      const started = gate();
      const onA = defineFunction("Remote", async (_ctx, signal) => {
        started.open();
        await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
      });
      const a = await start(node(store, clock, [onA], { nodeId: "runner" }));
      const b = await start(node(store, clock, [onA], { nodeId: "operator" }));
      b.pause(); // only "runner" claims
      const job = await a.timeTickers.add({ function: "Remote" });
      const done = runDue(a);
      await started.promise;
      expect(await b.cancel(job.id)).toBe("requested");
      await heartbeat(a); // the fallback path where signals do not cross processes
      await done;
      expect((await a.timeTickers.get(job.id))!.status).toBe("Cancelled");
    });

    it("fails on a node without the job's function with UNKNOWN_FUNCTION; its retry runs where it is registered", async () => {
      const common = defineFunction("Common", async () => {});
      const added = defineFunction("AddedInV2", { retries: 1, retryIntervals: [1] }, async () => {});
      const older = await start(node(store, clock, [common], { nodeId: "v1" }));
      const newer = await start(node(store, clock, [common, added], { nodeId: "v2" }));
      newer.pause(); // only the older node claims, as one might in a rolling deploy
      const job = await newer.timeTickers.add({ function: "AddedInV2" });
      await runDue(older);
      expect(await newer.timeTickers.get(job.id)).toMatchObject({
        status: "Idle",
        retryCount: 1,
        exceptionMessage: 'function "AddedInV2" is not registered on node v1',
      });
      older.pause();
      newer.resume();
      await clock.advance(1000);
      await runDue(newer);
      expect((await newer.timeTickers.get(job.id))!.status).toBe("Done");
      expect((await newer.attempts(job.id)).map((a) => [a.nodeId, a.status])).toEqual([
        ["v1", "Failed"],
        ["v2", "Done"],
      ]);
    });

    it("deletes finished jobs and their history after retentionDays, keeping the rest", async () => {
      const tq = await start(
        node(store, clock, [ok], { retentionDays: 1, pollIntervalMs: 3_600_000, heartbeatIntervalMs: 3_600_000 }),
      );
      const old = await tq.timeTickers.add({ function: "Ok" });
      const pending = await tq.timeTickers.add({
        function: "Ok",
        executionTime: new Date(T0.getTime() + 3 * 86_400_000),
      });
      await runDue(tq);
      await clock.advance(2 * 86_400_000);
      await heartbeat(tq);
      expect(await tq.timeTickers.get(old.id)).toBeNull();
      expect(await tq.attempts(old.id)).toEqual([]);
      expect((await tq.timeTickers.get(pending.id))!.status).toBe("Idle");
    });

    it("indexes new jobs for the search at its heartbeat, past one batch, and finds them before and after", async () => {
      const tq = await start(node(store, clock, [ok], { pollIntervalMs: 3_600_000, heartbeatIntervalMs: 3_600_000 }));
      const later = new Date(T0.getTime() + 86_400_000);
      await tq.timeTickers.addMany(
        Array.from({ length: 2_500 }, (_, i) => ({ function: "Ok", description: `order ${i}`, executionTime: later })),
      );
      const found = async () => (await tq.timeTickers.list({ search: "ORDER 2499" })).items.map((j) => j.description);
      expect(await found()).toEqual(["order 2499"]);
      await heartbeat(tq);
      // That beat indexed all of them (on PostgreSQL: five batches out of the backlog, migration 9).
      expect(await store.searchCatchUp({ limit: 10 })).toBe(0);
      expect(await found()).toEqual(["order 2499"]);
      await tq.timeTickers.update((await tq.timeTickers.list({ search: "order 7" })).items[0]!.id, {
        description: "edited",
      });
      expect(await found()).toEqual(["order 2499"]);
      expect((await tq.timeTickers.list({ search: "EDITED" })).items.map((j) => j.description)).toEqual(["edited"]);
    });

    it("starts a job claimed ahead on its instant, and a cancel in the meantime means it never runs", async () => {
      const ran: number[] = [];
      const fn = defineFunction("Ahead", async () => {
        ran.push(clock.now());
      });
      const tq = await start(node(store, clock, [fn], { lookaheadMs: 50 }));
      const due = new Date(T0.getTime() + 100);
      const cancelled = await tq.timeTickers.add({ function: "Ahead", executionTime: due });
      await tq.timeTickers.add({ function: "Ahead", executionTime: due });
      const waiting = waitFor<{ id: string; status: string }>(
        (l) => tq.events.on("changed", l),
        (c) => c.id === cancelled.id && c.status === "InProgress",
      );
      await clock.advance(85); // claimed at +50, released at +80 for its start write, due at +100
      await waiting;
      expect(ran).toEqual([]);
      expect(await tq.cancel(cancelled.id)).toBe("requested");
      await clock.advance(15);
      await settle(tq);
      expect(ran).toEqual([due.getTime()]);
      expect((await tq.timeTickers.get(cancelled.id))!.status).toBe("Cancelled");
      expect((await tq.attempts(cancelled.id)).map((a) => a.status)).toEqual(["Cancelled"]);
    });

    it("starts a job held for its instant on time while a claim is still in flight", async () => {
      const ran: string[] = [];
      const fn = defineFunction("Held", async (ctx: TickerContext<string>) => void ran.push(ctx.request));
      // A claim that stalls once, on demand: the gate keeps it in flight (a slow database).
      const stall = { armed: false, entered: gate(), release: gate() };
      const stalled: Store = Object.create(store);
      stalled.jobClaimDue = async (params) => {
        if (stall.armed) {
          stall.armed = false;
          stall.entered.open();
          await stall.release.promise;
        }
        return store.jobClaimDue(params);
      };
      const tq = await start(node(stalled, clock, [fn], { lookaheadMs: 50 }));
      const due = new Date(T0.getTime() + 100);
      const held = await tq.timeTickers.add({ function: "Held", executionTime: due, request: "held" });
      await clock.advance(50); // claimed ahead: held on a timer for +100
      await settle(tq);
      expect(ran).toEqual([]);
      stall.armed = true;
      await tq.timeTickers.add({ function: "Held", request: "now" }); // its claim starts and stalls
      await stall.entered.promise;
      const done = waitFor<{ id: string; status: string }>(
        (l) => tq.events.on("changed", l),
        (c) => c.id === held.id && c.status === "DueDone",
      );
      await clock.advance(50);
      await done; // while the claim is still in flight (it returns only below)
      expect(ran).toEqual(["held"]);
      stall.release.open();
      await settle(tq);
      expect(ran).toEqual(["held", "now"]);
    });

    describe("prefetch", () => {
      /** A Blocker function that keeps its slot until `release` opens, so later jobs wait Queued. */
      const holdSlot = () => {
        const release = gate();
        const blocker = defineFunction("Blocker", async () => {
          await release.promise;
        });
        return { release, blocker };
      };
      /** Adds a Blocker job and resolves once it runs in the node's only slot. */
      const occupySlot = async (tq: TickerQ<any>) => {
        const blocked = waitFor<{ function: string; status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.function === "Blocker" && c.status === "InProgress",
        );
        await tq.timeTickers.add({ function: "Blocker" });
        void runDue(tq);
        await blocked;
      };

      it("holds claimed jobs beyond the slots, started by the claim, and runs each as a slot frees, every run recorded", async () => {
        const { release, blocker } = holdSlot();
        const ran: string[] = [];
        const fn = defineFunction("Quick", async (ctx: TickerContext<string>) => {
          ran.push(ctx.request);
        });
        const tq = node(store, clock, [blocker, fn], { maxConcurrency: 1, prefetch: 5 });
        // A millisecond apart, so the claim order (execution time, then id) is known.
        const at = (ms: number) => new Date(T0.getTime() - 10 + ms);
        const first = await tq.timeTickers.add({ function: "Blocker", executionTime: at(0) });
        const held = await tq.timeTickers.addMany([
          { function: "Quick", request: "a", executionTime: at(1) },
          {
            function: "Quick",
            request: "b",
            executionTime: at(2),
            children: [{ function: "Quick", request: "b-child", runCondition: "InProgress" }],
          },
          { function: "Quick", request: "c", executionTime: at(3) },
        ]);
        await start(tq);
        const blocked = waitFor<{ id: string; status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.id === first.id && c.status === "InProgress",
        );
        void runDue(tq);
        await blocked;
        // One claim took the Blocker and the three, and started them all: they wait for the slot.
        for (const ticker of held) {
          expect(await tq.timeTickers.get(ticker.id)).toMatchObject({ status: "InProgress", lockHolder: tq.nodeId });
        }
        expect(ran).toEqual([]);
        release.open();
        await runDue(tq);
        expect(ran.slice(0, 3)).toEqual(["a", "b", "c"]);
        expect(ran).toHaveLength(4);
        expect(ran).toContain("b-child");
        for (const ticker of held) {
          const done = (await tq.timeTickers.get(ticker.id))!;
          expect(done).toMatchObject({ status: "DueDone", lockHolder: null });
          expect(done.executedAt).not.toBeNull();
          expect((await tq.attempts(ticker.id)).map((a) => a.status)).toEqual(["DueDone"]);
        }
      });

      it("ends Cancelled, without running it, a held job cancelled meanwhile on this node or another", async () => {
        const { release, blocker } = holdSlot();
        const ran: string[] = [];
        const fn = defineFunction("Quick", async (ctx: TickerContext<string>) => {
          ran.push(ctx.request);
        });
        const tq = await start(node(store, clock, [blocker, fn], { maxConcurrency: 1, prefetch: 5 }));
        const other = await start(node(store, clock, [blocker, fn], { nodeId: "other" }));
        other.pause();
        await occupySlot(tq);
        let claimed = 0;
        const allClaimed = waitFor<{ status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.status === "Queued" && ++claimed === 3,
        );
        const [here, there, kept] = await tq.timeTickers.addMany([
          { function: "Quick", request: "here" },
          { function: "Quick", request: "there" },
          { function: "Quick", request: "kept" },
        ]);
        await allClaimed; // the add's signal woke the node, which holds them started
        expect((await tq.timeTickers.get(there!.id))!.status).toBe("InProgress");
        const cancelled = (id: string) =>
          waitFor<{ id: string; status: string }>(
            (l) => tq.events.on("changed", l),
            (c) => c.id === id && c.status === "Cancelled",
          );
        const bothEnded = Promise.all([cancelled(here!.id), cancelled(there!.id)]);
        // Started, so the cancel is a request; the holder ends them without running them.
        expect(await tq.cancel(here!.id)).toBe("requested");
        expect(await other.cancel(there!.id)).toBe("requested");
        await bothEnded;
        release.open();
        await runDue(tq);
        expect(ran).toEqual(["kept"]);
        for (const id of [here!.id, there!.id]) {
          expect(await tq.timeTickers.get(id)).toMatchObject({ status: "Cancelled", lockHolder: null });
          expect((await tq.attempts(id)).map((a) => a.status)).toEqual(["Cancelled"]);
        }
        expect((await tq.timeTickers.get(kept!.id))!.status).toBe("DueDone");
      });

      it("never starts a job claimed ahead whose start write finds it taken away, and writes nothing of that run", async () => {
        const runs: string[] = [];
        const fn = defineFunction("Patient", async (ctx) => {
          runs.push(ctx.nodeId);
        });
        const tq = await start(node(store, clock, [fn], { prefetch: 5, lookaheadMs: 100 }));
        const queued = waitFor<{ function: string; status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.function === "Patient" && c.status === "Queued",
        );
        const job = await tq.timeTickers.add({ function: "Patient", executionTime: new Date(clock.now() + 50) });
        await queued;
        // Claimed ahead of its instant: held Queued, its start write to come.
        expect(await tq.timeTickers.get(job.id)).toMatchObject({ status: "Queued", lockHolder: tq.nodeId });
        // Another node declares this one dead: its leases go back to Idle, with no signal to it.
        // (Paused and settled first: a claim cycle still in flight would take the job again.)
        tq.pause();
        await settle(tq);
        await recoverLeasesOf(store, clock, tq.nodeId);
        await clock.advance(50);
        await settle(tq);
        // The handler waits for its InProgress write, which found the job gone: it never ran.
        expect(runs).toEqual([]);
        expect(await tq.timeTickers.get(job.id)).toMatchObject({ status: "Idle", lockHolder: null });
        expect(await tq.attempts(job.id)).toEqual([]);
        tq.resume();
        await runDue(tq);
        expect(runs).toEqual([tq.nodeId]);
        expect((await tq.attempts(job.id)).map((a) => a.status)).toEqual(["DueDone"]);
      });
    });

    // Retried once: one 30 s timeout on PostgreSQL + Redis in a fresh-clone CI run (2026-12-01) that
    // ten runs, alone and beside other suites, did not reproduce. heldStarted now records changes from
    // before its add, in case an event came before its listener; the retry stays until the cause is known.
    describe("adaptive claiming (the default)", { retry: 1 }, () => {
      /**
       * A Blocker runs alone in the only slot for 5 ms of the test clock, with jobs a and b
       * due meanwhile: one start in 5 ms gives a window of one job beyond the slot, so when
       * the Blocker ends the next claim takes a and b and starts both; a runs (until `holdA`
       * opens or its signal aborts) and b waits here InProgress for the slot.
       */
      const heldStarted = async () => {
        const release = gate();
        const holdA = gate();
        const blocker = defineFunction("Blocker", async () => {
          await release.promise;
        });
        const ran: string[] = [];
        const fn = defineFunction("Quick", async (ctx: TickerContext<string>) => {
          ran.push(ctx.request);
          if (ctx.request !== "a") return;
          await Promise.race([
            holdA.promise,
            new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true })),
          ]);
          ctx.signal.throwIfAborted();
        });
        const tq = await start(node(store, clock, [blocker, fn], { maxConcurrency: 1 }));
        const blocked = waitFor<{ function: string; status: string }>(
          (l) => tq.events.on("changed", l),
          (c) => c.function === "Blocker" && c.status === "InProgress",
        );
        await tq.timeTickers.add({ function: "Blocker" });
        // Drives the Blocker; it ends with the test (after a failed attempt, the store may close under it).
        runDue(tq).catch(() => undefined);
        await blocked;
        // Every change from here on, recorded before the add (so none is missed, whenever a claim lands).
        const seen: { id: string; status: string }[] = [];
        let check = () => {};
        const off = tq.events.on("changed", (c) => {
          seen.push({ id: c.id, status: c.status });
          check();
        });
        const at = (ms: number) => new Date(T0.getTime() - 10 + ms);
        const [a, b] = await tq.timeTickers.addMany([
          { function: "Quick", request: "a", executionTime: at(1) },
          { function: "Quick", request: "b", executionTime: at(2) },
        ]);
        // a is awaited running and b claimed: a wake-up for this add that reaches the node late
        // (a signal through PostgreSQL or Redis, after the clock moved) may claim a alone while
        // the Blocker still runs; b is then claimed (and started) when the Blocker ends.
        const has = (id: string, status: string) => seen.some((c) => c.id === id && c.status === status);
        const started = new Promise<void>((resolve) => {
          check = () => {
            if (has(a!.id, "InProgress") && has(b!.id, "Queued")) resolve();
          };
          check();
        });
        await clock.advance(5);
        release.open();
        await started;
        off();
        return { tq, a: a!, b: b!, ran, holdA };
      };

      it("starts a batch with its claim while a backlog of short jobs exists; the one waiting for a slot then runs", async () => {
        const { tq, a, b, ran, holdA } = await heldStarted();
        // The claim started b too: InProgress under this node's lease, its handler not yet called.
        expect(await tq.timeTickers.get(b.id)).toMatchObject({ status: "InProgress", lockHolder: tq.nodeId });
        expect(ran).toEqual(["a"]);
        holdA.open();
        await runDue(tq);
        expect(ran).toEqual(["a", "b"]);
        for (const id of [a.id, b.id]) {
          expect(await tq.timeTickers.get(id)).toMatchObject({ status: "DueDone", lockHolder: null });
          expect((await tq.attempts(id)).map((x) => x.status)).toEqual(["DueDone"]);
        }
      });

      it("ends Cancelled a job its claim started that is cancelled while it waits for a slot, without running it", async () => {
        const { tq, a, b, ran, holdA } = await heldStarted();
        expect(await tq.cancel(b.id)).toBe("requested");
        holdA.open();
        await runDue(tq);
        expect(ran).toEqual(["a"]);
        expect(await tq.timeTickers.get(b.id)).toMatchObject({ status: "Cancelled", lockHolder: null });
        expect((await tq.attempts(b.id)).map((x) => x.status)).toEqual(["Cancelled"]);
        expect((await tq.timeTickers.get(a.id))!.status).toBe("DueDone");
      });

      it("hands a job its claim started back to Idle on stop, no attempt used", async () => {
        const { tq, a, b, ran } = await heldStarted();
        await tq.stop({ timeoutMs: 0 });
        expect(ran).toEqual(["a"]);
        // The run of a was interrupted by the shutdown, b never began: neither used an attempt.
        for (const id of [a.id, b.id]) {
          expect(await store.jobGet({ id })).toMatchObject({ status: "Idle", lockHolder: null, retryCount: 0 });
        }
        expect(await store.attemptList({ jobId: b.id })).toEqual([]);
      });
    });

    it("runs High before Normal before Low when one slot is free", async () => {
      const order: string[] = [];
      const fn = defineFunction("Prio", async (ctx: TickerContext<string>) => {
        order.push(ctx.request);
      });
      // Added before the node claims: a batch committed in the middle of a claim may be
      // seen by one priority's query and not another's (each statement has its snapshot).
      const tq = node(store, clock, [fn], { maxConcurrency: 1 });
      await tq.timeTickers.addMany([
        { function: "Prio", request: "low", priority: "Low" },
        { function: "Prio", request: "normal" },
        { function: "Prio", request: "high", priority: "High" },
        { function: "Prio", request: "low2", priority: "Low", executionTime: new Date(T0.getTime() - 1000) },
      ]);
      await start(tq);
      await runDue(tq);
      expect(order).toEqual(["high", "normal", "low2", "low"]);
    });

    it("runs LongRunning jobs outside the slots, so they never block short ones", async () => {
      const release = gate();
      const ran: string[] = [];
      const long = defineFunction("Long", { priority: "LongRunning" }, async () => {
        await release.promise;
        ran.push("long");
      });
      const short = defineFunction("Short", async () => {
        ran.push("short");
      });
      const tq = await start(node(store, clock, [long, short], { maxConcurrency: 1 }));
      const finished = waitFor<{ function: string }>(
        (l) => tq.events.on("executed", l),
        (e) => e.function === "Short",
      );
      await tq.timeTickers.add({ function: "Long" });
      await tq.timeTickers.add({ function: "Long" });
      await tq.timeTickers.add({ function: "Short" });
      void runDue(tq);
      await finished;
      expect(ran).toEqual(["short"]);
      expect(tq.info().longRunning).toBe(2);
      release.open();
      await runDue(tq);
      expect(ran).toEqual(["short", "long", "long"]);
    });

    it("keeps maxConcurrency: never more handlers at once than slots", async () => {
      let now = 0;
      let peak = 0;
      const fn = defineFunction("Busy", async () => {
        peak = Math.max(peak, ++now);
        await new Promise((resolve) => setImmediate(resolve));
        now--;
      });
      const tq = await start(node(store, clock, [fn], { maxConcurrency: 3 }));
      await tq.timeTickers.addMany(Array.from({ length: 20 }, () => ({ function: "Busy" as const })));
      expect(await runDue(tq)).toBe(20);
      expect(peak).toBe(3);
    });

    it("skipIfAlreadyRunning() skips a second run while the first is in progress", async () => {
      const release = gate();
      const fn = defineFunction("Single", async (ctx) => {
        await ctx.skipIfAlreadyRunning();
        await release.promise;
      });
      const tq = await start(node(store, clock, [fn], { maxConcurrency: 2 }));
      const firstRunning = waitFor<{ id: string; status: string }>(
        (l) => tq.events.on("changed", l),
        (c) => c.status === "InProgress",
      );
      const first = await tq.timeTickers.add({ function: "Single" });
      void runDue(tq);
      expect((await firstRunning).id).toBe(first.id);
      await clock.advance(1); // two runs starting in the same millisecond are ordered by id instead
      const secondDone = waitFor<{ id: string }>(
        (l) => tq.events.on("executed", l),
        (e) => e.id !== first.id,
      );
      const second = await tq.timeTickers.add({ function: "Single" });
      void runDue(tq);
      expect((await secondDone).id).toBe(second.id);
      expect((await tq.timeTickers.get(second.id))!.status).toBe("Skipped");
      release.open();
      await runDue(tq);
      expect((await tq.timeTickers.get(first.id))!.status).toBe("DueDone");
    });

    describe("children", () => {
      const outcomes: Record<string, () => Promise<void>> = {
        success: async () => {},
        failure: async () => {
          throw new Error("parent failed");
        },
        cancel: async () => {
          throw new Error("unreachable");
        },
      };
      const parentFn = defineFunction("Parent", async (ctx: TickerContext<string>) => {
        if (ctx.request === "cancel") ctx.requestCancellation();
        else await outcomes[ctx.request]!();
      });
      const childFn = defineFunction("Child", async () => {});
      const conditions: RunCondition[] = [
        "OnSuccess",
        "OnFailure",
        "OnCancelled",
        "OnFailureOrCancelled",
        "OnAnyCompletedStatus",
      ];
      const expected: Record<string, RunCondition[]> = {
        success: ["OnSuccess", "OnAnyCompletedStatus"],
        failure: ["OnFailure", "OnFailureOrCancelled", "OnAnyCompletedStatus"],
        cancel: ["OnCancelled", "OnFailureOrCancelled", "OnAnyCompletedStatus"],
      };
      for (const outcome of Object.keys(expected)) {
        it(`after a parent's ${outcome}, runs exactly the children whose condition matches`, async () => {
          const tq = await start(node(store, clock, [parentFn, childFn]));
          const parent = await tq.timeTickers.add({
            function: "Parent",
            request: outcome,
            children: conditions.map((runCondition) => ({
              function: "Child" as const,
              runCondition,
              description: runCondition,
            })),
          });
          await runDue(tq);
          const children = await tq.timeTickers.list({ parentId: parent.id, limit: 10 });
          const byCondition = Object.fromEntries(children.items.map((c) => [c.runCondition, c.status]));
          for (const condition of conditions) {
            expect([condition, byCondition[condition]]).toEqual([
              condition,
              expected[outcome]!.includes(condition) ? "DueDone" : "Skipped",
            ]);
          }
        });
      }

      it("starts an InProgress child together with its parent", async () => {
        const release = gate();
        const childRan = gate<string | null>();
        const slow = defineFunction("SlowParent", async () => {
          await release.promise;
        });
        const child = defineFunction("Along", async (ctx) => childRan.open(ctx.parentId));
        const tq = await start(node(store, clock, [slow, child]));
        const parent = await tq.timeTickers.add({
          function: "SlowParent",
          children: [{ function: "Along", runCondition: "InProgress" }],
        });
        void runDue(tq);
        expect(await childRan.promise).toBe(parent.id);
        expect((await tq.timeTickers.get(parent.id))!.status).toBe("InProgress");
        release.open();
        await runDue(tq);
      });

      it("runs grandchildren after children, and skips the descendants of a skipped child", async () => {
        const tq = await start(node(store, clock, [parentFn, childFn]));
        const parent = await tq.timeTickers.add({
          function: "Parent",
          request: "success",
          children: [
            {
              function: "Child",
              runCondition: "OnSuccess",
              description: "ran",
              children: [{ function: "Child", runCondition: "OnSuccess", description: "grandchild-ran" }],
            },
            {
              function: "Child",
              runCondition: "OnFailure",
              description: "skipped",
              children: [
                { function: "Child", runCondition: "OnAnyCompletedStatus", description: "grandchild-skipped" },
              ],
            },
          ],
        });
        await runDue(tq);
        const all = await tq.timeTickers.list({ limit: 10 });
        const status = Object.fromEntries(all.items.map((t) => [t.description ?? "parent", t.status]));
        expect(status).toEqual({
          parent: "DueDone",
          ran: "DueDone",
          "grandchild-ran": "DueDone",
          skipped: "Skipped",
          "grandchild-skipped": "Skipped",
        });
        expect(all.items.find((t) => t.id === parent.id)!.parentId).toBeNull();
      });
    });

    describe("cron tickers", () => {
      it("runs each occurrence once, as its own row, with scheduledFor at the instant", async () => {
        const at: string[] = [];
        const fn = defineFunction("Every10s", async (ctx) => {
          at.push(ctx.scheduledFor.toISOString());
        });
        const tq = await start(node(store, clock, [fn]));
        const cron = await tq.cronTickers.add({ function: "Every10s", expression: "*/10 * * * * *" });
        expect(cron.nextOccurrence!.toISOString()).toBe("2026-03-02T08:00:10.000Z");
        for (let i = 0; i < 3; i++) {
          await clock.advance(10_000);
          await runDue(tq);
        }
        expect(at).toEqual(["2026-03-02T08:00:10.000Z", "2026-03-02T08:00:20.000Z", "2026-03-02T08:00:30.000Z"]);
        const occurrences = await tq.cronTickers.occurrences(cron.id, { status: "DueDone" });
        expect(occurrences.total).toBe(3);
        expect(occurrences.items.every((o) => o.type === "CronTickerOccurrence" && o.cronTickerId === cron.id)).toBe(
          true,
        );
      });

      it("seeds functions declared with cron once across nodes, and follows the code's expression", async () => {
        const v1 = defineFunction("Digest", { cron: "0 0 9 * * *" }, async () => {});
        const a = await start(node(store, clock, [v1], { nodeId: "a" }));
        await start(node(store, clock, [v1], { nodeId: "b" }));
        let list = await a.cronTickers.list();
        expect(list.items.map((c) => [c.function, c.expression, c.seededBy])).toEqual([
          ["Digest", "0 0 9 * * *", "Digest"],
        ]);
        const v2 = defineFunction("Digest", { cron: "0 30 9 * * *" }, async () => {});
        const c = await start(node(store, clock, [v2], { nodeId: "c" }));
        list = await c.cronTickers.list();
        expect(list.items.map((t) => t.expression)).toEqual(["0 30 9 * * *"]);
        expect(list.items[0]!.nextOccurrence!.toISOString()).toBe("2026-03-02T09:30:00.000Z");
      });

      it("runs a daily digest at 9 AM in its time zone, once, and not while disabled", async () => {
        let runs = 0;
        const fn = defineFunction("Daily", async () => {
          runs++;
        });
        // Day-long jumps: slow polls and heartbeats keep the timers fired on the way few.
        const tq = await start(node(store, clock, [fn], { pollIntervalMs: 3_600_000, heartbeatIntervalMs: 3_600_000 }));
        const cron = await tq.cronTickers.add({
          function: "Daily",
          expression: "0 0 9 * * *",
          timeZone: "Europe/Berlin",
        });
        expect(cron.nextOccurrence!.toISOString()).toBe("2026-03-03T08:00:00.000Z"); // 09:00 CET, tomorrow (today's is now)
        await clock.advance(86_400_000);
        await runDue(tq);
        expect(runs).toBe(1);
        await tq.cronTickers.update(cron.id, { enabled: false });
        await clock.advance(86_400_000);
        await runDue(tq);
        expect(runs).toBe(1);
        await tq.cronTickers.update(cron.id, { enabled: true });
        await clock.advance(86_400_000);
        await runDue(tq);
        expect(runs).toBe(2);
      });

      it("trigger() runs a cron ticker once now without changing its schedule", async () => {
        const fn = defineFunction("Manual", async () => {});
        const tq = await start(node(store, clock, [fn]));
        const cron = await tq.cronTickers.add({ function: "Manual", expression: "0 0 0 1 1 *" });
        const occurrence = await tq.cronTickers.trigger(cron.id);
        await runDue(tq);
        expect((await tq.job(occurrence.id))!.status).toBe("DueDone");
        expect((await tq.cronTickers.get(cron.id))!.nextOccurrence!.toISOString()).toBe("2027-01-01T00:00:00.000Z");
      });

      it("never runs one occurrence twice with several nodes on the store", async () => {
        const runs: string[] = [];
        const fn = defineFunction("Shared", async (ctx) => {
          runs.push(`${ctx.nodeId}@${ctx.scheduledFor.toISOString()}`);
        });
        const nodesHere = [];
        for (const id of ["n1", "n2", "n3"]) nodesHere.push(await start(node(store, clock, [fn], { nodeId: id })));
        await nodesHere[0]!.cronTickers.add({ function: "Shared", expression: "* * * * * *" });
        for (let i = 0; i < 5; i++) {
          await clock.advance(1000);
          await Promise.all(nodesHere.map((n) => runDue(n)));
        }
        const instants = runs.map((r) => r.split("@")[1]).sort();
        expect(instants).toEqual(
          ["08:00:01", "08:00:02", "08:00:03", "08:00:04", "08:00:05"].map((t) => `2026-03-02T${t}.000Z`),
        );
      });
    });

    it("runs each time ticker once with several nodes on the store", async () => {
      const counts = new Map<number, number>();
      const fn = defineFunction("Count", async (ctx: TickerContext<number>) => {
        counts.set(ctx.request, (counts.get(ctx.request) ?? 0) + 1);
      });
      const a = await start(node(store, clock, [fn], { nodeId: "a", maxConcurrency: 4 }));
      const b = await start(node(store, clock, [fn], { nodeId: "b", maxConcurrency: 4 }));
      await a.timeTickers.addMany(Array.from({ length: 60 }, (_, i) => ({ function: "Count" as const, request: i })));
      await Promise.all([runDue(a), runDue(b)]);
      await Promise.all([runDue(a), runDue(b)]);
      expect(counts.size).toBe(60);
      expect([...counts.values()].every((c) => c === 1)).toBe(true);
    });

    it("re-runs work leased by a node that stopped heartbeating, as a new attempt", async () => {
      const hang = gate();
      let runsOnB = 0;
      const onA = defineFunction("Work", async () => {
        await hang.promise; // node A "dies" mid-run: it never finishes nor heartbeats again
      });
      const onB = defineFunction("Work", async (ctx) => {
        runsOnB++;
        expect(ctx.retryCount).toBe(1);
      });
      const a = await start(node(store, clock, [onA], { nodeId: "a", heartbeatIntervalMs: 3_600_000 }));
      const job = await addRunning(a, "Work", true);
      a.pause();
      const b = await start(
        node(store, clock, [onB], { nodeId: "b", heartbeatIntervalMs: 1000, leaseTimeoutMs: 5000 }),
      );
      await clock.advance(6000);
      await heartbeat(b); // a's last heartbeat is 6 s old, over b's 5 s lease timeout
      await runDue(b);
      expect(runsOnB).toBe(1);
      const row = (await b.timeTickers.get(job.id))!;
      expect(row).toMatchObject({ status: "Done", retryCount: 1 });
      const attempts = await b.attempts(job.id);
      expect(attempts.map((x) => [x.nodeId, x.status])).toEqual([
        ["a", "Failed"],
        ["b", "Done"],
      ]);
      hang.open();
    });

    it("stop() lets running jobs finish, then aborts a stuck one and returns it to Idle", async () => {
      const started = gate();
      let sawAbort = false;
      const stuck = defineFunction("Stuck", async (_ctx, signal) => {
        started.open();
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => ((sawAbort = true), resolve())));
        throw signal.reason;
      });
      const tq = node(store, clock, [stuck]);
      await tq.start();
      const job = await tq.timeTickers.add({ function: "Stuck" });
      const later = await tq.timeTickers.add({ function: "Stuck", executionTime: new Date(T0.getTime() + 60_000) });
      void runDue(tq);
      await started.promise;
      const stopping = tq.stop({ timeoutMs: 5000 });
      await clock.advance(4999);
      expect(sawAbort).toBe(false);
      await clock.advance(1);
      await stopping;
      expect(sawAbort).toBe(true);
      expect(tq.state).toBe("stopped");
      const row = (await store.jobGet({ id: job.id }))!;
      expect(row).toMatchObject({ status: "Idle", lockHolder: null });
      expect((await store.jobGet({ id: later.id }))!.status).toBe("Idle");
      // another node picks it up and finishes it
      const fine = defineFunction("Stuck", async () => {});
      const next = await start(node(store, clock, [fine]));
      await runDue(next);
      expect((await store.jobGet({ id: job.id }))!.status).toBe("Done");
    });

    it("update() changes an Idle ticker and refuses a running one; delete removes children", async () => {
      const release = gate();
      const fn = defineFunction("Upd", async () => {
        await release.promise;
      });
      const tq = await start(node(store, clock, [fn]));
      const job = await tq.timeTickers.add({ function: "Upd", executionTime: new Date(T0.getTime() + 1000) });
      const moved = await tq.timeTickers.update(job.id, {
        executionTime: new Date(T0.getTime() + 500),
        description: "moved",
      });
      expect(moved.executionTime!.getTime()).toBe(T0.getTime() + 500);
      expect(moved.description).toBe("moved");
      const running = waitFor<{ status: string }>(
        (l) => tq.events.on("changed", l),
        (c) => c.status === "InProgress",
      );
      await clock.advance(500);
      void runDue(tq);
      await running;
      await expect(tq.timeTickers.update(job.id, { description: "late" })).rejects.toMatchObject({
        code: "INVALID_STATE",
      });
      release.open();
      await runDue(tq);
      const parent = await tq.timeTickers.add({
        function: "Upd",
        executionTime: new Date(T0.getTime() + 9000),
        children: [{ function: "Upd", runCondition: "OnSuccess" }],
      });
      expect(await tq.timeTickers.delete(parent.id)).toBe(true);
      expect((await tq.timeTickers.list()).items.map((t) => t.id)).toEqual([job.id]);
    });

    it("retry() puts a Failed job back to Idle, due now, keeping its history", async () => {
      const tq = await start(node(store, clock, [boom]));
      const job = await tq.timeTickers.add({ function: "Boom" });
      await runDue(tq);
      expect((await tq.timeTickers.get(job.id))!.status).toBe("Failed");
      await clock.advance(1000);
      const again = await tq.retry(job.id);
      expect(again.status).toBe("Idle");
      await runDue(tq);
      expect((await tq.attempts(job.id)).length).toBe(2);
      await expect(tq.retry("missing-id")).rejects.toMatchObject({ code: "NOT_FOUND" });
    });

    it("keeps a handler error with a NUL or a lone surrogate as U+FFFD, the batch's other jobs completed", async () => {
      const messages = ["nul\u0000byte", "lone\uD800surrogate", "pair \uD83D\uDE00 kept"];
      const fns = messages.map((message, i) =>
        defineFunction(`Odd${i}`, async () => {
          throw new Error(message);
        }),
      );
      const tq = await start(node(store, clock, [...fns, ok]));
      const odd = await Promise.all(fns.map((fn) => tq.timeTickers.add({ function: fn.name })));
      const fine = await tq.timeTickers.add({ function: "Ok" });
      await runDue(tq);
      expect((await tq.timeTickers.get(fine.id))!.status).toBe("DueDone");
      const stored = ["nul\uFFFDbyte", "lone\uFFFDsurrogate", "pair \uD83D\uDE00 kept"];
      for (const [i, job] of odd.entries()) {
        expect(await tq.timeTickers.get(job.id)).toMatchObject({ status: "Failed", exceptionMessage: stored[i] });
        const [attempt] = await tq.attempts(job.id);
        expect(attempt).toMatchObject({ status: "Failed", exceptionMessage: stored[i] });
        expect(attempt!.exceptionDetails).toContain(stored[i]);
      }
    });

    it("stores at most MAX_EXCEPTION_MESSAGE and _DETAILS of a huge handler error, saying how much was cut", async () => {
      const body = "<html>" + "x".repeat(300_000);
      const huge = defineFunction("Huge", async () => {
        throw new Error(`upstream answered 502: ${body}`, { cause: new Error(body) });
      });
      const tq = await start(node(store, clock, [huge, ok]));
      const job = await tq.timeTickers.add({ function: "Huge" });
      const fine = await tq.timeTickers.add({ function: "Ok" });
      await runDue(tq);
      expect((await tq.timeTickers.get(fine.id))!.status).toBe("DueDone");
      const failed = (await tq.timeTickers.get(job.id))!;
      expect(failed.status).toBe("Failed");
      const message = failed.exceptionMessage!;
      expect(message.startsWith("upstream answered 502: <html>xxx")).toBe(true);
      const cut = `upstream answered 502: ${body}`.length - MAX_EXCEPTION_MESSAGE;
      expect(message.endsWith(`… [cut: ${cut.toLocaleString("en")} more characters]`)).toBe(true);
      expect(message.length).toBeLessThan(MAX_EXCEPTION_MESSAGE + 50);
      expect(failed.exceptionDetails!.length).toBeLessThan(MAX_EXCEPTION_DETAILS + 50);
      expect(failed.exceptionDetails).toMatch(/more characters\]$/);
      expect((await tq.attempts(job.id))[0]!.exceptionMessage).toBe(message);
    });

    it("an onException that throws never breaks execution", async () => {
      const errors: string[] = [];
      const tq = await start(
        node(store, clock, [boom, ok], {
          onException: () => {
            throw new Error("hook broke");
          },
        }),
      );
      tq.events.on("error", (e) => errors.push(`${e.during}: ${(e.error as Error).message}`));
      await tq.timeTickers.add({ function: "Boom" });
      const fine = await tq.timeTickers.add({ function: "Ok" });
      await runDue(tq);
      expect((await tq.timeTickers.get(fine.id))!.status).toBe("DueDone");
      expect(errors).toEqual(["onException: hook broke"]);
    });
  });
}
