/** Contract cases for the aggregates: job counts by (type, function, status) and the run rollup. */

import { expect, it } from "vitest";
import { binOf, functionStats, type JobCount, type RunRollup } from "../../src/store/aggregates.js";
import type { Store } from "../../src/store/contract.js";
import type { CurrentStore } from "./store-contract.js";
import { T0, at, claimAndStart, completion, newCronTicker, newJob, occurrence } from "./fixtures.js";

/** Counts as "type/function/status" → n, sorted, so a comparison names what differs. */
async function counts(store: Store): Promise<Record<string, number>> {
  const rows: JobCount[] = await store.jobCountList();
  const out: Record<string, number> = {};
  for (const row of [...rows].sort((a, b) =>
    `${a.type}${a.function}${a.status}`.localeCompare(`${b.type}${b.function}${b.status}`),
  ))
    out[`${row.type}/${row.function}/${row.status}`] = row.count;
  return out;
}

/** Rollups as "function/status" → runs for one bucket. */
function runsAt(rollups: readonly RunRollup[], bucket: Date): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rollups) if (r.at.getTime() === bucket.getTime()) out[`${r.function}/${r.status}`] = r.runs;
  return out;
}

export function aggregatesContract(get: CurrentStore): void {
  it("counts jobs by type, function and status as they are inserted, claimed, completed and deleted", async () => {
    const store = get();
    expect(await store.jobCountList()).toEqual([]);
    const cron = newCronTicker({ id: "c" });
    await store.cronTickerInsert({ cronTicker: cron });
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "a", function: "Email", executionTime: at(1) }),
        newJob({ id: "b", function: "Email", executionTime: at(2) }),
        newJob({ id: "c1", function: "Bill", executionTime: at(100) }),
        newJob({ id: "kid", function: "Bill", executionTime: null, parentId: "a", runCondition: "OnSuccess" }),
      ],
    });
    await store.occurrenceInsertMany({ occurrences: [occurrence("c", at(3), { id: "o" })] });
    expect(await counts(store)).toEqual({
      "CronTickerOccurrence/Digest/Idle": 1,
      "TimeTicker/Bill/Idle": 2,
      "TimeTicker/Email/Idle": 2,
    });

    await claimAndStart(store, "n", at(5));
    await store.jobCompleteMany({
      completions: [completion("a", "n", "DueDone", at(6)), completion("b", "n", "Failed", at(6), { error: "x" })],
    });
    // The child of "a" runs on success: it became Idle and due, so it is still counted Idle.
    expect(await counts(store)).toEqual({
      "CronTickerOccurrence/Digest/InProgress": 1,
      "TimeTicker/Bill/Idle": 2,
      "TimeTicker/Email/DueDone": 1,
      "TimeTicker/Email/Failed": 1,
    });

    // Compaction folds what was appended; the answer does not change, and later changes add on.
    await store.aggregateCompact({ now: at(10) });
    await store.jobDeleteMany({ ids: ["a", "b"] });
    await store.jobCancel({ id: "c1", now: at(11) });
    const expected = {
      "CronTickerOccurrence/Digest/InProgress": 1,
      "TimeTicker/Bill/Cancelled": 1,
    };
    expect(await counts(store)).toEqual(expected);
    await store.aggregateCompact({ now: at(12) });
    expect(await counts(store)).toEqual(expected);
  });

  it("agrees with jobCountByStatus after a mix of changes", async () => {
    const store = get();
    const jobs = Array.from({ length: 30 }, (_, i) =>
      newJob({ id: `j${i}`, function: i % 3 === 0 ? "A" : "B", executionTime: at(i) }),
    );
    await store.jobInsertMany({ jobs });
    await claimAndStart(store, "n", at(20));
    await store.jobCompleteMany({
      completions: Array.from({ length: 10 }, (_, i) =>
        completion(`j${i}`, "n", i % 2 === 0 ? "Done" : "Failed", at(21)),
      ),
    });
    await store.aggregateCompact({ now: at(22) });
    await store.jobRequeue({ id: "j1", now: at(23) });
    for (const fn of ["A", "B"]) {
      const byStatus = await store.jobCountByStatus({ function: fn });
      const fromCounters: Record<string, number> = {};
      for (const row of await store.jobCountList())
        if (row.function === fn) fromCounters[row.status] = (fromCounters[row.status] ?? 0) + row.count;
      expect(fromCounters).toEqual(Object.fromEntries(Object.entries(byStatus).filter(([, n]) => n > 0)));
    }
  });

  it("rolls finished runs up per minute, hour and day by function and status, leaving superseded runs out", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "fast", function: "Email", executionTime: at(0) }),
        newJob({ id: "slow", function: "Email", executionTime: at(0) }),
        newJob({ id: "bad", function: "Bill", executionTime: at(0), retries: 1 }),
      ],
    });
    await claimAndStart(store, "n", at(2));
    await store.jobCompleteMany({
      completions: [
        completion("fast", "n", "DueDone", at(2.005), { startedAt: at(2) }),
        completion("slow", "n", "Done", at(5), { startedAt: at(2) }),
        completion("bad", "n", "Idle", at(3), { retryAt: at(70), error: "boom" }),
      ],
    });
    // A completion from a node that no longer holds "fast": history, but not a run that counts.
    await store.jobCompleteMany({ completions: [completion("fast", "other", "Failed", at(4))] });
    await claimAndStart(store, "n", at(70));
    await store.jobCompleteMany({
      completions: [completion("bad", "n", "Failed", at(71), { attempt: 1, leaseToken: 2, error: "again" })],
    });

    const minutes = await store.runRollupList({ span: "minute", from: at(0), to: at(120) });
    expect(runsAt(minutes, at(0))).toEqual({ "Bill/Failed": 1, "Email/Done": 1, "Email/DueDone": 1 });
    expect(runsAt(minutes, at(60))).toEqual({ "Bill/Failed": 1 });
    const hours = await store.runRollupList({ span: "hour", from: at(0), to: at(3600) });
    expect(runsAt(hours, at(0))).toEqual({ "Bill/Failed": 2, "Email/Done": 1, "Email/DueDone": 1 });
    const days = await store.runRollupList({ span: "day", from: at(-86_400), to: at(86_400) });
    expect(days.map((r) => r.at.getTime())).toEqual([T0, T0, T0]);
    // Buckets are picked by their start: [from, to).
    expect(await store.runRollupList({ span: "minute", from: at(60), to: at(60) })).toEqual([]);

    const slow = hours.find((r) => r.function === "Email" && r.status === "Done")!;
    expect(slow.durationMsSum).toBe(3000);
    expect(slow.durationBins[binOf(3000)]).toBe(1);
    // Lateness: started 2 s after the intended time, first attempts only (the retry is not counted).
    expect(slow.latenessBins[binOf(2000)]).toBe(1);
    const bill = hours.find((r) => r.function === "Bill")!;
    expect(bill.latenessBins.reduce((a, b) => a + b, 0)).toBe(1);

    const stats = functionStats(hours);
    expect(stats.map((s) => [s.function, s.runs, s.failed, s.failureRate])).toEqual([
      ["Bill", 2, 2, 1],
      ["Email", 2, 0, 0],
    ]);
    expect(stats[1]!.durationMs.p95).toBeGreaterThan(2048);
    expect(stats[1]!.durationMs.p95).toBeLessThan(4096);

    // Compaction changes nothing a reader sees; retention drops minutes after two days, keeps days.
    await store.aggregateCompact({ now: at(200) });
    expect(await store.runRollupList({ span: "hour", from: at(0), to: at(3600) })).toEqual(hours);
    await store.aggregateCompact({ now: at(3 * 86_400) });
    expect(await store.runRollupList({ span: "minute", from: at(0), to: at(120) })).toEqual([]);
    expect(await store.runRollupList({ span: "day", from: at(-86_400), to: at(86_400) })).toEqual(days);
  });

  it("gives each function's duration and lateness percentiles from the rollup's bins", async () => {
    const store = get();
    const ms = (n: number) => new Date(T0 + n);
    // 20 runs started at 10 s: r0, r1 take 3 s, the rest 100 ms; r18, r19 were due at 5 s
    // (5 s late), the rest at 9.9 s (100 ms late).
    const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
    await store.jobInsertMany({
      jobs: ids.map((id, i) => newJob({ id, function: "Report", executionTime: ms(i >= 18 ? 5000 : 9900) })),
    });
    await claimAndStart(store, "n", ms(10_000));
    await store.jobCompleteMany({
      completions: ids.map((id, i) =>
        completion(id, "n", "Done", ms(i < 2 ? 13_000 : 10_100), { startedAt: ms(10_000) }),
      ),
    });
    const [stats] = functionStats(await store.runRollupList({ span: "hour", from: at(0), to: at(3600) }));
    // A percentile is the geometric middle of its bin: 100 ms in [64, 128) reads 91, 3 s in
    // [2048, 4096) reads 2896, 5 s in [4096, 8192) reads 5793.
    expect(stats).toMatchObject({
      function: "Report",
      runs: 20,
      durationMs: { avg: 390, p50: 91, p95: 2896 },
      latenessMs: { samples: 20, p50: 91, p95: 5793 },
    });
  });

  it("counts the attempt a recovery ends as a failed run", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "lost", function: "Email", executionTime: at(0), retries: 2 })] });
    await claimAndStart(store, "dead", at(1));
    await store.jobRecoverLeases({
      now: at(50),
      deadNodes: [{ nodeId: "dead", heartbeatAt: null }],
      orphanedBefore: null,
    });
    const minutes = await store.runRollupList({ span: "minute", from: at(0), to: at(60) });
    expect(runsAt(minutes, at(0))).toEqual({ "Email/Failed": 1 });
  });
}
