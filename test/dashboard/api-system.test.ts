import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setup } from "./helpers.js";

let t: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  t = await setup();
});
afterEach(() => t.close());

describe("dashboard API: session, overview, functions, nodes", () => {
  it("describes the session: node, read-only flag, functions and enums", async () => {
    const { body } = await t.api.get("/session");
    expect(body).toMatchObject({ nodeId: "node-a", readOnly: false, auth: "none", store: "memory" });
    expect(body.functions.map((f: any) => f.name)).toEqual(["SendEmail", "Explode", "Nightly"]);
    expect(body.runConditions).toContain("OnFailureOrCancelled");
  });

  it("sums up counts, next due job, nodes, throughput and lateness", async () => {
    await t.api.post("/jobs", { function: "Explode" });
    await t.api.post("/jobs", { function: "SendEmail", request: { email: "a" } });
    await t.api.post("/jobs", {
      function: "SendEmail",
      request: { email: "b" },
      executionTime: "2030-01-01T10:00:00Z",
    });
    await t.runDue();
    await t.clock.advance(1500); // past the overview's one-second cache
    const { body } = await t.api.get("/overview");
    expect(body.counts.time).toMatchObject({ Failed: 1, DueDone: 1, Idle: 1 });
    expect(body.nextDue).toMatchObject({ function: expect.any(String), status: "Idle" });
    expect(body.nodes).toEqual([
      expect.objectContaining({
        nodeId: "node-a",
        alive: true,
        self: true,
        info: expect.objectContaining({ maxConcurrency: 10 }),
      }),
    ]);
    const buckets = body.activity.buckets;
    expect(buckets).toHaveLength(60);
    expect(buckets.reduce((n: number, b: any) => n + b.succeeded, 0)).toBe(1);
    expect(buckets.reduce((n: number, b: any) => n + b.failed, 0)).toBe(1);
    expect(body.activity.lateness).toMatchObject({ samples: 2, p50: 0 });
  });

  it("lists functions with their counts", async () => {
    await t.api.post("/jobs", { function: "Explode", executionTime: "2030-02-01T00:00:00Z" });
    const { body } = await t.api.get("/functions");
    expect(body.items.find((f: any) => f.name === "Explode").counts.Idle).toBe(1);
    expect(body.items.find((f: any) => f.name === "Nightly")).toMatchObject({ cron: "0 0 3 * * *" });
  });

  it("pauses and resumes a node; an unknown node is a 404", async () => {
    const pause = await t.api.post("/nodes/node-a/pause");
    expect(pause.body).toEqual({ nodeId: "node-a", paused: true });
    expect(t.tq.paused).toBe(true);
    expect((await t.api.get("/nodes")).body.items[0].paused).toBe(true);
    await t.api.post("/nodes/node-a/resume");
    expect(t.tq.paused).toBe(false);
    expect((await t.api.post("/nodes/ghost/pause")).status).toBe(404);
  });

  it("serves the UI under the base path with a strict CSP and 404s outside it", async () => {
    const index = await t.dashboard.fetch(new Request("http://test/jobs/"));
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("script-src 'self'");
    const redirect = await t.dashboard.fetch(new Request("http://test/jobs"));
    expect(redirect.status).toBe(301);
    expect((await t.dashboard.fetch(new Request("http://test/jobs/assets/..%2Fauth.ts"))).status).toBe(404);
    expect((await t.dashboard.fetch(new Request("http://test/elsewhere"))).status).toBe(404);
  });
});
