/**
 * On the real clock: the engine holds its own store work (claims, start and completion
 * writes) back while a claimed job is due to start within a few ms, so that work on the
 * event loop never delays a start. (A test clock disables this: time there moves only when
 * the test moves it.)
 */

import { expect, it } from "vitest";
import { createTickerQ, defineFunction, memoryStore, type Store } from "../../src/index.js";

const PAIRS = 20;

it("keeps claims and writes out of the few ms before a job starts, and never starts one early", async () => {
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
  const dues: number[] = [];
  const starts: number[] = [];
  const early: number[] = [];
  let done!: () => void;
  const allStarted = new Promise<void>((resolve) => (done = resolve));
  const fn = defineFunction("Pair", (ctx) => {
    starts.push(Date.now());
    // Armed a millisecond early on the system clock, the handler still never starts before its time.
    if (Date.now() < ctx.scheduledFor.getTime()) early.push(ctx.scheduledFor.getTime() - Date.now());
    if (starts.length === PAIRS * 2) done();
  });
  const tq = createTickerQ({ functions: [fn], store, logger: null });
  await tq.start();
  try {
    // Pairs of jobs 2 ms apart: the first one's completion write is due just as the second
    // one starts, which is what the engine must hold back.
    const base = Date.now() + 200;
    dues.push(...Array.from({ length: PAIRS }, (_, i) => [base + i * 50, base + i * 50 + 2]).flat());
    await tq.timeTickers.addMany(dues.map((at) => ({ function: "Pair" as const, executionTime: new Date(at) })));
    await allStarted;
  } finally {
    await tq.stop();
  }
  expect(early).toEqual([]);
  const completions = storeCalls.filter((call) => call.method === "jobCompleteMany");
  expect(completions.length).toBeGreaterThan(0);
  // Judged against the due instants, which the engine knows, not the starts, which a loaded
  // machine may delay past a write that waited for them correctly.
  const tooClose = storeCalls.filter((call) => dues.some((due) => call.at >= due - 2 && call.at < due));
  expect(tooClose).toEqual([]);
});
