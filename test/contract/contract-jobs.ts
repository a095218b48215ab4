/** Contract cases for storing, reading, listing, updating and deleting jobs. */

import { expect, it } from "vitest";
import { TICKER_STATUSES } from "../../src/lifecycle.js";
import type { NewJob } from "../../src/store/contract.js";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, newJob, nextSignal } from "./fixtures.js";

/** The record of a job just inserted: Idle, never leased or run, changed when created. */
function storedAsNew(job: NewJob) {
  return {
    ...job,
    scheduledFor: job.executionTime,
    status: "Idle",
    retryCount: 0,
    lockHolder: null,
    lockedAt: null,
    leaseToken: 0,
    executedAt: null,
    elapsedMs: null,
    exceptionMessage: null,
    exceptionDetails: null,
    cancelRequested: false,
    updatedAt: job.createdAt,
  };
}

export function jobsContract(get: CurrentStore): void {
  it("init is idempotent", async () => {
    await get().init();
    expect(await get().jobNextDue()).toBeNull();
  });

  it("inserts jobs and reads them back with every field", async () => {
    const store = get();
    const job = newJob({
      description: "welcome email",
      request: '{"email":"a@b.c","name":"Ann \\u2603 ☃"}',
      executionTime: at(1.234),
      priority: "High",
      retries: 3,
      retryIntervals: [60, 0.5, 900],
      createdAt: at(-10.001),
    });
    await store.jobInsertMany({ jobs: [job] });
    const got = await store.jobGet({ id: job.id });
    expect(got).toMatchObject({
      id: job.id,
      type: "TimeTicker",
      function: "SendEmail",
      description: "welcome email",
      request: job.request,
      executionTime: at(1.234),
      status: "Idle",
      priority: "High",
      retries: 3,
      retryIntervals: [60, 0.5, 900],
      retryCount: 0,
      lockHolder: null,
      lockedAt: null,
      executedAt: null,
      elapsedMs: null,
      exceptionMessage: null,
      exceptionDetails: null,
      parentId: null,
      runCondition: null,
      cronTickerId: null,
      cancelRequested: false,
      createdAt: at(-10.001),
    });
    expect(got?.updatedAt).toBeInstanceOf(Date);
    expect(await store.jobGet({ id: "missing" })).toBeNull();
  });

  it("inserts a child and a cron-linked job with exactly the record a new job starts with", async () => {
    const store = get();
    const parent = newJob({ request: '"quoted \\" text"' });
    const child = newJob({
      parentId: parent.id,
      runCondition: "OnFailure",
      executionTime: null,
      retryIntervals: [1.5],
      priority: "LongRunning",
    });
    const linked = newJob({ type: "CronTickerOccurrence", function: "Digest", cronTickerId: "cron-1" });
    await store.jobInsertMany({ jobs: [parent, child, linked] });
    for (const job of [parent, child, linked]) {
      expect(await store.jobGet({ id: job.id })).toEqual(storedAsNew(job));
    }
  });

  it("inserts a batch all or nothing: a duplicate id inserts none of it", async () => {
    const store = get();
    const existing = newJob();
    await store.jobInsertMany({ jobs: [existing] });
    const fresh = newJob();
    await expect(store.jobInsertMany({ jobs: [fresh, newJob({ id: existing.id })] })).rejects.toThrow();
    expect(await store.jobGet({ id: fresh.id })).toBeNull();
    const twice = newJob();
    await expect(store.jobInsertMany({ jobs: [twice, { ...twice }] })).rejects.toThrow();
    expect(await store.jobGet({ id: twice.id })).toBeNull();
    expect((await store.jobList({})).total).toBe(1);
  });

  it("inserts an empty batch as a no-op and a large batch whole", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [] });
    const jobs = Array.from({ length: 1200 }, (_, i) => newJob({ executionTime: at(i) }));
    await store.jobInsertMany({ jobs });
    expect((await store.jobList({ limit: 1 })).total).toBe(1200);
  });

  it("stores every field of a large batch as given, escapes and all (PostgreSQL's COPY path)", async () => {
    const store = get();
    const odd = ["tab\there", "line\nbreak\r\n", "back\\slash \\N \\t", "\\", "☃ \u{1F600} é", "'quote' \"dq\"", ""];
    const parent = newJob({ id: "parent-of-batch" });
    const jobs = Array.from({ length: 150 }, (_, i) =>
      newJob({
        id: `batch-${i}-${odd[i % odd.length]}`,
        description: i % 3 === 0 ? null : odd[i % odd.length]!,
        request: i % 4 === 0 ? null : JSON.stringify({ text: odd[(i + 1) % odd.length], n: i }),
        executionTime: i % 5 === 0 ? null : at(i / 7),
        priority: (["High", "Normal", "Low", "LongRunning"] as const)[i % 4],
        retries: i % 3,
        retryIntervals: i % 2 === 0 ? null : [1.5, i],
        parentId: i % 5 === 0 ? parent.id : null,
        runCondition: i % 5 === 0 ? "OnSuccess" : null,
        cronTickerId: i % 7 === 0 ? `cron-${odd[i % odd.length]}` : null,
        type: i % 7 === 0 ? "CronTickerOccurrence" : "TimeTicker",
        metadata: i % 2 === 0 ? { traceparent: `00-${i}`, note: odd[i % odd.length]! } : null,
        createdAt: at(-i / 3),
      }),
    );
    await store.jobInsertMany({ jobs: [parent] });
    await store.jobInsertMany({ jobs });
    for (const job of jobs) {
      expect(await store.jobGet({ id: job.id })).toEqual(storedAsNew(job));
    }
    // All or nothing there too: one id already stored, none of the batch goes in.
    const again = Array.from({ length: 150 }, () => newJob());
    await expect(store.jobInsertMany({ jobs: [...again, newJob({ id: jobs[3]!.id })] })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      field: "id",
      message: `id ${JSON.stringify(jobs[3]!.id)} already exists; nothing was inserted`,
    });
    const twice = newJob();
    await expect(store.jobInsertMany({ jobs: [...again, twice, { ...twice }] })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      field: "id",
      message: `id ${JSON.stringify(twice.id)} appears twice in the batch; nothing was inserted`,
    });
    expect(await store.jobGet({ id: again[0]!.id })).toBeNull();
    expect((await store.jobList({ limit: 1 })).total).toBe(151);
  });

  it("signals due with the earliest executionTime inserted", async () => {
    const store = get();
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    await store.jobInsertMany({ jobs: [newJob({ executionTime: at(50) }), newJob({ executionTime: at(7) })] });
    expect(await due).toEqual(at(7));
  });

  it("lists with every filter, order and page", async () => {
    const store = get();
    const parent = newJob({ id: "p-1", function: "Parent", executionTime: at(10), description: "The Parent" });
    const child = newJob({
      id: "c-1",
      function: "Child",
      executionTime: null,
      parentId: "p-1",
      runCondition: "OnSuccess",
    });
    const a = newJob({
      id: "a-1",
      function: "Alpha",
      executionTime: at(20),
      description: "100%_off sale",
      createdAt: at(-3),
    });
    const b = newJob({ id: "b-1", function: "Beta", executionTime: at(30), createdAt: at(-2) });
    const occ = newJob({
      id: "o-1",
      type: "CronTickerOccurrence",
      function: "Beta",
      cronTickerId: "cron-1",
      executionTime: at(40),
      createdAt: at(-1),
    });
    await store.jobInsertMany({ jobs: [parent, child, a, b, occ] });
    const ids = async (query: Parameters<typeof store.jobList>[0]) =>
      (await store.jobList(query)).items.map((j) => j.id);

    expect(await ids({})).toEqual(["o-1", "b-1", "a-1", "p-1", "c-1"]);
    expect(await ids({ order: "asc" })).toEqual(["p-1", "a-1", "b-1", "o-1", "c-1"]);
    expect(await ids({ type: "CronTickerOccurrence" })).toEqual(["o-1"]);
    expect(await ids({ function: "Beta", order: "asc" })).toEqual(["b-1", "o-1"]);
    expect(await ids({ cronTickerId: "cron-1" })).toEqual(["o-1"]);
    expect(await ids({ parentId: null, order: "asc" })).toEqual(["p-1", "a-1", "b-1", "o-1"]);
    expect(await ids({ parentId: "p-1" })).toEqual(["c-1"]);
    expect(await ids({ from: at(20), to: at(40), order: "asc" })).toEqual(["a-1", "b-1"]);
    expect(await ids({ search: "PARENT" })).toEqual(["p-1"]);
    expect(await ids({ search: "%_off" })).toEqual(["a-1"]);
    expect(await ids({ search: "_" })).toEqual(["a-1"]);
    expect(await ids({ search: "b-" })).toEqual(["b-1"]);

    await claimAndStart(store, "node-a", at(20));
    expect(await ids({ status: "InProgress", order: "asc" })).toEqual(["p-1", "a-1"]);
    expect(await ids({ status: ["Idle", "InProgress"], parentId: null, order: "asc" })).toEqual([
      "p-1",
      "a-1",
      "b-1",
      "o-1",
    ]);
    await store.jobCompleteMany({ completions: [completion("a-1", "node-a", "DueDone", at(21))] });
    expect(await ids({ updatedSince: at(20.5) })).toEqual(["a-1"]);
    expect(await ids({ orderBy: "updatedAt", order: "desc", limit: 1 })).toEqual(["a-1"]);

    const page = await store.jobList({ order: "asc", limit: 2, offset: 1 });
    expect(page.items.map((j) => j.id)).toEqual(["a-1", "b-1"]);
    expect(page.total).toBe(5);
    const filteredPage = await store.jobList({ parentId: null, limit: 1, offset: 0 });
    expect(filteredPage.total).toBe(4);
    expect(filteredPage.items).toHaveLength(1);
    expect(await store.jobList({ offset: 10 })).toEqual({ items: [], total: 5 });
  });

  it("orders by createdAt", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "x", createdAt: at(3) }),
        newJob({ id: "y", createdAt: at(1) }),
        newJob({ id: "z", createdAt: at(2) }),
      ],
    });
    expect((await store.jobList({ orderBy: "createdAt", order: "asc" })).items.map((j) => j.id)).toEqual([
      "y",
      "z",
      "x",
    ]);
    expect((await store.jobList({ orderBy: "createdAt" })).items.map((j) => j.id)).toEqual(["x", "z", "y"]);
  });

  it("counts by status, with every status present", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [newJob({ function: "A" }), newJob({ function: "A", executionTime: at(100) }), newJob({ function: "B" })],
    });
    await claimAndStart(store, "node-a", at(0));
    const counts = await store.jobCountByStatus({});
    expect(Object.keys(counts).sort()).toEqual([...TICKER_STATUSES].sort());
    expect(counts).toMatchObject({ Idle: 1, InProgress: 2, Done: 0, Failed: 0 });
    expect(await store.jobCountByStatus({ function: "A" })).toMatchObject({ Idle: 1, InProgress: 1 });
    expect(await store.jobCountByStatus({ type: "CronTickerOccurrence" })).toMatchObject({ Idle: 0, InProgress: 0 });
  });

  it("updates an Idle job, and refuses one that is not Idle", async () => {
    const store = get();
    const job = newJob({ executionTime: at(100) });
    const running = newJob({ executionTime: at(0) });
    await store.jobInsertMany({ jobs: [job, running] });
    await claimAndStart(store, "node-a", at(0));

    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    const updated = await store.jobUpdateIdle({
      id: job.id,
      patch: {
        executionTime: at(50),
        request: '{"a":1}',
        description: "d",
        retries: 2,
        retryIntervals: [1.5],
        priority: "Low",
      },
      now: at(1),
    });
    expect(updated).toMatchObject({
      ok: true,
      job: {
        executionTime: at(50),
        request: '{"a":1}',
        description: "d",
        retries: 2,
        retryIntervals: [1.5],
        priority: "Low",
        updatedAt: at(1),
      },
    });
    expect(await due).toEqual(at(50));
    expect(await store.jobGet({ id: job.id })).toMatchObject({ executionTime: at(50), priority: "Low" });

    expect(await store.jobUpdateIdle({ id: running.id, patch: { description: "x" }, now: at(1) })).toEqual({
      ok: false,
      reason: "wrong-status",
      status: "InProgress",
    });
    expect((await store.jobGet({ id: running.id }))?.description).toBeNull();
    expect(await store.jobUpdateIdle({ id: "missing", patch: {}, now: at(1) })).toEqual({
      ok: false,
      reason: "not-found",
    });
  });

  it("requeues a Failed, Cancelled or Skipped job as Idle due now, keeping its history", async () => {
    const store = get();
    const job = newJob({ retries: 0 });
    const done = newJob();
    await store.jobInsertMany({ jobs: [job, done] });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({
      completions: [
        completion(job.id, "node-a", "Failed", at(1), { error: "boom" }),
        completion(done.id, "node-a", "DueDone", at(1)),
      ],
    });
    const result = await store.jobRequeue({ id: job.id, now: at(5) });
    expect(result).toMatchObject({
      ok: true,
      job: { status: "Idle", executionTime: at(5), retryCount: 0, lockHolder: null },
    });
    expect(await store.attemptList({ jobId: job.id })).toHaveLength(1);
    expect(await store.jobNextDue()).toEqual(at(5));
    expect(await store.jobRequeue({ id: done.id, now: at(5) })).toEqual({
      ok: false,
      reason: "wrong-status",
      status: "DueDone",
    });
    expect(await store.jobRequeue({ id: "missing", now: at(5) })).toEqual({ ok: false, reason: "not-found" });
  });

  it("returns a requeued job as its update left it, though a claim right behind takes it", async () => {
    const store = get();
    const jobs = Array.from({ length: 10 }, () => newJob({ retries: 0 }));
    await store.jobInsertMany({ jobs });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({
      completions: jobs.map((job) => completion(job.id, "node-a", "Failed", at(1), { error: "boom" })),
    });
    for (const job of jobs) {
      const claims = async () => {
        // As a node woken by the requeue's signal: claims one after the other on another connection.
        for (let round = 0; round < 5; round++) {
          await store.jobClaimDue({ nodeId: "node-b", now: at(5), until: at(5), limit: 10, longRunningLimit: 0 });
        }
      };
      const [requeued] = await Promise.all([store.jobRequeue({ id: job.id, now: at(5) }), claims()]);
      expect(requeued).toMatchObject({
        ok: true,
        job: { id: job.id, status: "Idle", lockHolder: null, retryCount: 0 },
      });
    }
  });

  it("deletes jobs with their descendants and history", async () => {
    const store = get();
    const parent = newJob({ id: "parent" });
    const child = newJob({ id: "child", parentId: "parent", executionTime: null, runCondition: "OnSuccess" });
    const grandchild = newJob({ id: "grandchild", parentId: "child", executionTime: null, runCondition: "OnSuccess" });
    const other = newJob({ id: "other" });
    await store.jobInsertMany({ jobs: [parent, child, grandchild, other] });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("other", "node-a", "DueDone", at(1))] });
    expect(await store.jobDeleteMany({ ids: ["parent", "other", "missing"] })).toBe(4);
    expect((await store.jobList({})).total).toBe(0);
    expect(await store.attemptList({ jobId: "other" })).toEqual([]);
    expect(await store.jobDeleteMany({ ids: [] })).toBe(0);
  });
}
