/** Request limits and sign-in: body size and depth, bodies where none belongs, cross-site actions, throttled logins, the session cookie, stream headers. */

import { afterEach, describe, expect, it } from "vitest";
import { LoginThrottle, jsonDepth } from "../../src/dashboard/guards.js";
import { client, setup } from "./helpers.js";

let t: Awaited<ReturnType<typeof setup>> | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const url = (path: string) => `http://test/jobs/api${path}`;
type Init = Omit<RequestInit, "headers"> & { headers?: Record<string, string> };
const action = (path: string, init: Init = {}) =>
  t!.dashboard.fetch(
    new Request(url(path), { method: "POST", ...init, headers: { "x-tickerq-request": "1", ...init.headers } }),
  );

describe("dashboard request limits", () => {
  it("refuses a body over the limit with 413 before parsing it, declared or streamed", async () => {
    t = await setup({ maxBodyBytes: 1000 });
    const big = JSON.stringify({ action: "delete", ids: Array.from({ length: 200 }, (_, i) => `id-${i}`) });
    const declared = await action("/jobs/bulk", { body: big, headers: { "content-type": "application/json" } });
    expect(declared.status).toBe(413);
    // No Content-Length: counted while read, cut off at the limit.
    const chunks = [big.slice(0, 600), big.slice(600)];
    const streamed = await action("/jobs/bulk", {
      body: new ReadableStream({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      }),
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as Init);
    expect(streamed.status).toBe(413);
    const small = await client(t.dashboard).post("/jobs/bulk", { action: "delete", ids: ["a"] });
    expect(small.status).toBe(200);
  });

  it("defaults to 1 MiB", async () => {
    t = await setup();
    const over = "x".repeat(1024 * 1024 + 1);
    const answer = await action("/jobs", { body: over, headers: { "content-type": "application/json" } });
    expect(answer.status).toBe(413);
  });

  it("refuses a deep JSON body with 400, not a stack overflow", async () => {
    t = await setup();
    const deep = `{"function":"SendEmail","request":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const answer = await action("/jobs", { body: deep, headers: { "content-type": "application/json" } });
    expect(answer.status).toBe(400);
    expect(await answer.json()).toMatchObject({ error: { code: "INVALID_ARGUMENT" } });
    expect(jsonDepth('{"a":"[[[[","b":[[1]]}')).toBe(3);
  });

  it("refuses a body on actions that take none, and does not act", async () => {
    t = await setup();
    const job = (
      await client(t.dashboard).post("/jobs", {
        function: "SendEmail",
        request: { email: "x" },
        executionTime: "2030-06-01T00:00:00Z",
      })
    ).body.job;
    const json = { "content-type": "application/json" };
    for (const body of ["{not json", JSON.stringify({ unexpected: true }), "x".repeat(10_000)]) {
      const answer = await action(`/jobs/${job.id}/run-now`, { body, headers: json });
      expect(answer.status).toBe(400);
      const paused = await action("/nodes/node-a/pause", { body, headers: json });
      expect(paused.status).toBe(400);
    }
    // Triggering a cron ticker takes no body either: no occurrence is made.
    const cron = (await client(t.dashboard).get("/cron")).body.items[0];
    const api = client(t.dashboard);
    const occurrences = async () => (await api.get(`/cron/${cron.id}/occurrences`)).body.total;
    const planned = await occurrences();
    for (const body of ["{not json", JSON.stringify({ at: "2030-01-01T00:00:00Z" })]) {
      const triggered = await action(`/cron/${cron.id}/trigger`, { body, headers: json });
      expect(triggered.status).toBe(400);
      expect((await triggered.json()).error.message).toBe("this action takes no body");
    }
    expect(await occurrences()).toBe(planned);
    expect((await client(t.dashboard).get(`/jobs/${job.id}`)).body.job.status).toBe("Idle");
    expect((await client(t.dashboard).get("/nodes")).body.items[0].paused).toBe(false);
    // An empty body or `{}` is what clients send by habit: accepted.
    expect((await action("/nodes/node-a/pause", { body: "{}", headers: json })).status).toBe(200);
    expect((await action("/nodes/node-a/resume")).status).toBe(200);
    // A malformed body where one is expected is 400 too.
    expect((await action("/jobs", { body: "{", headers: json })).status).toBe(400);
  });

  it("refuses actions from another origin or site, accepts its own", async () => {
    t = await setup();
    const api = client(t.dashboard);
    expect((await api.post("/nodes/node-a/pause", {}, { origin: "https://evil.example" })).status).toBe(403);
    expect((await api.post("/nodes/node-a/pause", {}, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await api.post("/nodes/node-a/pause", {}, { "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await api.post("/nodes/node-a/pause", {}, { origin: "null" })).status).toBe(403);
    expect(
      (await api.post("/nodes/node-a/pause", {}, { origin: "http://test", "sec-fetch-site": "same-origin" })).status,
    ).toBe(200);
    // Reads are not actions.
    expect((await api.get("/nodes", { origin: "https://evil.example" })).status).toBe(200);
  });

  it("keeps the stream's own cache headers", async () => {
    t = await setup();
    const stream = await t.dashboard.fetch(new Request(url("/stream"), { headers: { "x-tickerq-request": "1" } }));
    expect(stream.headers.get("cache-control")).toBe("no-cache, no-transform");
    await stream.body!.cancel();
    expect((await client(t.dashboard).get("/session")).headers.get("cache-control")).toBe("no-store");
  });
});

describe("dashboard sign-in", () => {
  const auth = { type: "basic" as const, username: "ops", password: "correct horse" };

  it("trades the password for an HttpOnly, SameSite=Strict session cookie, ended by sign-out", async () => {
    t = await setup({ auth });
    const api = client(t.dashboard);
    expect((await api.post("/session/login", { username: "ops", password: "nope" })).status).toBe(401);
    const login = await api.post("/session/login", { username: "ops", password: "correct horse" });
    expect(login.status).toBe(200);
    const cookie = login.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^tickerq_session=[\w-]{40,}; Path=\/jobs\/api; HttpOnly; SameSite=Strict/);
    const session = cookie.split(";")[0]!;
    expect((await api.get("/session", { cookie: session })).status).toBe(200);
    expect((await api.get("/session", { cookie: "tickerq_session=forged" })).status).toBe(401);
    const logout = await api.post("/session/logout", {}, { cookie: session });
    expect(logout.headers.get("set-cookie")).toMatch(/Max-Age=0/);
    expect((await api.get("/session", { cookie: session })).status).toBe(401);
  });

  it("makes a client wait after repeated wrong passwords (429 with Retry-After)", async () => {
    t = await setup({ auth });
    const api = client(t.dashboard);
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++)
      statuses.push((await api.post("/session/login", { username: "ops", password: `guess-${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401, 429]);
    const refused = await api.post("/session/login", { username: "ops", password: "correct horse" });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Wrong basic credentials on API calls count too.
    const header = { authorization: `Basic ${Buffer.from("ops:wrong").toString("base64")}` };
    expect((await api.get("/session", header)).status).toBe(429);
  });

  it("doubles the wait with each failure past the free ones, up to a minute, and forgets on success", () => {
    let now = 0;
    const throttle = new LoginThrottle(() => now, 2, 60_000);
    throttle.failed("a");
    throttle.failed("a");
    expect(throttle.waitMs("a")).toBe(0);
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      throttle.failed("a");
      waits.push(throttle.waitMs("a"));
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    expect(throttle.waitMs("b")).toBe(0);
    now += 60_000;
    expect(throttle.waitMs("a")).toBe(0);
    throttle.succeeded("a");
    throttle.failed("a");
    expect(throttle.waitMs("a")).toBe(0);
  });
});
