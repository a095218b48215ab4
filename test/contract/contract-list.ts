/** Contract cases for the list as the dashboard pages it: keyset pages, totals on request, request search, child counts. */

import { expect, it } from "vitest";
import type { JobQuery, Store } from "../../src/store/contract.js";
import type { CurrentStore } from "./store-contract.js";
import { at, claimAndStart, completion, newJob } from "./fixtures.js";

/** Walks every page of `query` by keyset and returns the ids in order. */
async function walk(store: Store, query: JobQuery, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let after: JobQuery["after"];
  const key = query.orderBy ?? "executionTime";
  for (;;) {
    const page = await store.jobList({ ...query, limit, after, withTotal: false });
    expect(page.total).toBe(-1);
    ids.push(...page.items.map((job) => job.id));
    if (page.items.length < limit) return ids;
    const last = page.items[page.items.length - 1]!;
    after = { value: last[key], id: last.id };
  }
}

export function listContract(get: CurrentStore): void {
  it("pages by keyset in the same order as one long page, ties and waiting children included", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        // Three share an instant: the id breaks the tie, in the query's direction.
        newJob({ id: "b", executionTime: at(5) }),
        newJob({ id: "a", executionTime: at(5) }),
        newJob({ id: "c", executionTime: at(5) }),
        newJob({ id: "d", executionTime: at(1) }),
        newJob({ id: "e", executionTime: at(9) }),
        newJob({ id: "f", executionTime: at(7) }),
        newJob({ id: "w1", executionTime: null, parentId: "d", runCondition: "OnSuccess" }),
        newJob({ id: "w2", executionTime: null, parentId: "d", runCondition: "OnSuccess" }),
      ],
    });
    for (const order of ["asc", "desc"] as const) {
      for (const query of [{ order }, { order, parentId: null }, { order, orderBy: "createdAt" as const }]) {
        const whole = (await store.jobList({ ...query })).items.map((job) => job.id);
        for (const limit of [1, 2, 3]) expect(await walk(store, query, limit)).toEqual(whole);
      }
    }
    const asc = (await store.jobList({ order: "asc" })).items.map((job) => job.id);
    expect(asc).toEqual(["d", "a", "b", "c", "f", "e", "w1", "w2"]);
    // The total counts every match, not only those after the key.
    const page = await store.jobList({ order: "asc", after: { value: at(5), id: "b" }, limit: 2 });
    expect(page).toMatchObject({ total: 8 });
    expect(page.items.map((job) => job.id)).toEqual(["c", "f"]);
  });

  it("jumps to a deep offset with the rows an offset into the whole list holds, ties and waiting children included", async () => {
    const store = get();
    const jobs = Array.from({ length: 1_230 }, (_, i) =>
      newJob({ id: `j${String(i).padStart(4, "0")}`, executionTime: at(i % 300), createdAt: at(-(i % 7)) }),
    );
    // Children waiting for their parent have no executionTime: the last of the list either way.
    const waiting = Array.from({ length: 40 }, (_, i) =>
      newJob({
        id: `w${String(i).padStart(2, "0")}`,
        executionTime: null,
        parentId: "j0000",
        runCondition: "OnSuccess",
      }),
    );
    await store.jobInsertMany({ jobs: [...jobs, ...waiting] });
    for (const order of ["asc", "desc"] as const) {
      for (const query of [{ order }, { order, orderBy: "createdAt" as const }, { order, parentId: null }]) {
        const whole = (await store.jobList({ ...query, withTotal: false })).items.map((job) => job.id);
        for (const offset of [1_000, 1_199, 1_240, 1_269, 1_270, 1_400]) {
          const page = await store.jobList({ ...query, offset, limit: 25 });
          expect({ query, offset, ids: page.items.map((job) => job.id) }).toEqual({
            query,
            offset,
            ids: whole.slice(offset, offset + 25),
          });
          expect(page.total).toBe(whole.length);
        }
      }
    }
  });

  it("searches the request only when asked", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [newJob({ id: "x", request: JSON.stringify({ email: "Ann@Example.com" }) }), newJob({ id: "y" })],
    });
    expect((await store.jobList({ search: "ann@example" })).items).toEqual([]);
    expect((await store.jobList({ search: "ann@example", searchRequest: true })).items.map((j) => j.id)).toEqual(["x"]);
  });

  it("counts the children of many jobs at once", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [
        newJob({ id: "p" }),
        newJob({ id: "q" }),
        newJob({ id: "k1", executionTime: null, parentId: "p", runCondition: "OnSuccess" }),
        newJob({ id: "k2", executionTime: null, parentId: "p", runCondition: "OnFailure" }),
      ],
    });
    expect(await store.jobChildCounts({ parentIds: ["p", "q", "missing"] })).toEqual({ p: 2 });
    expect(await store.jobChildCounts({ parentIds: [] })).toEqual({});
  });

  it("names the node of each job's latest attempt", async () => {
    const store = get();
    await store.jobInsertMany({
      jobs: [newJob({ id: "ran", retries: 1 }), newJob({ id: "never", executionTime: at(100) })],
    });
    await claimAndStart(store, "node-a", at(1));
    await store.jobCompleteMany({
      completions: [completion("ran", "node-a", "Idle", at(2), { retryAt: at(3), error: "x" })],
    });
    await claimAndStart(store, "node-b", at(4));
    await store.jobCompleteMany({
      completions: [completion("ran", "node-b", "Done", at(5), { attempt: 1, leaseToken: 2 })],
    });
    expect(await store.attemptLastNodes({ jobIds: ["ran", "never", "missing"] })).toEqual({ ran: "node-b" });
    expect(await store.attemptLastNodes({ jobIds: [] })).toEqual({});
  });
}
