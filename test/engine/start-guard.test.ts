/**
 * The engine holds its own store work (claims, start and completion writes) back while a
 * claimed job is due to start within a few ms, so that work on the event loop never delays a
 * start; and it never starts a job early. The guard is active on the system clock only (a
 * TestClock stands still until the test moves it), so this test keeps the system clock and
 * fakes the time under it: Date and setTimeout move only when the test moves them, one
 * millisecond at a time, and a loaded machine changes nothing that is asserted.
 */

import { afterEach, expect, it, vi } from "vitest";
import { createTickerQ, defineFunction, memoryStore, type Store } from "../../src/index.js";

const PAIRS = 20;
const DENSE = 60;
const WRITE_MS = 2;

/** One real turn of the event loop (setImmediate is not faked). */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

it("keeps claims and writes out of the few ms before a job starts, and never starts one early", async () => {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"], now: new Date("2026-03-02T08:00:00Z") });
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
  const starts: { due: number; at: number }[] = [];
  const fn = defineFunction("Pair", (ctx) => {
    starts.push({ due: ctx.scheduledFor.getTime(), at: Date.now() });
  });
  const tq = createTickerQ({ functions: [fn], store, logger: null });
  await tq.start();
  const dues: number[] = [];
  try {
    // Pairs of jobs 2 ms apart: the first one's completion write is due just as the second
    // one starts, which is what the engine must hold back.
    const base = Date.now() + 200;
    dues.push(...Array.from({ length: PAIRS }, (_, i) => [base + i * 50, base + i * 50 + 2]).flat());
    await tq.timeTickers.addMany(dues.map((at) => ({ function: "Pair" as const, executionTime: new Date(at) })));
    const end = dues.at(-1)! + 100;
    while (Date.now() < end) {
      await vi.advanceTimersByTimeAsync(1);
      // Let the engine finish what this millisecond started before time moves on.
      for (let i = 0; i < 5; i++) await turn();
    }
  } finally {
    await tq.stop();
  }
  expect(starts.map((start) => start.due).sort((a, b) => a - b)).toEqual(dues);
  expect(starts.filter((start) => start.at < start.due)).toEqual([]);
  const completions = storeCalls.filter((call) => call.method === "jobCompleteMany");
  expect(completions.length).toBeGreaterThan(0);
  const tooClose = storeCalls.filter((call) => dues.some((due) => call.at >= due - 2 && call.at < due));
  expect(tooClose).toEqual([]);
});

it("never holds a start write back past its own jobs' instant, however dense the schedule", async () => {
  vi.useFakeTimers({ toFake: ["Date", "setTimeout", "clearTimeout"], now: new Date("2026-03-02T08:00:00Z") });
  // Jobs 1 ms apart and a start write that takes WRITE_MS (a busy database): a write that waited
  // out the starts due within the margin made the jobs of its own batch, and of the one queued
  // behind it, start up to 12 ms late.
  const inner = memoryStore();
  const store: Store = Object.create(inner);
  store.jobStartMany = async (params) => {
    await new Promise((resolve) => setTimeout(resolve, WRITE_MS));
    return inner.jobStartMany(params);
  };
  const starts: { due: number; at: number }[] = [];
  const fn = defineFunction("Dense", (ctx) => {
    starts.push({ due: ctx.scheduledFor.getTime(), at: Date.now() });
  });
  const tq = createTickerQ({ functions: [fn], store, logger: null, adaptiveLookahead: false });
  await tq.start();
  const base = Date.now() + 200;
  const dues = Array.from({ length: DENSE }, (_, i) => base + i);
  try {
    await tq.timeTickers.addMany(dues.map((at) => ({ function: "Dense" as const, executionTime: new Date(at) })));
    while (Date.now() < dues.at(-1)! + 100) {
      await vi.advanceTimersByTimeAsync(1);
      for (let i = 0; i < 5; i++) await turn();
    }
  } finally {
    await tq.stop();
  }
  expect(starts.map((start) => start.due).sort((a, b) => a - b)).toEqual(dues);
  expect(starts.filter((start) => start.at !== start.due)).toEqual([]);
});
