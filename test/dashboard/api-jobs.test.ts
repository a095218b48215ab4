import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { setup } from "./helpers.js";

let t: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  t = await setup();
});
afterEach(() => t.close());

describe("dashboard API: jobs", () => {
  it("creates a time ticker with children and reads it back", async () => {
    const created = await t.api.post("/jobs", {
      function: "SendEmail",
      request: { email: "a@b.c" },
      executionTime: "2030-01-01T09:00:00Z",
      description: "<b>bold</b>",
      children: [{ function: "Explode", runCondition: "OnSuccess" }],
    });
    expect(created.status).toBe(201);
    const id = created.body.job.id;
    const detail = await t.api.get(`/jobs/${id}`);
    expect(detail.status).toBe(200);
    expect(detail.body.job).toMatchObject({
      function: "SendEmail",
      request: { email: "a@b.c" },
      status: "Idle",
      description: "<b>bold</b>",
    });
    expect(detail.body.children).toHaveLength(1);
    expect(detail.body.children[0]).toMatchObject({ function: "Explode", runCondition: "OnSuccess", parentId: id });
    const list = await t.api.get("/jobs?topLevel=1");
    expect(list.body.total).toBe(1);
    expect(list.body.items[0]).toMatchObject({ id, childCount: 1 });
  });

  it("says which of the shown jobs still exist, after a deletion the stream cannot carry", async () => {
    const a = (await t.api.post("/jobs", { function: "SendEmail", request: { email: "a@b.c" } })).body.job.id;
    const b = (await t.api.post("/jobs", { function: "SendEmail", request: { email: "d@e.f" } })).body.job.id;
    // Deleted through the store, as another process would: no event reaches this node.
    expect(await t.tq.store.jobDeleteMany({ ids: [b] })).toBe(1);
    const odd = "x/y?z&id=w";
    const answer = await t.api.get(
      `/jobs-present?id=${encodeURIComponent(a)}&id=${encodeURIComponent(b)}&id=${encodeURIComponent(odd)}&id=${encodeURIComponent(a)}`,
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ present: [a] });
    expect((await t.api.get("/jobs-present")).body).toEqual({ present: [] });
    const many = await t.api.get(`/jobs-present?${Array.from({ length: 501 }, (_, i) => `id=j${i}`).join("&")}`);
    expect(many.status).toBe(400);
    expect(many.body.error).toMatchObject({ code: "INVALID_ARGUMENT", field: "id" });
    expect(many.body.error.message).toContain("got 501");
  });

  it("answers a bad create with the field at fault and stores nothing", async () => {
    const unknown = await t.api.post("/jobs", { function: "Nope" });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: "UNKNOWN_FUNCTION", field: "function" });
    const child = await t.api.post("/jobs", {
      function: "SendEmail",
      request: { email: "x" },
      children: [{ function: "SendEmail", runCondition: "Sometimes" }],
    });
    expect(child.status).toBe(400);
    expect(child.body.error.field).toBe("children[0].runCondition");
    const date = await t.api.post("/jobs", { function: "SendEmail", executionTime: "not a date" });
    expect(date.body.error.field).toBe("executionTime");
    const notJson = await t.api.call("POST", "/jobs", undefined, { "content-type": "application/json" });
    expect(notJson.status).toBe(400);
    expect((await t.api.get("/jobs")).body.total).toBe(0);
  });

  it("filters by status, function, search and time range, and pages", async () => {
    for (let i = 0; i < 5; i++) {
      await t.api.post("/jobs", {
        function: "SendEmail",
        request: { email: `${i}@x` },
        description: `mail ${i}`,
        executionTime: `2030-01-01T0${i}:00:00Z`,
      });
    }
    await t.api.post("/jobs", { function: "Explode", description: "kaboom" });
    await t.runDue();
    const failed = await t.api.get("/jobs?status=Failed");
    expect(failed.body.items.map((j: any) => j.function)).toEqual(["Explode"]);
    expect((await t.api.get("/jobs?function=SendEmail&status=Idle,Done,DueDone")).body.total).toBe(5);
    expect((await t.api.get("/jobs?search=kaboom")).body.total).toBe(1);
    const range = await t.api.get("/jobs?function=SendEmail&from=2030-01-01T01:00:00Z&to=2030-01-01T03:00:00Z");
    expect(range.body.total).toBe(2);
    const page = await t.api.get("/jobs?limit=2&offset=4&orderBy=createdAt&order=asc");
    expect(page.body.items).toHaveLength(2);
    expect(page.body.total).toBe(6);
    expect((await t.api.get("/jobs?status=Bogus")).body.error).toMatchObject({
      code: "INVALID_ARGUMENT",
      field: "status",
    });
    expect(await t.api.get("/jobs/a%00b")).toMatchObject({ status: 400, body: { error: { field: "path" } } });
    // A NUL, which PostgreSQL cannot compare against, is refused here rather than by the database.
    for (const name of ["search", "function", "parentId", "cronTickerId"]) {
      expect((await t.api.get(`/jobs?${name}=a%00b`)).body.error, name).toMatchObject({
        code: "INVALID_ARGUMENT",
        field: name,
      });
    }
    expect((await t.api.get("/jobs?limit=0")).status).toBe(400);
  });

  it("shows every attempt with node, error and stack; retries a failed job", async () => {
    const { body } = await t.api.post("/jobs", { function: "Explode", request: { html: "<script>alert(1)</script>" } });
    await t.runDue();
    const detail = await t.api.get(`/jobs/${body.job.id}`);
    expect(detail.body.job.status).toBe("Failed");
    expect(detail.body.job.request).toEqual({ html: "<script>alert(1)</script>" });
    expect(detail.body.attempts).toHaveLength(1);
    expect(detail.body.attempts[0]).toMatchObject({
      status: "Failed",
      nodeId: "node-a",
      exceptionMessage: "boom: <script>alert(1)</script>",
    });
    expect(detail.body.attempts[0].exceptionDetails).toContain("at ");
    t.tq.pause(); // keep the retried job Idle
    const retried = await t.api.post(`/jobs/${body.job.id}/retry`);
    expect(retried.status).toBe(200);
    expect(retried.body.job.status).toBe("Idle");
    const again = await t.api.post(`/jobs/${body.job.id}/retry`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("INVALID_STATE");
  });

  it("edits, runs now, cancels and deletes", async () => {
    const { body } = await t.api.post("/jobs", {
      function: "SendEmail",
      request: { email: "a@b" },
      executionTime: "2030-01-02T00:00:00Z",
    });
    const id = body.job.id;
    const edited = await t.api.patch(`/jobs/${id}`, {
      executionTime: "2030-01-03T00:00:00.000Z",
      request: { email: "new@b" },
    });
    expect(edited.status).toBe(200);
    expect(edited.body.job).toMatchObject({ executionTime: "2030-01-03T00:00:00.000Z", request: { email: "new@b" } });
    // A key the edit does not take is refused, naming it, and nothing else in the body is applied.
    for (const key of ["function", "executionTme", "status"]) {
      const unknown = await t.api.patch(`/jobs/${id}`, { description: "changed", [key]: "x" });
      expect(unknown.status).toBe(400);
      expect(unknown.body.error).toMatchObject({ code: "INVALID_ARGUMENT", field: key });
      expect(unknown.body.error.message).toContain(`${key} cannot be changed`);
    }
    expect((await t.api.get(`/jobs/${id}`)).body.job.description).toBe(null);
    const past = await t.api.patch(`/jobs/${id}`, { executionTime: "2029-01-01T00:00:00Z" });
    expect(past.status).toBe(400);
    expect(past.body.error.field).toBe("executionTime");
    expect((await t.api.get(`/jobs/${id}`)).body.job.executionTime).toBe("2030-01-03T00:00:00.000Z");
    t.tq.pause(); // keep it Idle once due
    const runNow = await t.api.post(`/jobs/${id}/run-now`);
    expect(runNow.body.job.executionTime).toBe(t.clock.date.toISOString());
    const cancelled = await t.api.post(`/jobs/${id}/cancel`);
    expect(cancelled.body).toEqual({ result: "cancelled" });
    expect((await t.api.post(`/jobs/${id}/cancel`)).status).toBe(409);
    expect((await t.api.post(`/jobs/${id}/run-now`)).status).toBe(409);
    expect((await t.api.patch(`/jobs/${id}`, { description: "late" })).status).toBe(409);
    expect((await t.api.delete(`/jobs/${id}`)).body).toEqual({ deleted: 1 });
    expect((await t.api.get(`/jobs/${id}`)).status).toBe(404);
  });

  it("answers 404, not 500, for unknown ids on every job route", async () => {
    for (const [method, path, body] of [
      ["GET", "/jobs/missing", undefined],
      ["PATCH", "/jobs/missing", { description: "x" }],
      ["DELETE", "/jobs/missing", undefined],
      ["POST", "/jobs/missing/retry", {}],
      ["POST", "/jobs/missing/cancel", {}],
      ["POST", "/jobs/missing/run-now", {}],
      ["GET", "/no-such-route", undefined],
    ] as const) {
      const answer = await t.api.call(method, path, body);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body.error.code).toBe("NOT_FOUND");
    }
  });

  it("applies bulk delete, retry and cancel and reports the ones that failed", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await t.api.post("/jobs", { function: "Explode" })).body.job.id);
    await t.runDue();
    t.tq.pause();
    const retry = await t.api.post("/jobs/bulk", { action: "retry", ids: [...ids, "missing"] });
    expect(retry.body).toMatchObject({ action: "retry", succeeded: 3 });
    expect(retry.body.failed).toHaveLength(1);
    const cancel = await t.api.post("/jobs/bulk", { action: "cancel", ids });
    expect(cancel.body.succeeded).toBe(3);
    const del = await t.api.post("/jobs/bulk", { action: "delete", ids });
    expect(del.body.succeeded).toBe(3);
    expect((await t.api.get("/jobs")).body.total).toBe(0);
    expect((await t.api.post("/jobs/bulk", { action: "explode", ids })).body.error.field).toBe("action");
    expect((await t.api.post("/jobs/bulk", { action: "delete", ids: [] })).body.error.field).toBe("ids");
  });
});
