import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setup } from "./helpers.js";
import { describeCron } from "../../src/dashboard/index.js";

let t: Awaited<ReturnType<typeof setup>>;
beforeEach(async () => {
  t = await setup();
});
afterEach(() => t.close());

describe("dashboard API: cron tickers", () => {
  it("lists seeded and added cron tickers with a plain-English summary", async () => {
    const created = await t.api.post("/cron", {
      function: "SendEmail",
      expression: "0 9 * * 1-5",
      timeZone: "Europe/Paris",
      request: { email: "a@b" },
    });
    expect(created.status).toBe(201);
    const list = await t.api.get("/cron");
    expect(list.body.total).toBe(2);
    const mine = list.body.items.find((c: any) => c.id === created.body.cron.id);
    expect(mine).toMatchObject({
      expression: "0 9 * * 1-5",
      timeZone: "Europe/Paris",
      summary: "At 09:00, Monday through Friday",
      enabled: true,
    });
    const seeded = list.body.items.find((c: any) => c.seededBy === "Nightly");
    expect(seeded.summary).toBe("At 03:00");
  });

  it("reads the last run of a whole page of cron tickers in one store call, not one per row", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await t.tq.cronTickers.add({ function: "Explode", expression: `0 ${i} 1 1 *` })).id);
    await t.tq.cronTickers.trigger(ids[1]!);
    await t.tq.cronTickers.trigger(ids[3]!);
    await t.runDue();
    const store = t.tq.store;
    const lastEnded = vi.spyOn(store, "occurrenceLastEnded");
    const jobList = vi.spyOn(store, "jobList");
    const list = await t.api.get("/cron");
    expect(list.body.total).toBe(6);
    expect(lastEnded).toHaveBeenCalledTimes(1);
    expect(jobList).not.toHaveBeenCalled();
    const lastRuns = Object.fromEntries(list.body.items.map((c: any) => [c.id, c.lastRun?.status ?? null]));
    expect(ids.map((id) => lastRuns[id])).toEqual([null, "Failed", null, "Failed", null]);
  });

  it("shows the next five runs in the ticker's zone and previews expressions", async () => {
    const { body } = await t.api.post("/cron", {
      function: "SendEmail",
      expression: "0 9 * * *",
      timeZone: "America/New_York",
      request: { email: "a@b" },
    });
    const detail = await t.api.get(`/cron/${body.cron.id}`);
    expect(detail.body.next).toHaveLength(5);
    expect(detail.body.next[0]).toBe("2030-01-01T14:00:00.000Z");
    const preview = await t.api.get("/cron/preview?expression=*/15%20*%20*%20*%20*&timeZone=UTC");
    expect(preview.body).toMatchObject({
      summary: "Every 15 minutes",
      next: expect.arrayContaining(["2030-01-01T08:15:00.000Z"]),
    });
    const bad = await t.api.get("/cron/preview?expression=61%20*%20*%20*%20*");
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ code: "INVALID_CRON", field: "expression" });
    const zone = await t.api.get("/cron/preview?expression=*%20*%20*%20*%20*&timeZone=Mars/Base");
    expect(zone.body.error).toMatchObject({ code: "INVALID_TIME_ZONE", field: "timeZone" });
  });

  it("refuses a malformed cron or unknown function naming the field, saving nothing", async () => {
    const bad = await t.api.post("/cron", { function: "SendEmail", expression: "every day", request: { email: "a" } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe("expression");
    const fn = await t.api.post("/cron", { function: "Ghost", expression: "* * * * *" });
    expect(fn.body.error).toMatchObject({ code: "UNKNOWN_FUNCTION", field: "function" });
    expect((await t.api.get("/cron")).body.total).toBe(1);
  });

  it("edits, disables, triggers, lists occurrences and deletes", async () => {
    const { body } = await t.api.post("/cron", { function: "Explode", expression: "0 0 * * *" });
    const id = body.cron.id;
    const edited = await t.api.patch(`/cron/${id}`, { expression: "30 6 * * *", description: "<i>x</i>" });
    expect(edited.body.cron).toMatchObject({ expression: "30 6 * * *", summary: "At 06:30", description: "<i>x</i>" });
    expect((await t.api.patch(`/cron/${id}`, { expression: "nope" })).body.error.field).toBe("expression");
    expect((await t.api.patch(`/cron/${id}`, { function: "SendEmail" })).body.error.field).toBe("function");
    const disabled = await t.api.patch(`/cron/${id}`, { enabled: false });
    expect(disabled.body.cron).toMatchObject({ enabled: false, nextOccurrence: null });
    expect((await t.api.get(`/cron/${id}`)).body.next).toEqual([]);
    const run = await t.api.post(`/cron/${id}/trigger`);
    expect(run.status).toBe(201);
    expect(run.body.job).toMatchObject({ type: "CronTickerOccurrence", cronTickerId: id });
    await t.runDue();
    const occurrences = await t.api.get(`/cron/${id}/occurrences`);
    expect(occurrences.body.items[0]).toMatchObject({
      status: "Failed",
      exceptionMessage: expect.stringContaining("boom"),
    });
    expect((await t.api.get(`/cron/${id}/occurrences?status=Done`)).body.total).toBe(0);
    const detail = await t.api.get(`/cron/${id}`);
    expect(detail.body.counts.Failed).toBe(1);
    const list = await t.api.get("/cron");
    expect(list.body.items.find((c: any) => c.id === id).lastRun).toMatchObject({ status: "Failed" });
    expect((await t.api.delete(`/cron/${id}`)).body).toEqual({ deleted: 1 });
    expect((await t.api.get(`/cron/${id}`)).status).toBe(404);
  });

  it("answers 404 for unknown cron ids on every cron route", async () => {
    for (const [method, path, body] of [
      ["GET", "/cron/missing", undefined],
      ["GET", "/cron/missing/occurrences", undefined],
      ["PATCH", "/cron/missing", { enabled: false }],
      ["DELETE", "/cron/missing", undefined],
      ["POST", "/cron/missing/trigger", {}],
    ] as const) {
      const answer = await t.api.call(method, path, body);
      expect(answer.status, `${method} ${path}`).toBe(404);
    }
  });
});

describe("describeCron", () => {
  it.each([
    ["* * * * *", "Every minute"],
    ["*/5 * * * *", "Every 5 minutes"],
    ["0 * * * *", "Every hour"],
    ["0 9,17 * * *", "At 09:00 and 17:00"],
    ["30 8 1 * *", "At 08:30, on day 1 of the month"],
    ["0 0 * * 0", "At 00:00, only on Sunday"],
    ["0 0 * * SAT,SUN", "At 00:00, only on Saturday and Sunday"],
    ["0 12 * JAN,JUL *", "At 12:00, only in January and July"],
    ["*/10 * * * * *", "Every 10 seconds"],
    ["15 0 9 * * *", "At 09:00:15"],
    ["0 30 9 * * MON-FRI", "At 09:30, Monday through Friday"],
    ["0 0 9 ? * 2#1", "At 09:00, on the first Tuesday of the month"],
  ])("%s → %s", (expression, text) => {
    expect(describeCron(expression)).toBe(text);
  });

  it("reads nothing into an expression that is out of range", () => {
    expect(describeCron("61 * * * *")).toBeNull();
  });
});
