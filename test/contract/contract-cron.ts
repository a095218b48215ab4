/** Contract cases for cron tickers, their seeding from code, and their occurrences. */

import { expect, it } from "vitest";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, newCronTicker, nextSignal, occurrence } from "./fixtures.js";

export function cronContract(get: CurrentStore): void {
  it("inserts, reads and lists cron tickers", async () => {
    const store = get();
    const first = newCronTicker({
      id: "c1",
      function: "A",
      timeZone: "Europe/Paris",
      request: '{"x":1}',
      retryIntervals: [1, 2.5],
      retries: 2,
      createdAt: at(1),
    });
    const second = newCronTicker({
      id: "c2",
      function: "B",
      enabled: false,
      priority: "LongRunning",
      description: "nightly",
      createdAt: at(2),
    });
    await store.cronTickerInsert({ cronTicker: first });
    await store.cronTickerInsert({ cronTicker: second });
    await expect(store.cronTickerInsert({ cronTicker: { ...first } })).rejects.toThrow();
    expect(await store.cronTickerGet({ id: "c1" })).toEqual({ ...first, updatedAt: at(1) });
    expect(await store.cronTickerGet({ id: "missing" })).toBeNull();
    const all = await store.cronTickerList({});
    expect(all.total).toBe(2);
    expect(all.items.map((c) => c.id).sort()).toEqual(["c1", "c2"]);
    expect((await store.cronTickerList({ function: "B" })).items.map((c) => c.id)).toEqual(["c2"]);
    expect((await store.cronTickerList({ enabled: true })).items.map((c) => c.id)).toEqual(["c1"]);
    expect((await store.cronTickerList({ enabled: false })).items[0]).toMatchObject({
      id: "c2",
      enabled: false,
      priority: "LongRunning",
    });
    const page = await store.cronTickerList({ limit: 1, offset: 1 });
    expect(page.total).toBe(2);
    expect(page.items).toHaveLength(1);
    // The total holds on a full page, a short one, one past the end and a filtered one.
    expect((await store.cronTickerList({ limit: 1 })).total).toBe(2);
    expect((await store.cronTickerList({ limit: 5, offset: 1 })).total).toBe(2);
    expect(await store.cronTickerList({ limit: 5, offset: 7 })).toEqual({ items: [], total: 2 });
    expect((await store.cronTickerList({ enabled: false, limit: 5 })).total).toBe(1);
  });

  it("updates a cron ticker and deletes its Idle occurrences", async () => {
    const store = get();
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c1" }) });
    await store.occurrenceInsertMany({
      occurrences: [occurrence("c1", at(0)), occurrence("c1", at(60)), occurrence("c1", at(120))],
    });
    await claimAndStart(store, "node-a", at(0));
    const signal = nextSignal(store, (s) => (s.type === "cron" ? s : undefined));
    const updated = await store.cronTickerUpdate({
      id: "c1",
      patch: { expression: "*/5 * * * * *", enabled: false, retries: 4 },
      now: at(5),
    });
    expect(updated).toMatchObject({
      id: "c1",
      expression: "*/5 * * * * *",
      enabled: false,
      retries: 4,
      updatedAt: at(5),
    });
    expect(await signal).toEqual({ type: "cron" });
    const left = await store.jobList({ cronTickerId: "c1" });
    expect(left.items.map((j) => j.status)).toEqual(["InProgress"]);
    expect(await store.cronTickerUpdate({ id: "missing", patch: { enabled: true }, now: at(5) })).toBeNull();
  });

  it("deletes a cron ticker with its occurrences and their history", async () => {
    const store = get();
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c1" }) });
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c2" }) });
    await store.occurrenceInsertMany({
      occurrences: [
        occurrence("c1", at(0), { id: "c1-0" }),
        occurrence("c1", at(60)),
        occurrence("c2", at(0), { id: "c2-0" }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({
      completions: [completion("c1-0", "node-a", "DueDone", at(1)), completion("c2-0", "node-a", "DueDone", at(1))],
    });
    expect(await store.cronTickerDelete({ id: "c1" })).toBe(true);
    expect(await store.cronTickerDelete({ id: "c1" })).toBe(false);
    expect(await store.cronTickerGet({ id: "c1" })).toBeNull();
    expect((await store.jobList({ cronTickerId: "c1" })).total).toBe(0);
    expect((await store.jobList({ cronTickerId: "c2" })).total).toBe(1);
    expect(await store.attemptList({ jobId: "c1-0" })).toEqual([]);
    expect(await store.attemptList({ jobId: "c2-0" })).toHaveLength(1);
  });

  it("seeds tickers from code once, idempotently and safely in parallel, and follows a changed expression", async () => {
    const store = get();
    const seed = (expression: string, id: string) =>
      newCronTicker({ id, function: "Digest", expression, seededBy: "Digest", createdAt: at(0) });
    const results = await Promise.all([
      store.cronTickerSeed({ cronTickers: [seed("0 0 9 * * *", "seed-a")], now: at(0) }),
      store.cronTickerSeed({ cronTickers: [seed("0 0 9 * * *", "seed-b")], now: at(0) }),
      store.cronTickerSeed({ cronTickers: [seed("0 0 9 * * *", "seed-c")], now: at(0) }),
    ]);
    const all = await store.cronTickerList({});
    expect(all.total).toBe(1);
    const winner = all.items[0];
    for (const result of results) expect(result.map((c) => c.id)).toEqual([winner?.id]);
    expect(winner).toMatchObject({ function: "Digest", expression: "0 0 9 * * *", seededBy: "Digest" });

    const again = await store.cronTickerSeed({ cronTickers: [seed("0 0 9 * * *", "seed-d")], now: at(1) });
    expect(again.map((c) => c.id)).toEqual([winner?.id]);
    await store.occurrenceInsertMany({ occurrences: [occurrence(winner?.id ?? "", at(100))] });
    expect(await store.jobNextDue()).toEqual(at(100));

    const changed = await store.cronTickerSeed({ cronTickers: [seed("0 30 8 * * *", "seed-e")], now: at(2) });
    expect(changed[0]).toMatchObject({ id: winner?.id, expression: "0 30 8 * * *", updatedAt: at(2) });
    expect(await store.cronTickerGet({ id: winner?.id ?? "" })).toMatchObject({ expression: "0 30 8 * * *" });
    expect((await store.jobList({ cronTickerId: winner?.id ?? "" })).total).toBe(0);
  });

  it("reads the occurrence each cron ticker ended last, for a page of tickers at once", async () => {
    const store = get();
    for (const id of ["c1", "c2", "c3"]) await store.cronTickerInsert({ cronTicker: newCronTicker({ id }) });
    await store.occurrenceInsertMany({
      occurrences: [
        occurrence("c1", at(1), { id: "o1" }),
        occurrence("c1", at(2), { id: "o2" }),
        occurrence("c1", at(3), { id: "o3" }),
        occurrence("c2", at(1), { id: "p1" }),
        occurrence("c3", at(50), { id: "q1" }),
      ],
    });
    await claimAndStart(store, "n", at(3));
    // o2 ends last though o3 is the later occurrence; c3's only occurrence has not run.
    await store.jobCompleteMany({
      completions: [
        completion("o1", "n", "Done", at(10)),
        completion("o2", "n", "Failed", at(20), { error: "x" }),
        completion("o3", "n", "Done", at(15)),
        completion("p1", "n", "DueDone", at(12)),
      ],
    });
    const last = await store.occurrenceLastEnded({ cronTickerIds: ["c1", "c2", "c3", "missing"] });
    expect(
      Object.fromEntries(Object.entries(last).map(([cron, job]) => [cron, [job.id, job.status, job.cronTickerId]])),
    ).toEqual({ c1: ["o2", "Failed", "c1"], c2: ["p1", "DueDone", "c2"] });
    expect(last.c1!.updatedAt).toEqual(at(20));
    expect(await store.occurrenceLastEnded({ cronTickerIds: [] })).toEqual({});
  });

  it("inserts occurrences once per (cron ticker, instant), ignoring duplicates", async () => {
    const store = get();
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c1" }) });
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c2" }) });
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    expect(await store.occurrenceInsertMany({ occurrences: [occurrence("c1", at(1)), occurrence("c1", at(2))] })).toBe(
      2,
    );
    expect(await due).toEqual(at(1));
    expect(
      await store.occurrenceInsertMany({
        occurrences: [
          occurrence("c1", at(2)),
          occurrence("c1", at(3)),
          occurrence("c1", at(3)),
          occurrence("c2", at(2)),
        ],
      }),
    ).toBe(2);
    const racing = await Promise.all(
      [1, 2, 3].map(() => store.occurrenceInsertMany({ occurrences: [occurrence("c1", at(4))] })),
    );
    expect(racing.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await store.jobList({ cronTickerId: "c1" })).total).toBe(4);
    expect(await store.occurrenceInsertMany({ occurrences: [] })).toBe(0);
  });

  it("keeps an occurrence's instant unique even after it is retried to another time", async () => {
    const store = get();
    await store.cronTickerInsert({ cronTicker: newCronTicker({ id: "c1" }) });
    await store.occurrenceInsertMany({ occurrences: [occurrence("c1", at(0), { id: "first", retries: 1 })] });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("first", "node-a", "Idle", at(0.5), { retryAt: at(1) })] });
    expect(await store.occurrenceInsertMany({ occurrences: [occurrence("c1", at(1), { id: "second" })] })).toBe(1);
    expect(await store.occurrenceInsertMany({ occurrences: [occurrence("c1", at(0), { id: "dup" })] })).toBe(0);
  });
}
