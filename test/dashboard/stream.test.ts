import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { makeNode, readEvents, setup } from "./helpers.js";

let t: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  t = await setup({ live: { pollIntervalMs: 100 } });
});
afterEach(() => t.close());

const open = () =>
  t.dashboard.fetch(new Request("http://test/jobs/api/stream", { headers: { "x-tickerq-request": "1" } }));

describe("live stream", () => {
  it("greets, then sends counts and nodes", async () => {
    const events = await readEvents(await open(), (event) => event === "nodes");
    expect(events[0]).toMatchObject({ event: "hello", data: { nodeId: "node-a" } });
    expect(events.find((e) => e.event === "counts")?.data.time).toMatchObject({ Idle: 0 });
    expect(events.find((e) => e.event === "nodes")?.data[0]).toMatchObject({ nodeId: "node-a", alive: true });
  });

  it("shows a job added by another node on the same store within a second", async () => {
    const other = makeNode({ store: t.tq.store, clock: t.clock, nodeId: "node-b" });
    const response = await open();
    const id = "added-by-node-b";
    const arrived = readEvents(
      response,
      (event, data) => event === "jobs" && data.rows.some((c: any) => c.id === id),
      2000,
    );
    const started = Date.now();
    await other.tq.timeTickers.add({
      id,
      function: "SendEmail",
      request: { email: "x@y" },
      executionTime: new Date("2030-06-01T00:00:00Z"),
    });
    const events = await arrived;
    expect(Date.now() - started).toBeLessThan(1000);
    expect(events.at(-1)!.data.rows.find((c: any) => c.id === id)).toMatchObject({
      status: "Idle",
      function: "SendEmail",
    });
  });

  it("pushes this node's changes and new counts after an action", async () => {
    const response = await open();
    const done = readEvents(response, (event, data) => event === "counts" && data.time.Failed === 1, 2000);
    await t.api.post("/jobs", { function: "Explode" });
    await t.runDue();
    const events = await done;
    const jobs = events.filter((e) => e.event === "jobs");
    // Row deltas the list can patch in: the row as it is now, without the request.
    const failed = jobs.flatMap((e) => e.data.rows).find((c: any) => c.status === "Failed");
    expect(failed).toMatchObject({ function: "Explode", retryCount: 0, exceptionMessage: expect.any(String) });
    expect(failed).not.toHaveProperty("request");
    // The change position only grows.
    const positions = jobs.map((e) => e.data.position);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it("reads counts only after changes, not at every look, while nothing happens", async () => {
    const store = t.tq.store;
    let looks = 0;
    let countReads = 0;
    let sixthLook!: () => void;
    const looked = new Promise<void>((resolve) => (sixthLook = resolve));
    const nodeList = store.nodeList.bind(store);
    const jobCountList = store.jobCountList.bind(store);
    store.nodeList = () => {
      if (++looks === 6) sixthLook();
      return nodeList();
    };
    store.jobCountList = () => {
      countReads++;
      return jobCountList();
    };
    // Keep the stream open (a reader draining it) until the hub has looked six times.
    const reader = (await open()).body!.getReader();
    const drain = (async () => {
      while (!(await reader.read()).done);
    })();
    await looked;
    await reader.cancel();
    await drain;
    // The first look reads them; another comes only every five seconds without a change.
    expect(countReads).toBeLessThanOrEqual(2);
  });

  it("stops polling when the last client leaves and ends streams on close", async () => {
    const response = await open();
    await readEvents(response, (event) => event === "hello");
    const second = await open();
    t.dashboard.close();
    const reader = second.body!.getReader();
    let result = await reader.read();
    while (!result.done) result = await reader.read();
    expect(result.done).toBe(true);
  });
});

describe("live stream under a burst", () => {
  it("keeps up when other nodes change more rows than one poll reads", async () => {
    const other = makeNode({ store: t.tq.store, clock: t.clock, nodeId: "node-b" });
    const response = await open();
    const arrived = readEvents(
      response,
      (event, data) => event === "jobs" && data.rows.some((c: any) => c.id === "last"),
      3000,
    );
    for (let batch = 0; batch < 3; batch++) {
      await t.clock.advance(1);
      await other.tq.timeTickers.addMany(
        Array.from({ length: 400 }, (_, i) => ({
          id: `b${batch}-${i}`,
          function: "SendEmail" as const,
          request: { email: "x" },
          executionTime: new Date("2031-01-01T00:00:00Z"),
        })),
      );
    }
    await t.clock.advance(1);
    await other.tq.timeTickers.add({
      id: "last",
      function: "SendEmail",
      request: { email: "x" },
      executionTime: new Date("2031-01-01T00:00:00Z"),
    });
    const events = await arrived;
    expect(events.filter((e) => e.event === "jobs").length).toBeGreaterThan(1);
  });
});
