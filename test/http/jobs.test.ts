import { afterEach, describe, expect, it } from "vitest";
import { runDue } from "../../src/testing/index.js";
import { jobCount, setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

describe("POST /jobs", () => {
  it("schedules one job: 201, its id, a Location, and the job stored as sent", async () => {
    ctx = await setup({ basePath: "/api" });
    const res = await ctx.call("POST", "/api/jobs", {
      function: "SendEmail",
      request: { email: "a@b.c" },
      executionTime: "2030-01-01T09:00:00Z",
      priority: "High",
      retries: 2,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe(`/api/jobs/${res.body.id}`);
    expect(res.body.location).toBe(res.headers.get("location"));
    const job = await ctx.tq.job(res.body.id);
    expect(job).toMatchObject({
      function: "SendEmail",
      request: { email: "a@b.c" },
      priority: "High",
      retries: 2,
      status: "Idle",
    });
    expect(job!.executionTime!.toISOString()).toBe("2030-01-01T09:00:00.000Z");
  });

  it("takes Tickr's body: type, payload and a delay in seconds or as a duration", async () => {
    ctx = await setup();
    const a = await ctx.call("POST", "/jobs", { type: "SendEmail", payload: { email: "x@y.z" }, delay: 30 });
    const b = await ctx.call("POST", "/jobs", { name: "SendEmail", payload: { email: "x@y.z" }, delay: "5m" });
    const c = await ctx.call("POST", "/jobs", { function: "SendEmail", run_at: "2030-01-02T00:00:00Z" });
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
    expect((await ctx.tq.job(a.body.id))!.executionTime!.toISOString()).toBe("2030-01-01T08:00:30.000Z");
    expect((await ctx.tq.job(b.body.id))!.executionTime!.toISOString()).toBe("2030-01-01T08:05:00.000Z");
    expect((await ctx.tq.job(a.body.id))!.request).toEqual({ email: "x@y.z" });
    expect((await ctx.tq.job(c.body.id))!.executionTime!.toISOString()).toBe("2030-01-02T00:00:00.000Z");
  });

  it("schedules a batch all or nothing: one bad job and none is stored, the problem names its field", async () => {
    ctx = await setup();
    const ok = await ctx.call("POST", "/jobs", { jobs: [{ function: "SendEmail" }, { function: "Explode" }] });
    expect(ok.status).toBe(201);
    expect(ok.body.jobs).toHaveLength(2);
    expect(ok.headers.get("location")).toBe(`/jobs/${ok.body.jobs[0].id}`);
    const before = await jobCount(ctx);
    const bad = await ctx.call("POST", "/jobs", { jobs: [{ function: "SendEmail" }, { function: "Nope" }] });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    expect(bad.body).toMatchObject({ status: 400, code: "UNKNOWN_FUNCTION", field: "jobs[1].function" });
    expect(bad.body.detail).toContain("Nope");
    const arrayBad = await ctx.call("POST", "/jobs", [
      { function: "SendEmail" },
      { function: "SendEmail", retries: -1 },
    ]);
    expect(arrayBad.body).toMatchObject({ code: "INVALID_ARGUMENT", field: "[1].retries" });
    expect(await jobCount(ctx)).toBe(before);
  });

  it("refuses unknown fields, repeated aliases, a delay with a run-at time, and bad delays, naming field and value", async () => {
    ctx = await setup();
    const cases: [unknown, string, unknown][] = [
      [{ function: "SendEmail", fucntion: "x" }, "fucntion", "x"],
      [{ function: "SendEmail", type: "SendEmail" }, "type", "SendEmail"],
      [{ function: "SendEmail", delay: 5, runAt: "2030-01-01T00:00:00Z" }, "delay", 5],
      [{ function: "SendEmail", delay: "soon" }, "delay", "soon"],
      [{ function: "SendEmail", delay: -1 }, "delay", -1],
      [{ jobs: [{ function: "SendEmail", children: [{ function: "SendEmail", x: 1 }] }] }, "jobs[0].children[0].x", 1],
      [{ jobs: [] }, "jobs", []],
      [JSON.stringify("just text"), "body", "just text"],
    ];
    const before = await jobCount(ctx);
    for (const [body, field, value] of cases) {
      const res = await ctx.call("POST", "/jobs", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body).toMatchObject({ code: "INVALID_ARGUMENT", field, value });
      expect(await jobCount(ctx), JSON.stringify(body)).toBe(before);
    }
  });

  it("schedules children that run when the parent ends", async () => {
    ctx = await setup();
    const res = await ctx.call("POST", "/jobs", {
      function: "SendEmail",
      children: [{ function: "Explode", runCondition: "OnSuccess" }],
    });
    expect(res.status).toBe(201);
    const children = await ctx.call("GET", `/jobs?parentId=${res.body.id}`);
    expect(children.body.items).toHaveLength(1);
    expect(children.body.items[0]).toMatchObject({ function: "Explode", parentId: res.body.id });
  });
});

describe("reading and acting on jobs", () => {
  it("GET /jobs/{id} answers the job with dates as ISO text; 404 problem for an unknown id", async () => {
    ctx = await setup();
    const { body } = await ctx.call("POST", "/jobs", {
      function: "SendEmail",
      request: { email: "q@w.e" },
      executionTime: "2030-01-02T00:00:00Z",
    });
    const res = await ctx.call("GET", `/jobs/${body.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: body.id, request: { email: "q@w.e" }, status: "Idle" });
    expect(res.body.executionTime).toBe("2030-01-02T00:00:00.000Z");
    const missing = await ctx.call("GET", "/jobs/nope");
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ code: "NOT_FOUND", field: "id", value: "nope" });
  });

  it("GET /jobs pages with a keyset cursor: every job once, in order, and filters by status and function", async () => {
    ctx = await setup();
    const jobs = Array.from({ length: 7 }, (_, i) => ({
      function: i % 2 ? "Explode" : "SendEmail",
      executionTime: new Date(Date.UTC(2030, 0, 1, 9, i)).toISOString(),
    }));
    jobs.push({ function: "SendEmail", executionTime: jobs[3]!.executionTime }); // a tie on the sort value
    await ctx.call("POST", "/jobs", jobs);
    const seen: string[] = [];
    let cursor: string | null = "";
    let pages = 0;
    while (cursor !== null) {
      const res = await ctx.call("GET", `/jobs?limit=3&order=asc${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((j: { executionTime: string }) => j.executionTime));
      cursor = res.body.nextCursor;
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(jobs.map((j) => new Date(j.executionTime).toISOString()).sort());
    const explode = await ctx.call("GET", "/jobs?function=Explode&status=Idle,Failed");
    expect(explode.body.items).toHaveLength(3);
    const none = await ctx.call("GET", "/jobs?status=Done");
    expect(none.body.items).toEqual([]);
  });

  it("GET /jobs refuses bad parameters with the parameter and value", async () => {
    ctx = await setup();
    for (const [query, field] of [
      ["limit=0", "limit"],
      ["status=Sleeping", "status"],
      ["orderBy=name", "orderBy"],
      ["from=yesterday", "from"],
      ["cursor=zzz", "cursor"],
    ]) {
      const res = await ctx.call("GET", `/jobs?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.field).toBe(field);
      expect(res.body.value).toBe(query!.split("=")[1]);
    }
    // A NUL, which PostgreSQL cannot compare against, is a 400 too rather than a database error.
    for (const name of ["search", "function", "parentId"]) {
      const nul = await ctx.call("GET", `/jobs?${name}=a%00b`);
      expect(nul.status, name).toBe(400);
      expect(nul.body).toMatchObject({ field: name, value: "a\u0000b" });
    }
  });

  it("cancel, retry, run-now, PATCH and DELETE", async () => {
    ctx = await setup();
    const later = { function: "SendEmail", executionTime: "2030-01-05T00:00:00Z" };
    const { body: a } = await ctx.call("POST", "/jobs", later);
    const patched = await ctx.call("PATCH", `/jobs/${a.id}`, { payload: { email: "n@e.w" }, delay: "1h" });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ request: { email: "n@e.w" }, executionTime: "2030-01-01T09:00:00.000Z" });
    const badPatch = await ctx.call("PATCH", `/jobs/${a.id}`, { function: "Explode" });
    expect(badPatch.body).toMatchObject({ status: 400, field: "function" });
    const cancelled = await ctx.call("POST", `/jobs/${a.id}/cancel`);
    expect(cancelled.body).toEqual({ id: a.id, result: "cancelled" });
    const again = await ctx.call("POST", `/jobs/${a.id}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("INVALID_STATE");
    const runNowEnded = await ctx.call("POST", `/jobs/${a.id}/run-now`);
    expect(runNowEnded.status).toBe(409);
    const retried = await ctx.call("POST", `/jobs/${a.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body.retryCount).toBe(0);
    const { body: b } = await ctx.call("POST", "/jobs", later);
    const now = await ctx.call("POST", `/jobs/${b.id}/run-now`);
    expect(now.status).toBe(200);
    expect(now.body.executionTime).toBe("2030-01-01T08:00:00.000Z");
    await runDue(ctx.tq);
    const attempts = await ctx.call("GET", `/jobs/${a.id}/attempts`);
    expect(attempts.body).toHaveLength(1);
    expect(attempts.body[0].status).toMatch(/Done$/);
    const patchDone = await ctx.call("PATCH", `/jobs/${a.id}`, { retries: 1 });
    expect(patchDone.status).toBe(409);
    expect((await ctx.call("DELETE", `/jobs/${a.id}`)).status).toBe(204);
    expect((await ctx.call("DELETE", `/jobs/${a.id}`)).status).toBe(404);
    for (const action of ["cancel", "retry", "run-now", "attempts"])
      expect((await ctx.call(action === "attempts" ? "GET" : "POST", `/jobs/gone/${action}`)).status).toBe(404);
    expect((await ctx.call("PATCH", "/jobs/gone", { retries: 1 })).status).toBe(404);
  });
});
