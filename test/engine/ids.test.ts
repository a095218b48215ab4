import { describe, expect, it } from "vitest";
import { newId } from "../../src/ids.js";
import { createTickerQ, defineFunction } from "../../src/index.js";
import { memoryStore } from "../../src/store/memory.js";
import { sqliteStore } from "../../src/sqlite.js";
import type { Store } from "../../src/store/contract.js";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The millisecond timestamp a UUIDv7 carries in its first 48 bits. */
const msOf = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);

describe("newId", () => {
  it("makes RFC 9562 version 7 ids carrying the given millisecond", () => {
    const at = Date.UTC(2031, 4, 6, 7, 8, 9, 123) + 2 ** 40; // past 2^40 ms: every byte of the timestamp counts
    const id = newId(at);
    expect(id).toMatch(V7);
    expect(msOf(id)).toBe(at);
  });

  it("keeps ids increasing within one millisecond, past the counter's 4,096, and when the clock steps back", () => {
    const at = Date.UTC(2100, 0, 1); // later than any id made before in this process
    const ids = [
      ...Array.from({ length: 10_000 }, () => newId(at)),
      ...Array.from({ length: 100 }, () => newId(at - 60_000)),
      newId(at + 60_000),
    ];
    for (const id of ids) expect(id).toMatch(V7);
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!, `${ids[i - 1]} then ${ids[i]}`).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    // 10,000 in one millisecond borrow the next few; the step back keeps the last one used.
    expect(msOf(ids[9_999]!)).toBeGreaterThan(at);
    expect(msOf(ids[9_999]!)).toBeLessThan(at + 10);
    expect(msOf(ids[10_050]!)).toBe(msOf(ids[9_999]!));
    expect(msOf(ids.at(-1)!)).toBe(at + 60_000);
  });

  it("spreads the random part: 100,000 ids share no tail", () => {
    const tails = new Set(Array.from({ length: 100_000 }, () => newId().slice(19)));
    expect(tails.size).toBe(100_000);
  });
});

describe("job ids", () => {
  it("sort in the order the jobs were added, within a batch and across calls", async () => {
    const tq = createTickerQ({
      store: memoryStore(),
      functions: [defineFunction("noop", {}, () => {})],
    });
    const first = await tq.timeTickers.addMany(Array.from({ length: 500 }, () => ({ function: "noop" })));
    const second = await tq.timeTickers.add({ function: "noop" });
    const ids = [...first.map((j) => j.id), second.id];
    for (const id of ids) expect(id).toMatch(V7);
    expect([...ids].sort()).toEqual(ids);
    await tq.stop();
  });
});

describe.each([
  ["memory", () => memoryStore()],
  ["sqlite", () => sqliteStore({ filename: ":memory:" })],
] as [string, () => Store][])("jobs due at one instant, on the %s store", (_name, store) => {
  it("start in the order they were added", async () => {
    const started: number[] = [];
    let allStarted!: () => void;
    const done = new Promise<void>((resolve) => (allStarted = resolve));
    const tq = createTickerQ({
      store: store(),
      maxConcurrency: 1,
      functions: [
        defineFunction("step", {}, (ctx) => {
          started.push((ctx.request as { n: number }).n);
          if (started.length === 60) allStarted();
        }),
      ],
    });
    const at = new Date(Date.now() - 1_000);
    // Three calls, the last two of one job each, all due at the same past instant.
    await tq.timeTickers.addMany(
      Array.from({ length: 58 }, (_, n) => ({ function: "step", executionTime: at, request: { n } })),
    );
    await tq.timeTickers.add({ function: "step", executionTime: at, request: { n: 58 } });
    await tq.timeTickers.add({ function: "step", executionTime: at, request: { n: 59 } });
    await tq.start();
    await done;
    expect(started).toEqual(Array.from({ length: 60 }, (_, n) => n));
    await tq.stop();
  });
});
