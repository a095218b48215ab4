/**
 * The node's lifecycle edges, run against each store on a test clock: stop() at every step of
 * start(), and every public call after stop().
 */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTickerQ, defineFunction, TickerQError, type Store, type TickerQOptions } from "../../src/index.js";
import { runDue, TestClock } from "../../src/testing/index.js";
import { T0 } from "../helpers/engine.js";
import { START_STEPS } from "./steps.js";
import { scratch, watch, type Scratch, type StoreKind } from "./stores.js";

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("expected a rejection"),
    (error: unknown) => error,
  );
}

function expectStopped(error: unknown): void {
  expect(error).toBeInstanceOf(TickerQError);
  expect((error as TickerQError).code).toBe("STOPPED");
}

export function describeLifecycle(kind: StoreKind): void {
  describe(`lifecycle on ${kind}`, () => {
    let db: Scratch;
    let clock: TestClock;
    let ran: string[];
    const functions = [
      // Every second: if anything dispatched after stop(), the clock's jump below would run it.
      defineFunction("Tick", { cron: "* * * * * *" }, () => void ran.push("Tick")),
      defineFunction("Once", () => void ran.push("Once")),
    ] as const;
    const makeNode = (store: Store, options: Partial<TickerQOptions<typeof functions>> = {}) =>
      createTickerQ({ functions, store, clock, logger: null, nodeId: "lifecycle-node", ...options });

    beforeEach(async () => {
      db = await scratch(kind);
      clock = new TestClock(T0);
      ran = [];
    });
    afterEach(async () => {
      await db.cleanup();
    });

    for (const step of START_STEPS) {
      it(`stop() during start()'s ${step}: start rejects STOPPED, nothing runs, no timer is left, the store closes once`, async () => {
        const watched = watch(db.open(), step);
        const tq = makeNode(watched.store);
        const starting = tq.start();
        await watched.reached;
        expect(tq.state).toBe("starting");
        const stopping = tq.stop();
        expect(tq.state).toBe("stopping");
        watched.release();
        expectStopped(await rejection(starting));
        await stopping;
        expect(tq.state).toBe("stopped");
        expect(watched.closes()).toBe(1);
        expect(watched.calls.at(-1)).toBe("close");

        const callsAtStop = watched.calls.length;
        await clock.advance(10_000);
        expect(ran).toEqual([]);
        expect(clock.pendingTimers).toBe(0);
        expect(watched.calls.length).toBe(callsAtStop);
        // A second stop() changes nothing and closes nothing.
        await tq.stop();
        expect(watched.closes()).toBe(1);
      });
    }

    it("stop() during start() leaves no node record behind, and the store open when the node does not own it", async () => {
      const watched = watch(db.open(), "jobRecoverLeases");
      const tq = makeNode(watched.store, { closeStoreOnStop: false });
      const starting = tq.start();
      await watched.reached;
      const stopping = tq.stop();
      watched.release();
      expectStopped(await rejection(starting));
      await stopping;
      expect(watched.closes()).toBe(0);
      expect(await watched.store.nodeList()).toEqual([]);
      // The store still works: a new node on it starts and runs work.
      const next = makeNode(watched.store, { closeStoreOnStop: false, nodeId: "lifecycle-next" });
      await next.start();
      await next.timeTickers.add({ function: "Once" });
      await runDue(next);
      expect(ran).toContain("Once");
      await next.stop();
    });

    it("stop() called twice while start() runs: one shutdown, one close", async () => {
      const watched = watch(db.open(), "nodeHeartbeat");
      const tq = makeNode(watched.store);
      const starting = tq.start();
      await watched.reached;
      const first = tq.stop();
      const second = tq.stop();
      watched.release();
      expectStopped(await rejection(starting));
      await Promise.all([first, second]);
      expect(watched.closes()).toBe(1);
    });

    it("every public call after stop() rejects with STOPPED, start() included", async () => {
      const watched = watch(db.open());
      const tq = makeNode(watched.store);
      await tq.start();
      const job = await tq.timeTickers.add({ function: "Once" });
      const cron = await tq.cronTickers.add({ function: "Tick", expression: "0 * * * * *" });
      await tq.stop();
      expect(tq.state).toBe("stopped");
      const callsAtStop = watched.calls.length;

      const calls: [string, () => Promise<unknown>][] = [
        ["start", () => tq.start()],
        ["timeTickers.add", () => tq.timeTickers.add({ function: "Once" })],
        ["timeTickers.addMany", () => tq.timeTickers.addMany([{ function: "Once" }])],
        ["timeTickers.get", () => tq.timeTickers.get(job.id)],
        ["timeTickers.list", () => tq.timeTickers.list()],
        ["timeTickers.update", () => tq.timeTickers.update(job.id, { description: "x" })],
        ["timeTickers.delete", () => tq.timeTickers.delete(job.id)],
        ["timeTickers.deleteMany", () => tq.timeTickers.deleteMany([job.id])],
        ["cronTickers.add", () => tq.cronTickers.add({ function: "Tick", expression: "0 0 * * * *" })],
        ["cronTickers.get", () => tq.cronTickers.get(cron.id)],
        ["cronTickers.list", () => tq.cronTickers.list()],
        ["cronTickers.update", () => tq.cronTickers.update(cron.id, { enabled: false })],
        ["cronTickers.delete", () => tq.cronTickers.delete(cron.id)],
        ["cronTickers.occurrences", () => tq.cronTickers.occurrences(cron.id)],
        ["cronTickers.trigger", () => tq.cronTickers.trigger(cron.id)],
        ["cancel", () => tq.cancel(job.id)],
        ["retry", () => tq.retry(job.id)],
        ["runNow", () => tq.runNow(job.id)],
        ["job", () => tq.job(job.id)],
        ["attempts", () => tq.attempts(job.id)],
        ["setNodePaused", () => tq.setNodePaused(tq.nodeId, true)],
        ["serveDashboard", () => tq.serveDashboard({ port: 0, auth: { type: "none" } })],
        ["runDue", () => runDue(tq)],
        ["pause", async () => tq.pause()],
        ["resume", async () => tq.resume()],
      ];
      for (const [name, call] of calls) {
        const error = await rejection(call());
        expect([name, (error as TickerQError).code]).toEqual([name, "STOPPED"]);
      }
      expect(watched.calls.length).toBe(callsAtStop);
      await tq.stop();
      expect(watched.closes()).toBe(1);
    });

    it("a node stopped before it started refuses calls and start(), and closes the store it opened once", async () => {
      const watched = watch(db.open());
      const tq = makeNode(watched.store);
      await tq.timeTickers.add({ function: "Once" }); // opens the store
      await tq.stop();
      expectStopped(await rejection(tq.start()));
      expectStopped(await rejection(tq.timeTickers.list()));
      expect(watched.closes()).toBe(1);
      expect(ran).toEqual([]);
    });

    it("a start() that failed may be retried; the retry runs work", async () => {
      const watched = watch(db.open());
      let failures = 1;
      const flaky: Store = new Proxy(watched.store, {
        get(target, property, receiver) {
          if (property === "nodeHeartbeat" && failures > 0) {
            failures--;
            return async () => {
              throw new Error("connection reset");
            };
          }
          return Reflect.get(target, property, receiver);
        },
      });
      const tq = makeNode(flaky);
      expect(((await rejection(tq.start())) as Error).message).toBe("connection reset");
      expect(tq.state).toBe("created");
      await tq.start();
      await tq.timeTickers.add({ function: "Once" });
      await runDue(tq);
      expect(ran).toContain("Once");
      await tq.stop();
      expect(watched.closes()).toBe(1);
    });
  });
}
