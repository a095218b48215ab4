/**
 * On the real clock: the engine holds its own store work (claims, start and completion
 * writes) back while a claimed job is due to start within a few ms, so that work on the
 * event loop never delays a start. (A test clock disables this: time there moves only when
 * the test moves it.)
 */

import { expect, it } from "vitest";
import { createTickerQ, defineFunction, memoryStore, type Store } from "../../src/index.js";

const PAIRS = 20;

it("keeps claims and writes out of the few ms before a job starts", async () => {
  const inner = memoryStore();
  const storeCalls: { method: string; at: number }[] = [];
  const store: Store = Object.create(inner);
  for (const method of ["jobClaimDue", "jobNextDue", "jobStartMany", "jobCompleteMany"] as const) {
    const original = inner[method].bind(inner) as (...args: unknown[]) => Promise<unknown>;
    (store as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
      storeCalls.push({ method, at: Date.now() });
      return original(...args);
    };
  }
  const starts: number[] = [];
  let done!: () => void;
  const allStarted = new Promise<void>((resolve) => (done = resolve));
  const fn = defineFunction("Pair", () => {
    starts.push(Date.now());
    if (starts.length === PAIRS * 2) done();
  });
  const tq = createTickerQ({ functions: [fn], store, logger: null });
  await tq.start();
  try {
    // Pairs of jobs 2 ms apart: the first one's completion write is due just as the second
    // one starts, which is what the engine must hold back.
    const base = Date.now() + 200;
    await tq.timeTickers.addMany(
      Array.from({ length: PAIRS }, (_, i) => [base + i * 50, base + i * 50 + 2]).flatMap((pair) =>
        pair.map((at) => ({ function: "Pair" as const, executionTime: new Date(at) })),
      ),
    );
    await allStarted;
  } finally {
    await tq.stop();
  }
  const completions = storeCalls.filter((call) => call.method === "jobCompleteMany");
  expect(completions.length).toBeGreaterThan(0);
  const tooClose = storeCalls.filter((call) => starts.some((start) => call.at >= start - 2 && call.at < start));
  expect(tooClose).toEqual([]);
});
