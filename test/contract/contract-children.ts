/** Contract cases for children: activation with the parent, after it, and skipping down the tree. */

import { expect, it } from "vitest";
import type { FinalStatus, RunCondition } from "../../src/lifecycle.js";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, leasesOf, newJob } from "./fixtures.js";

const CONDITIONS: RunCondition[] = [
  "OnSuccess",
  "OnFailure",
  "OnCancelled",
  "OnFailureOrCancelled",
  "OnAnyCompletedStatus",
];

const RUNS: Record<FinalStatus, RunCondition[]> = {
  Done: ["OnSuccess", "OnAnyCompletedStatus"],
  DueDone: ["OnSuccess", "OnAnyCompletedStatus"],
  Failed: ["OnFailure", "OnFailureOrCancelled", "OnAnyCompletedStatus"],
  Cancelled: ["OnCancelled", "OnFailureOrCancelled", "OnAnyCompletedStatus"],
  Skipped: ["OnAnyCompletedStatus"],
};

export function childrenContract(get: CurrentStore): void {
  for (const parentStatus of Object.keys(RUNS) as FinalStatus[]) {
    it(`releases the children whose condition matches a ${parentStatus} parent and skips the rest`, async () => {
      const store = get();
      const children = CONDITIONS.map((condition) =>
        newJob({ id: `child-${condition}`, parentId: "parent", executionTime: null, runCondition: condition }),
      );
      const grandchildren = CONDITIONS.map((condition) =>
        newJob({
          id: `grandchild-${condition}`,
          parentId: `child-${condition}`,
          executionTime: null,
          runCondition: "OnAnyCompletedStatus",
        }),
      );
      await store.jobInsertMany({ jobs: [newJob({ id: "parent" }), ...children, ...grandchildren] });
      expect(await claimAndStart(store, "node-a", at(0))).toEqual(["parent"]);
      await store.jobCompleteMany({ completions: [completion("parent", "node-a", parentStatus, at(5.5))] });

      for (const condition of CONDITIONS) {
        const child = await store.jobGet({ id: `child-${condition}` });
        const grandchild = await store.jobGet({ id: `grandchild-${condition}` });
        if (RUNS[parentStatus].includes(condition)) {
          expect(child, condition).toMatchObject({ status: "Idle", executionTime: at(5.5), scheduledFor: at(5.5) });
          expect(grandchild, condition).toMatchObject({ status: "Idle", executionTime: null });
        } else {
          expect(child, condition).toMatchObject({ status: "Skipped" });
          expect(grandchild, condition).toMatchObject({ status: "Skipped" });
        }
      }
      expect(await store.jobNextDue()).toEqual(at(5.5));
    });
  }

  it("starts InProgress children together with the parent, and leaves them alone when it ends", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "parent" }),
        newJob({ id: "along", parentId: "parent", executionTime: null, runCondition: "InProgress" }),
        newJob({ id: "after", parentId: "parent", executionTime: null, runCondition: "OnSuccess" }),
      ],
    });
    await store.jobClaimDue({ nodeId: "node-a", now: at(0), until: at(0), limit: 10, longRunningLimit: 0 });
    expect(await store.jobGet({ id: "along" })).toMatchObject({ status: "Idle", executionTime: null });
    await store.jobStartMany({ leases: await leasesOf(store, ["parent"]), nodeId: "node-a", at: at(1) });
    expect(await store.jobGet({ id: "along" })).toMatchObject({
      status: "Idle",
      executionTime: at(1),
      scheduledFor: at(1),
    });
    expect(await store.jobGet({ id: "after" })).toMatchObject({ status: "Idle", executionTime: null });
    expect(await store.jobNextDue()).toEqual(at(1));
    await claimAndStart(store, "node-b", at(1));
    await store.jobCompleteMany({ completions: [completion("parent", "node-a", "Failed", at(2))] });
    expect(await store.jobGet({ id: "along" })).toMatchObject({ status: "InProgress", lockHolder: "node-b" });
    expect(await store.jobGet({ id: "after" })).toMatchObject({ status: "Skipped" });
  });

  it("leaves children waiting while the parent retries", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "parent", retries: 1 }),
        newJob({ id: "child", parentId: "parent", executionTime: null, runCondition: "OnFailure" }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("parent", "node-a", "Idle", at(1), { retryAt: at(10) })] });
    expect(await store.jobGet({ id: "child" })).toMatchObject({ status: "Idle", executionTime: null });
    await claimAndStart(store, "node-a", at(10));
    await store.jobCompleteMany({
      completions: [completion("parent", "node-a", "Failed", at(11), { attempt: 1, leaseToken: 2 })],
    });
    expect(await store.jobGet({ id: "child" })).toMatchObject({ status: "Idle", executionTime: at(11) });
  });

  it("a skipped child's whole subtree is skipped", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "root" }),
        newJob({ id: "a", parentId: "root", executionTime: null, runCondition: "OnFailure" }),
        newJob({ id: "b", parentId: "a", executionTime: null, runCondition: "OnSuccess" }),
        newJob({ id: "c", parentId: "b", executionTime: null, runCondition: "OnAnyCompletedStatus" }),
      ],
    });
    await claimAndStart(store, "node-a", at(0));
    await store.jobCompleteMany({ completions: [completion("root", "node-a", "DueDone", at(1))] });
    for (const id of ["a", "b", "c"]) expect((await store.jobGet({ id }))?.status, id).toBe("Skipped");
    expect(await store.jobNextDue()).toBeNull();
  });
}
