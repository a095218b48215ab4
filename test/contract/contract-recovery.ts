/** Contract cases for giving work back: release, cancel (local and requested) and lease recovery. */

import { expect, it } from "vitest";
import type { Store } from "../../src/store/contract.js";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, leasesOf, newJob, nextSignal, nodeInfo } from "./fixtures.js";

/**
 * Job "j" claimed and started by node-a (token 1); node-a paused past its lease: recovered, then
 * claimed again by the same node (token 2, one attempt counted).
 */
async function claimedAgain(store: Store) {
  await store.nodeHeartbeat({ nodeId: "node-a", at: at(0), info: nodeInfo() });
  await store.jobInsertMany({ jobs: [newJob({ id: "j", retries: 3 })] });
  const claim = (now: number) =>
    store.jobClaimDue({ nodeId: "node-a", now: at(now), until: at(now), limit: 1, longRunningLimit: 0 });
  const [first] = await claim(0);
  expect(first).toMatchObject({ id: "j", leaseToken: 1 });
  await store.jobStartMany({ leases: [first!], nodeId: "node-a", at: at(0) });
  await store.jobRecoverLeases({
    now: at(30),
    deadNodes: [{ nodeId: "node-a", heartbeatAt: at(0) }],
    orphanedBefore: null,
  });
  const [second] = await claim(31);
  expect(second).toMatchObject({ id: "j", leaseToken: 2, retryCount: 1 });
  return { first: first!, second: second! };
}

/** j's history after claimedAgain: the recovered attempt, the old run superseded, the new run Done. */
async function expectSupersededThenDone(store: Store): Promise<void> {
  const history = await store.attemptList({ jobId: "j" });
  expect(history.map((a) => [a.attempt, a.status, a.superseded])).toEqual([
    [0, "Failed", false],
    [0, "DueDone", true],
    [1, "Done", false],
  ]);
}

export function recoveryContract(get: CurrentStore): void {
  it("releases held jobs to Idle, keeping executionTime and retryCount", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [newJob({ id: "a", executionTime: at(3) }), newJob({ id: "b", executionTime: at(4) })],
    });
    await store.jobClaimDue({ nodeId: "node-a", now: at(5), until: at(5), limit: 1, longRunningLimit: 0 });
    await store.jobClaimDue({ nodeId: "node-b", now: at(5), until: at(5), limit: 1, longRunningLimit: 0 });
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    await store.jobRelease({ leases: await leasesOf(store, ["a", "b"]), nodeId: "node-a", now: at(6) });
    expect(await due).toBeInstanceOf(Date);
    expect(await store.jobGet({ id: "a" })).toMatchObject({
      status: "Idle",
      executionTime: at(3),
      retryCount: 0,
      lockHolder: null,
    });
    expect(await store.jobGet({ id: "b" })).toMatchObject({ status: "Queued", lockHolder: "node-b" });
    expect(await store.jobNextDue()).toEqual(at(3));
  });

  it("cancels Idle and Queued jobs at once, with their children's rules", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "idle", executionTime: at(100) }),
        newJob({ id: "on-cancel", parentId: "idle", executionTime: null, runCondition: "OnCancelled" }),
        newJob({ id: "on-success", parentId: "idle", executionTime: null, runCondition: "OnSuccess" }),
        newJob({ id: "queued", executionTime: at(0) }),
      ],
    });
    await store.jobClaimDue({ nodeId: "node-a", now: at(0), until: at(0), limit: 10, longRunningLimit: 0 });
    expect(await store.jobCancel({ id: "idle", now: at(1) })).toBe("cancelled");
    expect(await store.jobGet({ id: "idle" })).toMatchObject({ status: "Cancelled", updatedAt: at(1) });
    expect(await store.jobGet({ id: "on-cancel" })).toMatchObject({ status: "Idle", executionTime: at(1) });
    expect(await store.jobGet({ id: "on-success" })).toMatchObject({ status: "Skipped" });
    expect(await store.jobCancel({ id: "queued", now: at(2) })).toBe("cancelled");
    expect(
      await store.jobStartMany({ leases: [{ id: "queued", leaseToken: 1 }], nodeId: "node-a", at: at(3) }),
    ).toEqual([]);
    expect(await store.jobCancel({ id: "queued", now: at(4) })).toBe("final");
    expect(await store.jobCancel({ id: "missing", now: at(4) })).toBe("not-found");
  });

  it("asks the node running an InProgress job to cancel it", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "running" }), newJob({ id: "other" })] });
    await claimAndStart(store, "node-a", at(0));
    expect(await store.jobCancelRequested({ nodeId: "node-a" })).toEqual([]);
    const signal = nextSignal(store, (s) => (s.type === "cancel" ? s.id : undefined));
    expect(await store.jobCancel({ id: "running", now: at(1) })).toBe("requested");
    expect(await signal).toBe("running");
    expect(await store.jobGet({ id: "running" })).toMatchObject({ status: "InProgress", cancelRequested: true });
    expect(await store.jobCancelRequested({ nodeId: "node-a" })).toEqual(["running"]);
    expect(await store.jobCancelRequested({ nodeId: "node-b" })).toEqual([]);
    await store.jobCompleteMany({ completions: [completion("running", "node-a", "Cancelled", at(2))] });
    expect(await store.jobCancelRequested({ nodeId: "node-a" })).toEqual([]);
    expect(await store.jobCancel({ id: "running", now: at(3) })).toBe("final");
  });

  it("recovers leases of nodes named dead while their heartbeat is the one seen", async () => {
    const store = get();
    await store.nodeHeartbeat({ nodeId: "dead", at: at(0), info: nodeInfo() });
    await store.nodeHeartbeat({ nodeId: "alive", at: at(0), info: nodeInfo() });
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "dead-queued" }),
        newJob({ id: "dead-running", priority: "High" }),
        newJob({ id: "alive-running", executionTime: at(2) }),
      ],
    });
    await store.jobClaimDue({ nodeId: "dead", now: at(1), until: at(1), limit: 2, longRunningLimit: 0 });
    await store.jobStartMany({ leases: await leasesOf(store, ["dead-running"]), nodeId: "dead", at: at(2) });
    await claimAndStart(store, "alive", at(3));
    await store.nodeHeartbeat({ nodeId: "alive", at: at(40), info: nodeInfo() });

    const none = { now: at(41), deadNodes: [], orphanedBefore: null };
    expect(await store.jobRecoverLeases(none)).toEqual([]);
    // "alive" beat since the caller saw it at 0: not dead after all.
    const seen = [
      { nodeId: "dead", heartbeatAt: at(0) },
      { nodeId: "alive", heartbeatAt: at(0) },
    ];
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    const recovered = await store.jobRecoverLeases({ now: at(41), deadNodes: seen, orphanedBefore: null });
    expect(recovered.sort()).toEqual(["dead-queued", "dead-running"]);
    expect(await due).toBeInstanceOf(Date);
    expect(await store.jobGet({ id: "dead-queued" })).toMatchObject({
      status: "Idle",
      retryCount: 0,
      lockHolder: null,
    });
    expect(await store.jobGet({ id: "dead-running" })).toMatchObject({
      status: "Idle",
      retryCount: 1,
      lockHolder: null,
    });
    expect(await store.jobGet({ id: "alive-running" })).toMatchObject({ status: "InProgress", lockHolder: "alive" });
    expect(await store.attemptList({ jobId: "dead-queued" })).toEqual([]);
    const [lost] = await store.attemptList({ jobId: "dead-running" });
    expect(lost).toMatchObject({ attempt: 0, status: "Failed", nodeId: "dead", startedAt: at(2), finishedAt: at(41) });
    const again = await store.jobClaimDue({
      nodeId: "alive",
      now: at(42),
      until: at(42),
      limit: 10,
      longRunningLimit: 0,
    });
    expect(again.map((j) => j.id)).toEqual(["dead-running", "dead-queued"]);
    expect(again.map((j) => j.leaseToken)).toEqual([2, 2]);
    expect(await store.jobRecoverLeases({ now: at(43), deadNodes: seen, orphanedBefore: null })).toEqual([]);
  });

  it("recovers all work of a node named dead with no heartbeat given, and of holders with no node record", async () => {
    const store = get();
    await store.nodeHeartbeat({ nodeId: "gone", at: at(100), info: nodeInfo() });
    await store.jobInsertMany({ jobs: [newJob({ id: "j" }), newJob({ id: "k", executionTime: at(5) })] });
    await claimAndStart(store, "gone", at(0));
    await store.jobClaimDue({ nodeId: "never-beat", now: at(5), until: at(5), limit: 1, longRunningLimit: 0 });
    const named = [{ nodeId: "gone", heartbeatAt: null }];
    expect(await store.jobRecoverLeases({ now: at(101), deadNodes: named, orphanedBefore: null })).toEqual(["j"]);
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Idle", retryCount: 1 });
    // A holder without a node record: only once its lease is older than orphanedBefore.
    expect(await store.jobRecoverLeases({ now: at(101), deadNodes: [], orphanedBefore: at(5) })).toEqual([]);
    expect(await store.jobRecoverLeases({ now: at(101), deadNodes: [], orphanedBefore: at(6) })).toEqual(["k"]);
  });

  it("lists the leases a node holds, with their tokens", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "q" }), newJob({ id: "r" }), newJob({ id: "s" })] });
    await store.jobClaimDue({
      nodeId: "node-a",
      now: at(0),
      until: at(0),
      limit: 2,
      longRunningLimit: 0,
      startLimit: 1,
    });
    await store.jobClaimDue({ nodeId: "node-b", now: at(0), until: at(0), limit: 5, longRunningLimit: 0 });
    const mine = await store.jobLeaseList({ nodeId: "node-a" });
    expect(mine.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
      { id: "q", leaseToken: 1 },
      { id: "r", leaseToken: 1 },
    ]);
    expect(await store.jobLeaseList({ nodeId: "node-b" })).toEqual([{ id: "s", leaseToken: 1 }]);
    await store.jobCompleteMany({ completions: [completion("q", "node-a", "Done", at(1))] });
    expect(await store.jobLeaseList({ nodeId: "node-a" })).toEqual([{ id: "r", leaseToken: 1 }]);
    expect(await store.jobLeaseList({ nodeId: "nobody" })).toEqual([]);
  });

  it("fences a node that claimed the same job again: only the newest lease writes", async () => {
    const store = get();
    const { first, second } = await claimedAgain(store);
    // The first run's writes carry token 1: none applies.
    expect(await store.jobStartMany({ leases: [first], nodeId: "node-a", at: at(32) })).toEqual([]);
    await store.jobRelease({ leases: [first], nodeId: "node-a", now: at(32) });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Queued", leaseToken: 2, lockHolder: "node-a" });
    expect(await store.jobStartMany({ leases: [second], nodeId: "node-a", at: at(33) })).toEqual(["j"]);
    const stale = completion("j", "node-a", "DueDone", at(39), { startedAt: at(0), leaseToken: 1 });
    expect(await store.jobCompleteMany({ completions: [stale] })).toEqual({ superseded: ["j"] });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "InProgress", leaseToken: 2 });
    const fresh = completion("j", "node-a", "Done", at(40), { startedAt: at(33), attempt: 1, leaseToken: 2 });
    expect(await store.jobCompleteMany({ completions: [fresh] })).toEqual({ superseded: [] });
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Done", lockHolder: null });
    await expectSupersededThenDone(store);
  });

  it("keeps a stale and a current completion of one job apart when one call carries both", async () => {
    const store = get();
    // The old run (which ignored its abort) and the new one end in the same batch of completions.
    const { second } = await claimedAgain(store);
    await store.jobStartMany({ leases: [second], nodeId: "node-a", at: at(31) });
    const stale = completion("j", "node-a", "DueDone", at(39), { startedAt: at(0), leaseToken: 1 });
    const fresh = completion("j", "node-a", "Done", at(40), { startedAt: at(31), attempt: 1, leaseToken: 2 });
    const { superseded } = await store.jobCompleteMany({ completions: [stale, fresh] });
    expect(superseded).toContain("j");
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Done", lockHolder: null });
    await expectSupersededThenDone(store);
  });

  it("starts a job claimed ahead at its due instant", async () => {
    const store = get();
    await store.jobInsertMany({ jobs: [newJob({ id: "ahead", executionTime: at(10) })] });
    const claimed = await store.jobClaimDue({
      nodeId: "n",
      now: at(9.98),
      until: at(10),
      limit: 1,
      longRunningLimit: 0,
    });
    expect(await store.jobStartMany({ leases: claimed, nodeId: "n", at: at(9.99) })).toEqual(["ahead"]);
    expect(await store.jobGet({ id: "ahead" })).toMatchObject({ status: "InProgress", executedAt: at(10) });
  });
}
