/** The API behind the pages for a million jobs: history windows, per-function stats, the list's default order and keyset pages. */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setup } from "./helpers.js";

let t: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  t = await setup();
});
afterEach(() => t.close());

const at = (iso: string) => new Date(iso);

describe("dashboard API: history and functions", () => {
  it("counts every finished run of the hour (not a sample of the latest rows) and per function", async () => {
    for (let i = 0; i < 30; i++) await t.tq.timeTickers.add({ function: "SendEmail", request: { email: "x" } });
    for (let i = 0; i < 7; i++) await t.tq.timeTickers.add({ function: "Explode" });
    // Two failing cron runs: counted with the occurrences, not in the tile that links to the time tickers.
    const cron = await t.tq.cronTickers.add({ function: "Explode", expression: "0 0 1 1 *" });
    await t.tq.cronTickers.trigger(cron.id);
    await t.clock.advance(1000); // one run per instant
    await t.tq.cronTickers.trigger(cron.id);
    await t.runDue();
    const overview = await t.api.get("/overview");
    expect(overview.status).toBe(200);
    const buckets = overview.body.activity.buckets as { succeeded: number; failed: number }[];
    expect(buckets).toHaveLength(60);
    expect(buckets.reduce((n, b) => n + b.succeeded, 0)).toBe(30);
    // Throughput counts every run, cron runs too.
    expect(buckets.reduce((n, b) => n + b.failed, 0)).toBe(9);
    // The tile and the list it links to agree: both count Failed time tickers, children included.
    expect(overview.body.counts.time.Failed).toBe(7);
    expect(overview.body.counts.occurrences.Failed).toBe(2);
    expect((await t.api.get("/jobs?status=Failed")).body.total).toBe(7);

    for (const [window, length] of [
      ["day", 24],
      ["week", 168],
    ] as const) {
      const answer = await t.api.get(`/overview?window=${window}`);
      expect(answer.body.activity.buckets).toHaveLength(length);
      expect(answer.body.activity.buckets.reduce((n: number, b: any) => n + b.failed, 0)).toBe(9);
    }
    expect((await t.api.get("/overview?window=year")).status).toBe(400);

    const fns = await t.api.get("/functions?window=day");
    const explode = fns.body.items.find((f: any) => f.name === "Explode");
    expect(explode.stats).toMatchObject({ runs: 9, failed: 9, failureRate: 1 });
    expect(explode.counts.Failed).toBe(9);
    const email = fns.body.items.find((f: any) => f.name === "SendEmail");
    expect(email.stats).toMatchObject({ runs: 30, failed: 0, failureRate: 0 });
    expect(email.stats.latenessMs.samples).toBe(30);
  });
});

describe("dashboard API: the list", () => {
  it("opens with running and due-soon work first, then what ended most recently, and pages by keyset", async () => {
    await t.tq.timeTickers.add({
      id: "later",
      function: "SendEmail",
      request: { email: "x" },
      executionTime: at("2030-01-02T00:00:00Z"),
    });
    await t.tq.timeTickers.add({
      id: "soon",
      function: "SendEmail",
      request: { email: "x" },
      executionTime: at("2030-01-01T09:00:00Z"),
    });
    await t.tq.timeTickers.add({ id: "ended-first", function: "SendEmail", request: { email: "x" } });
    await t.runDue();
    await t.clock.advance(1000);
    await t.tq.timeTickers.add({ id: "ended-last", function: "Explode" });
    await t.runDue();
    const all = await t.api.get("/jobs");
    expect(all.body.items.map((j: any) => j.id)).toEqual(["soon", "later", "ended-last", "ended-first"]);
    expect(all.body.total).toBe(4);
    // Who ran a job that ended (it holds no lease any more); null for one never run.
    expect(all.body.items.map((j: any) => j.lastNodeId)).toEqual([null, null, "node-a", "node-a"]);

    const ids: string[] = [];
    let next: Record<string, string> | null = {};
    while (next) {
      const page: any = await t.api.get(`/jobs?limit=1&${new URLSearchParams(next)}`);
      ids.push(...page.body.items.map((j: any) => j.id));
      next = page.body.next;
    }
    expect(ids).toEqual(["soon", "later", "ended-last", "ended-first"]);
    // A page jump still works by offset, across sections.
    expect((await t.api.get("/jobs?limit=1&offset=2")).body.items[0].id).toBe("ended-last");
  });

  it("sorts by a column in either direction with keyset pages, and searches the request when asked", async () => {
    for (const [id, hour] of [
      ["a", 10],
      ["b", 12],
      ["c", 11],
    ] as const)
      await t.tq.timeTickers.add({
        id,
        function: "SendEmail",
        request: { email: `${id}@example.com` },
        executionTime: at(`2030-01-01T${hour}:00:00Z`),
      });
    const walk = async (query: string) => {
      const ids: string[] = [];
      let next: Record<string, string> | null = {};
      while (next) {
        const page: any = await t.api.get(`/jobs?${query}&limit=2&${new URLSearchParams(next)}`);
        ids.push(...page.body.items.map((j: any) => j.id));
        next = page.body.next;
      }
      return ids;
    };
    expect(await walk("orderBy=executionTime&order=asc")).toEqual(["a", "c", "b"]);
    expect(await walk("orderBy=executionTime&order=desc")).toEqual(["b", "c", "a"]);
    expect((await t.api.get("/jobs?search=b@example")).body.total).toBe(0);
    const found = await t.api.get("/jobs?search=b@example&searchRequest=1");
    expect(found.body.items.map((j: any) => j.id)).toEqual(["b"]);
  });
});

describe("dashboard API: apply to all matching", () => {
  it("retries every job a filter matches, beyond any page, in batches, with progress", async () => {
    const failing = Array.from({ length: 1203 }, (_, i) => ({ id: `f-${i}`, function: "Explode" as const }));
    await t.tq.timeTickers.addMany(failing);
    await t.tq.timeTickers.add({ id: "other", function: "SendEmail", request: { email: "x" } });
    await t.runDue();
    expect((await t.api.get("/jobs?status=Failed")).body.total).toBe(1203);
    const started = await t.api.post("/jobs/bulk", {
      action: "retry",
      filter: { status: "Failed", function: "Explode" },
    });
    expect(started.status).toBe(202);
    expect(started.body.operation).toMatchObject({ action: "retry", total: 1203 });
    let operation = started.body.operation;
    while (!operation.finished) {
      await new Promise((resolve) => setImmediate(resolve));
      operation = (await t.api.get(`/jobs/bulk/${operation.id}`)).body.operation;
    }
    expect(operation).toMatchObject({ done: 1203, succeeded: 1203, failed: 0 });
    // Every one ran again (and failed again: Explode always throws), the first and the last alike.
    await t.runDue();
    for (const id of ["f-0", "f-600", "f-1202"])
      expect((await t.api.get(`/jobs/${id}`)).body.attempts, id).toHaveLength(2);
    // The job outside the filter was not touched.
    expect((await t.api.get("/jobs/other")).body.job.status).not.toBe("Idle");
  });

  it("deletes all matching, and refuses a filter it cannot read", async () => {
    await t.tq.timeTickers.addMany(
      Array.from({ length: 30 }, (_, i) => ({
        function: "SendEmail" as const,
        request: { email: `x${i}` },
        executionTime: new Date("2030-06-01T00:00:00Z"),
      })),
    );
    const started = await t.api.post("/jobs/bulk", { action: "delete", filter: { function: "SendEmail" } });
    let operation = started.body.operation;
    while (!operation.finished) {
      await new Promise((resolve) => setImmediate(resolve));
      operation = (await t.api.get(`/jobs/bulk/${operation.id}`)).body.operation;
    }
    expect(operation).toMatchObject({ total: 30, succeeded: 30 });
    expect((await t.api.get("/jobs?function=SendEmail")).body.total).toBe(0);
    expect((await t.api.post("/jobs/bulk", { action: "delete", filter: { status: "Nope" } })).status).toBe(400);
    expect((await t.api.post("/jobs/bulk", { action: "delete", filter: "all" })).status).toBe(400);
    expect((await t.api.post("/jobs/bulk", { action: "delete", ids: ["a"], filter: {} })).status).toBe(400);
    expect((await t.api.get("/jobs/bulk/unknown")).status).toBe(404);
  });
});
