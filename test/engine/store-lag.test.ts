/**
 * The leads grow while the store is slow (src/store-lag.ts): a job due at a known instant is
 * claimed and started early enough even when claims and start writes take far longer than the
 * configured look-ahead, once the node has seen one that slow. On the memory store, whose
 * calls are made slow on the test clock, so every instant here is exact.
 */

import { describe, expect, it } from "vitest";
import { defineFunction, memoryStore, type Store, type TickerContext } from "../../src/index.js";
import { HALF_LIFE_MS, StoreLag } from "../../src/store-lag.js";
import { settle, TestClock } from "../../src/testing/index.js";
import { node, T0 } from "../helpers/engine.js";

const SLOW_MS = 200;

/** A memory store whose claims and start writes take SLOW_MS of the test clock while `slow.on`. */
function slowStore(clock: TestClock) {
  const store = memoryStore();
  const slow = { on: false };
  const wrapped: Store = Object.create(store);
  const later = () => (slow.on ? new Promise<void>((resolve) => clock.setTimeout(resolve, SLOW_MS)) : undefined);
  wrapped.jobClaimDue = async (params) => {
    const jobs = await store.jobClaimDue(params);
    await later();
    return jobs;
  };
  wrapped.jobStartMany = async (params) => {
    const started = await store.jobStartMany(params);
    await later();
    return started;
  };
  return { store: wrapped, slow };
}

describe("a slow store", () => {
  it("claims and starts a job further ahead after a slow claim and start write, so it starts on its instant", async () => {
    const clock = new TestClock(T0);
    const { store, slow } = slowStore(clock);
    const started: Record<string, number> = {};
    const fn = defineFunction("Timed", async (ctx: TickerContext<string>) => {
      started[ctx.request] = clock.now();
    });
    const tq = node(store, clock, [fn], { lookaheadMs: 50, adaptiveLookahead: true });
    await tq.start();
    await settle(tq);
    slow.on = true;
    try {
      const first = T0.getTime() + 1_000;
      const second = T0.getTime() + 3_000;
      await tq.timeTickers.add({ function: "Timed", executionTime: new Date(first), request: "first" });
      await tq.timeTickers.add({ function: "Timed", executionTime: new Date(second), request: "second" });
      await clock.set(second + 1_000);
      await settle(tq);
      // The first was claimed 50 ms ahead; its claim and its start write took 200 ms each.
      expect(started.first! - first).toBeGreaterThanOrEqual(SLOW_MS);
      // The second was claimed and written early enough for those durations.
      expect(started.second).toBe(second);

      // Once the store is quick again the leads shrink back: a job is claimed 50 ms ahead again.
      slow.on = false;
      const third = clock.now() + 10 * HALF_LIFE_MS;
      await tq.timeTickers.add({ function: "Timed", executionTime: new Date(third), request: "third" });
      await clock.set(third - 51);
      await settle(tq);
      expect((await tq.timeTickers.list({})).items.find((t) => t.request === "third")?.status).toBe("Idle");
      await clock.set(third);
      await settle(tq);
      expect(started.third).toBe(third);
    } finally {
      await tq.stop();
    }
  });
});

describe("StoreLag", () => {
  it("keeps the configured lead while the store is quick, grows with a slow write, and forgets it by halves", () => {
    const clock = new TestClock(T0);
    const lag = new StoreLag(clock);
    expect(lag.lead(50, 3)).toBe(50);
    lag.record(10);
    expect(lag.lead(50, 3)).toBe(50);
    lag.record(200);
    expect(lag.lead(50, 3)).toBe(600);
    expect(lag.lead(20, 1.5)).toBe(300);
    // No look-ahead asked for stays none; no lead passes the cap.
    expect(lag.lead(0, 3)).toBe(0);
    lag.record(5_000);
    expect(lag.lead(50, 3)).toBe(1_000);
    void clock.advance(HALF_LIFE_MS);
    lag.record(10);
    expect(lag.lead(20, 1)).toBe(1_000);
    void clock.advance(3 * HALF_LIFE_MS);
    expect(lag.lead(20, 1)).toBe(313);
    void clock.advance(10 * HALF_LIFE_MS);
    expect(lag.lead(50, 3)).toBe(50);

    // adaptiveLookahead: false keeps every lead at its base.
    const off = new StoreLag(clock, false);
    off.record(500);
    expect(off.lead(50, 3)).toBe(50);
  });
});
