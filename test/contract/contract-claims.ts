/** Contract cases for the hot path: next due, claiming leases, starting and completing work. */

import { expect, it } from "vitest";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, leasesOf, newJob, nextSignal } from "./fixtures.js";

export function claimContract(get: CurrentStore): void {
  it("reports the earliest executionTime among Idle jobs", async () => {
    const store = get();
    expect(await store.jobNextDue()).toBeNull();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "late", executionTime: at(30) }),
        newJob({ id: "early", executionTime: at(10.5) }),
        newJob({ id: "waiting", executionTime: null, parentId: "late", runCondition: "OnSuccess" }),
      ],
    });
    expect(await store.jobNextDue()).toEqual(at(10.5));
    await store.jobClaimDue({ nodeId: "n", now: at(11), until: at(11), limit: 10, longRunningLimit: 0 });
    expect(await store.jobNextDue()).toEqual(at(30));
  });

  it("claims by the priority a job has now, after an update changed it", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "lowered", priority: "Normal", executionTime: at(2) }),
        newJob({ id: "low", priority: "Low", executionTime: at(1) }),
        newJob({ id: "raised", priority: "Low", executionTime: at(3) }),
      ],
    });
    await store.jobUpdateIdle({ id: "lowered", patch: { priority: "Low" }, now: at(4) });
    await store.jobUpdateIdle({ id: "raised", patch: { priority: "High" }, now: at(4) });
    const claim = (limit: number) =>
      store.jobClaimDue({ nodeId: "n", now: at(10), until: at(10), limit, longRunningLimit: 0 });
    expect((await claim(2)).map((j) => j.id)).toEqual(["raised", "low"]);
    expect((await claim(5)).map((j) => j.id)).toEqual(["lowered"]);
  });

  it("starts the first startLimit due jobs at claim time, and LongRunning ones, with their InProgress children", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "high", priority: "High", executionTime: at(2) }),
        newJob({ id: "normal", priority: "Normal", executionTime: at(1) }),
        newJob({ id: "low", priority: "Low", executionTime: at(1) }),
        newJob({ id: "ahead", priority: "High", executionTime: at(10.5) }),
        newJob({ id: "long", priority: "LongRunning", executionTime: at(3) }),
        newJob({ id: "kid", executionTime: null, parentId: "high", runCondition: "InProgress" }),
      ],
    });
    const claimed = await store.jobClaimDue({
      nodeId: "n",
      now: at(10),
      until: at(11),
      limit: 10,
      longRunningLimit: 5,
      startLimit: 2,
    });
    const status = Object.fromEntries(claimed.map((j) => [j.id, j.status]));
    // Best first; "ahead" is only due within the look-ahead, so it waits Queued.
    expect(status).toEqual({
      high: "InProgress",
      normal: "InProgress",
      low: "Queued",
      ahead: "Queued",
      long: "InProgress",
    });
    expect(claimed.find((j) => j.id === "high")).toMatchObject({ executedAt: at(10), lockHolder: "n" });
    expect(await store.jobGet({ id: "normal" })).toMatchObject({ status: "InProgress", executedAt: at(10) });
    expect(await store.jobGet({ id: "low" })).toMatchObject({ status: "Queued", executedAt: null });
    expect(await store.jobGet({ id: "kid" })).toMatchObject({ status: "Idle", executionTime: at(10) });
    expect(await store.jobStartMany({ leases: await leasesOf(store, ["low"]), nodeId: "n", at: at(12) })).toEqual([
      "low",
    ]);
  });

  it("claims by priority High > Normal > Low, then earliest, up to the limit, as Queued leases", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "low-1", priority: "Low", executionTime: at(1) }),
        newJob({ id: "normal-2", priority: "Normal", executionTime: at(3) }),
        newJob({ id: "high-5", priority: "High", executionTime: at(5) }),
        newJob({ id: "normal-1", priority: "Normal", executionTime: at(2) }),
        newJob({ id: "high-4", priority: "High", executionTime: at(4) }),
        newJob({ id: "future", priority: "High", executionTime: at(60) }),
      ],
    });
    const first = await store.jobClaimDue({
      nodeId: "node-a",
      now: at(10),
      until: at(10),
      limit: 3,
      longRunningLimit: 5,
    });
    expect(first.map((j) => j.id)).toEqual(["high-4", "high-5", "normal-1"]);
    for (const job of first) {
      expect(job).toMatchObject({ status: "Queued", lockHolder: "node-a", lockedAt: at(10) });
    }
    expect(first[0]?.scheduledFor).toEqual(at(4));
    expect(await store.jobGet({ id: "high-4" })).toMatchObject({
      status: "Queued",
      lockHolder: "node-a",
      lockedAt: at(10),
    });
    const second = await store.jobClaimDue({
      nodeId: "node-b",
      now: at(10),
      until: at(10),
      limit: 10,
      longRunningLimit: 5,
    });
    expect(second.map((j) => j.id)).toEqual(["normal-2", "low-1"]);
    expect(
      await store.jobClaimDue({ nodeId: "node-b", now: at(10), until: at(10), limit: 10, longRunningLimit: 5 }),
    ).toEqual([]);
  });

  it("limits LongRunning jobs separately from the slots", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "long-1", priority: "LongRunning", executionTime: at(1) }),
        newJob({ id: "long-2", priority: "LongRunning", executionTime: at(2) }),
        newJob({ id: "long-3", priority: "LongRunning", executionTime: at(3) }),
        newJob({ id: "short-1", priority: "Low", executionTime: at(4) }),
      ],
    });
    const none = await store.jobClaimDue({ nodeId: "n", now: at(5), until: at(5), limit: 0, longRunningLimit: 0 });
    expect(none).toEqual([]);
    const claimed = await store.jobClaimDue({ nodeId: "n", now: at(5), until: at(5), limit: 1, longRunningLimit: 2 });
    expect(claimed.map((j) => j.id).sort()).toEqual(["long-1", "long-2", "short-1"]);
  });

  it("claims jobs due within the look-ahead `until`, not later ones", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "soon", executionTime: at(10.2) }),
        newJob({ id: "edge", executionTime: at(11) }),
        newJob({ id: "later", executionTime: at(11.001) }),
      ],
    });
    const claimed = await store.jobClaimDue({
      nodeId: "n",
      now: at(10),
      until: at(11),
      limit: 10,
      longRunningLimit: 10,
    });
    expect(claimed.map((j) => j.id)).toEqual(["soon", "edge"]);
    expect(claimed[0]?.executionTime).toEqual(at(10.2));
  });

  it("never leases one job to two concurrent claims", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: Array.from({ length: 60 }, (_, i) => newJob({ id: `job-${i}`, executionTime: at(i / 10) })),
    });
    const claims = await Promise.all(
      ["a", "b", "c", "d"].map((node) =>
        store.jobClaimDue({ nodeId: node, now: at(10), until: at(10), limit: 20, longRunningLimit: 0 }),
      ),
    );
    const ids = claims.flat().map((j) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    const rest = await store.jobClaimDue({ nodeId: "e", now: at(10), until: at(10), limit: 100, longRunningLimit: 0 });
    expect(ids.length + rest.length).toBe(60);
    for (const [i, claim] of claims.entries()) {
      for (const job of claim) expect((await store.jobGet({ id: job.id }))?.lockHolder).toBe(["a", "b", "c", "d"][i]);
    }
  });

  it("starts only jobs this node holds while Queued", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "mine" }),
        newJob({ id: "theirs", priority: "Low" }),
        newJob({ id: "idle", executionTime: at(99) }),
      ],
    });
    await store.jobClaimDue({ nodeId: "node-a", now: at(0), until: at(0), limit: 1, longRunningLimit: 0 });
    await store.jobClaimDue({ nodeId: "node-b", now: at(0), until: at(0), limit: 1, longRunningLimit: 0 });
    const started = await store.jobStartMany({
      leases: await leasesOf(store, ["mine", "theirs", "idle", "missing"]),
      nodeId: "node-a",
      at: at(0.5),
    });
    expect(started).toEqual(["mine"]);
    expect(await store.jobGet({ id: "mine" })).toMatchObject({
      status: "InProgress",
      executedAt: at(0.5),
      lockHolder: "node-a",
    });
    expect(await store.jobGet({ id: "theirs" })).toMatchObject({ status: "Queued", executedAt: null });
    expect(await store.jobStartMany({ leases: await leasesOf(store, ["mine"]), nodeId: "node-a", at: at(1) })).toEqual(
      [],
    );
    expect(await store.jobStartMany({ leases: [], nodeId: "node-a", at: at(1) })).toEqual([]);
  });

  it("completes a job with its outcome and appends the attempt", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "ok" }), newJob({ id: "bad" })] });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({
      completions: [
        completion("ok", "node-a", "DueDone", at(0.75), { startedAt: at(0) }),
        completion("bad", "node-a", "Failed", at(2), { startedAt: at(0), error: "boom" }),
      ],
    });
    expect(await store.jobGet({ id: "ok" })).toMatchObject({
      status: "DueDone",
      elapsedMs: 750,
      exceptionMessage: null,
      updatedAt: at(0.75),
    });
    expect(await store.jobGet({ id: "bad" })).toMatchObject({
      status: "Failed",
      elapsedMs: 2000,
      exceptionMessage: "boom",
      exceptionDetails: "Error: boom\n    at handler",
    });
    expect(await store.attemptList({ jobId: "bad" })).toEqual([
      {
        jobId: "bad",
        attempt: 0,
        status: "Failed",
        nodeId: "node-a",
        startedAt: at(0),
        finishedAt: at(2),
        elapsedMs: 2000,
        exceptionMessage: "boom",
        exceptionDetails: "Error: boom\n    at handler",
        superseded: false,
      },
    ]);
    expect(await store.jobCountByStatus({})).toMatchObject({ DueDone: 1, Failed: 1, InProgress: 0 });
  });

  it("schedules a retry: Idle at retryAt with retryCount + 1, and signals due", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "flaky", retries: 2, executionTime: at(0) })] });
    await claimAndStart(store, "node-a", at(0));
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    await store.jobCompleteMany({
      completions: [completion("flaky", "node-a", "Idle", at(1), { retryAt: at(61.5), error: "try again" })],
    });
    expect(await due).toEqual(at(61.5));
    expect(await store.jobGet({ id: "flaky" })).toMatchObject({
      status: "Idle",
      executionTime: at(61.5),
      scheduledFor: at(0),
      retryCount: 1,
      lockHolder: null,
      exceptionMessage: "try again",
    });
    expect(await store.jobNextDue()).toEqual(at(61.5));
    const [again] = await store.jobClaimDue({
      nodeId: "node-b",
      now: at(62),
      until: at(62),
      limit: 1,
      longRunningLimit: 0,
    });
    expect(again).toMatchObject({ id: "flaky", retryCount: 1, scheduledFor: at(0) });
    await store.jobStartMany({ leases: [again!], nodeId: "node-b", at: at(62) });
    await store.jobCompleteMany({
      completions: [completion("flaky", "node-b", "Done", at(63), { attempt: 1, leaseToken: 2 })],
    });
    const attempts = await store.attemptList({ jobId: "flaky" });
    expect(attempts.map((a) => [a.attempt, a.status, a.nodeId])).toEqual([
      [0, "Failed", "node-a"],
      [1, "Done", "node-b"],
    ]);
  });

  it("ignores a completion from a node that no longer holds the job", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "j" })] });
    await claimAndStart(store, "node-a", at(0));
    expect(await store.jobCompleteMany({ completions: [completion("j", "node-b", "Done", at(1))] })).toEqual({
      superseded: ["j"],
    });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "InProgress", lockHolder: "node-a" });
    await store.jobRecoverLeases({
      now: at(40),
      deadNodes: [{ nodeId: "node-a", heartbeatAt: null }],
      orphanedBefore: null,
    });
    await claimAndStart(store, "node-b", at(41));
    const late = completion("j", "node-a", "Failed", at(42), { error: "late" });
    expect(await store.jobCompleteMany({ completions: [late] })).toEqual({ superseded: ["j"] });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "InProgress", lockHolder: "node-b" });
    const done = await store.jobCompleteMany({
      completions: [
        completion("j", "node-b", "Done", at(43), { leaseToken: 2 }),
        completion("missing", "node-b", "Done", at(43)),
      ],
    });
    expect(done).toEqual({ superseded: ["missing"] });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Done" });
    // Every run is in the history; the ones whose lease was gone are marked superseded.
    expect((await store.attemptList({ jobId: "j" })).map((a) => [a.status, a.nodeId, a.superseded])).toEqual([
      ["Done", "node-b", true],
      ["Failed", "node-a", false],
      ["Failed", "node-a", true],
      ["Done", "node-b", false],
    ]);
  });

  it("counts running jobs of a cron ticker or function, excluding one id", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "f1", function: "F" }),
        newJob({ id: "f2", function: "F" }),
        newJob({ id: "g1", function: "G" }),
        newJob({ id: "o1", type: "CronTickerOccurrence", function: "F", cronTickerId: "cron-1" }),
        newJob({ id: "f3", function: "F", executionTime: at(50) }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    expect(await store.jobRunningCount({ cronTickerId: null, function: "F", excludeId: "f1" })).toBe(2);
    expect(await store.jobRunningCount({ cronTickerId: "cron-1", function: "F", excludeId: "f1" })).toBe(1);
    expect(await store.jobRunningCount({ cronTickerId: "cron-1", function: "F", excludeId: "o1" })).toBe(0);
    expect(await store.jobRunningCount({ cronTickerId: null, function: "G", excludeId: "x" })).toBe(1);
  });

  it("counts only runs that started earlier with startedBefore, ties broken by id", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "a", function: "F" }),
        newJob({ id: "b", function: "F" }),
        newJob({ id: "c", function: "F", executionTime: at(1) }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    await claimAndStart(store, "node-a", at(1));
    const count = (id: string, started: Date) =>
      store.jobRunningCount({ cronTickerId: null, function: "F", excludeId: id, startedBefore: { at: started, id } });
    expect(await count("a", at(0))).toBe(0);
    expect(await count("b", at(0))).toBe(1);
    expect(await count("c", at(1))).toBe(2);
  });

  it("ends the lease with the attempt: a completed job has no lock holder", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "j" })] });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("j", "node-a", "DueDone", at(1))] });
    expect(await store.jobGet({ id: "j" })).toMatchObject({
      status: "DueDone",
      lockHolder: null,
      lockedAt: null,
      executedAt: at(0),
    });
  });

  it("purges finished jobs that ended before a cutoff, in batches, with their history", async () => {
    const store = get();
    const ids = ["d1", "d2", "d3", "recent", "idle"];
    await store.jobInsertMany({
      jobs: ids.map((id) => newJob({ id, executionTime: id === "idle" ? at(1000) : at(0) })),
    });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({
      completions: [
        completion("d1", "node-a", "Done", at(10)),
        completion("d2", "node-a", "Failed", at(11)),
        completion("d3", "node-a", "Cancelled", at(12)),
        completion("recent", "node-a", "DueDone", at(500)),
      ],
    });
    expect(await store.jobPurge({ before: at(100), limit: 2 })).toBe(2);
    expect(await store.jobPurge({ before: at(100), limit: 2 })).toBe(1);
    expect(await store.jobPurge({ before: at(100), limit: 2 })).toBe(0);
    expect((await store.jobList({ order: "asc" })).items.map((j) => j.id).sort()).toEqual(["idle", "recent"]);
    expect(await store.attemptList({ jobId: "d1" })).toEqual([]);
    expect(await store.attemptList({ jobId: "recent" })).toHaveLength(1);
  });

  it("does not purge a finished parent whose children are still to run", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "parent" }),
        newJob({ id: "child", parentId: "parent", executionTime: null, runCondition: "OnSuccess" }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("parent", "node-a", "DueDone", at(1))] });
    expect(await store.jobPurge({ before: at(100), limit: 10 })).toBe(0);
    await claimAndStart(store, "node-a", at(2));
    await store.jobCompleteMany({ completions: [completion("child", "node-a", "Done", at(3))] });
    expect(await store.jobPurge({ before: at(100), limit: 10 })).toBe(2);
  });
}
