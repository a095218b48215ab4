/**
 * The heartbeat's search chore (node-heartbeat.ts, searchCatchUp): batches while the store has
 * a backlog, and looks at an empty one less and less often. The store here is the memory
 * store with its searchCatchUp answered by the test: the counts a backlog would give.
 */

import { afterEach, describe, expect, it } from "vitest";
import { defineFunction, memoryStore } from "../../src/index.js";
import { heartbeat, TestClock } from "../../src/testing/index.js";
import { node, T0 } from "../helpers/engine.js";

const ok = defineFunction("Ok", async () => {});

describe("search catch-up at the heartbeat", () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
  });

  /** A started node whose store's backlog is `backlog` (taken from by each call), and the calls' limits per beat. */
  async function started(backlog: { n: number }) {
    const store = memoryStore();
    const beats: number[][] = [];
    store.searchCatchUp = async ({ limit }) => {
      beats.at(-1)!.push(limit);
      const moved = Math.min(limit, backlog.n);
      backlog.n -= moved;
      return moved;
    };
    const tq = node(store, new TestClock(T0), [ok], { pollIntervalMs: 3_600_000, heartbeatIntervalMs: 3_600_000 });
    await tq.start();
    stops.push(() => tq.stop({ timeoutMs: 0 }));
    const beat = async () => {
      beats.push([]);
      await heartbeat(tq);
    };
    return { beat, beats };
  }

  it("takes batches of 500 until one comes back short, at most 20,000 jobs a beat", async () => {
    const backlog = { n: 45_200 };
    const { beat, beats } = await started(backlog);
    await beat();
    expect(beats[0]).toEqual(Array(40).fill(500));
    expect(backlog.n).toBe(25_200);
    await beat();
    await beat();
    expect(beats.slice(1).map((b) => b.length)).toEqual([40, 11]); // 10 × 500 + 200 (short)
    expect(backlog.n).toBe(0);
  });

  it("asks again after 1, 2, 4, 8 and then every 12 beats while the backlog stays empty, and at every beat once it is not", async () => {
    const backlog = { n: 0 };
    const { beat, beats } = await started(backlog);
    const asked = async (count: number) => {
      const from = beats.length;
      for (let i = 0; i < count; i++) await beat();
      return beats
        .slice(from)
        .map((b, i) => (b.length > 0 ? i + 1 : 0))
        .filter((i) => i > 0);
    };
    // Beat 1 asks; then waits 1, 2, 4, 8, 12, 12 beats between asks.
    expect(await asked(46)).toEqual([1, 3, 6, 11, 20, 33, 46]);
    backlog.n = 3_000;
    expect(await asked(13)).toEqual([13]); // the next ask after a 12-beat wait finds work
    expect(backlog.n).toBe(0);
    expect(await asked(3)).toEqual([1, 3]); // found work last time: asks at the next beat, then backs off again
  });
});
