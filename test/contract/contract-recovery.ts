/** Contract cases for giving work back: release, cancel (local and requested) and lease recovery. */

import { expect, it } from "vitest";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, newJob, nextSignal, nodeInfo } from "./fixtures.js";

export function recoveryContract(get: CurrentStore): void {
  it("releases held jobs to Idle, keeping executionTime and retryCount", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [newJob({ id: "a", executionTime: at(3) }), newJob({ id: "b", executionTime: at(4) })],
    });
    await store.jobClaimDue({ nodeId: "node-a", now: at(5), until: at(5), limit: 1, longRunningLimit: 0 });
    await store.jobClaimDue({ nodeId: "node-b", now: at(5), until: at(5), limit: 1, longRunningLimit: 0 });
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    await store.jobRelease({ ids: ["a", "b"], nodeId: "node-a", now: at(6) });
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
    expect(await store.jobStartMany({ ids: ["queued"], nodeId: "node-a", at: at(3) })).toEqual([]);
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

  it("recovers leases of nodes whose heartbeat went stale", async () => {
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
    await store.jobStartMany({ ids: ["dead-running"], nodeId: "dead", at: at(2) });
    await claimAndStart(store, "alive", at(3));
    await store.nodeHeartbeat({ nodeId: "alive", at: at(40), info: nodeInfo() });

    expect(await store.jobRecoverLeases({ now: at(41), staleBefore: at(-1) })).toEqual([]);
    const due = nextSignal(store, (s) => (s.type === "due" ? s.at : undefined));
    const recovered = await store.jobRecoverLeases({ now: at(41), staleBefore: at(11) });
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
    expect(await store.jobRecoverLeases({ now: at(43), staleBefore: at(11) })).toEqual([]);
  });

  it("recovers all work of nodes named dead, whatever their heartbeat", async () => {
    const store = get();
    await store.nodeHeartbeat({ nodeId: "gone", at: at(100), info: nodeInfo() });
    await store.jobInsertMany({ jobs: [newJob({ id: "j" })] });
    await claimAndStart(store, "gone", at(0));
    expect(await store.jobRecoverLeases({ now: at(101), staleBefore: at(50) })).toEqual([]);
    expect(await store.jobRecoverLeases({ now: at(101), staleBefore: at(50), deadNodeIds: ["gone"] })).toEqual(["j"]);
    expect(await store.jobGet({ id: "j" })).toMatchObject({ status: "Idle", retryCount: 1 });
  });
}
