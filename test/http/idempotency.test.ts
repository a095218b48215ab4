import { afterEach, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteStore } from "../../src/sqlite.js";
import { jobCount, setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

const later = { function: "SendEmail", request: { email: "a@b.c" }, executionTime: "2030-02-01T00:00:00Z" };

describe("idempotent POST /jobs", () => {
  it("a retry with the same Idempotency-Key answers 200 with the first body and stores no second job", async () => {
    ctx = await setup();
    const first = await ctx.call("POST", "/jobs", later, { "idempotency-key": "order-42" });
    expect(first.status).toBe(201);
    const retry = await ctx.call("POST", "/jobs", later, { "idempotency-key": "order-42" });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get("location")).toBe(first.headers.get("location"));
    expect(await jobCount(ctx)).toBe(1);
    const other = await ctx.call("POST", "/jobs", later, { "idempotency-key": "order-43" });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
    expect(await jobCount(ctx)).toBe(2);
  });

  it("parallel retries of one POST make one job; every answer carries its id", async () => {
    ctx = await setup();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => ctx.call("POST", "/jobs", later, { "idempotency-key": "burst" })),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(19);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(1);
    expect(await jobCount(ctx)).toBe(1);
  });

  it("parallel retries of a batch make the batch once", async () => {
    ctx = await setup();
    const batch = { jobs: [later, { ...later, function: "Explode" }] };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => ctx.call("POST", "/jobs", batch, { "idempotency-key": "batch-1" })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((a) => JSON.stringify(a.body))).size).toBe(1);
    expect(await jobCount(ctx)).toBe(2);
  });

  it("keys are per caller: the same key from two tokens makes two jobs, from one token one", async () => {
    const A = "service-a-token-0123456789";
    const B = "service-b-token-0123456789";
    ctx = await setup({ auth: { type: "bearer", tokens: [{ secret: A }, { secret: B }] } });
    const send = (token: string) =>
      ctx.call("POST", "/jobs", later, { authorization: `Bearer ${token}`, "idempotency-key": "order-1" });
    const [a1, b1, a2] = [await send(A), await send(B), await send(A)];
    expect([a1.status, b1.status, a2.status]).toEqual([201, 201, 200]);
    expect(b1.body.id).not.toBe(a1.body.id);
    expect(a2.body.id).toBe(a1.body.id);
    expect(a1.body.id).not.toContain(A.slice(0, 8));
    expect(await jobCount(ctx)).toBe(2);
  });

  it("the job's own id works as the key, also for parallel retries", async () => {
    ctx = await setup();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => ctx.call("POST", "/jobs", { ...later, id: "invoice-7" })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(answers.every((a) => a.body.id === "invoice-7")).toBe(true);
    expect(await jobCount(ctx)).toBe(1);
  });

  it("a key reused for another function is a 409 naming the id; a bad key is a 400", async () => {
    ctx = await setup();
    await ctx.call("POST", "/jobs", later, { "idempotency-key": "k1" });
    const reused = await ctx.call("POST", "/jobs", { ...later, function: "Explode" }, { "idempotency-key": "k1" });
    expect(reused.status).toBe(409);
    expect(reused.body).toMatchObject({ code: "INVALID_STATE", field: "id" });
    const bad = await ctx.call("POST", "/jobs", later, { "idempotency-key": "x".repeat(201) });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: "INVALID_ARGUMENT", field: "Idempotency-Key" });
    expect(await jobCount(ctx)).toBe(1);
  });

  it("an invalid body with a key stores nothing, and the corrected retry with that key schedules the job", async () => {
    ctx = await setup();
    const bad = await ctx.call("POST", "/jobs", { ...later, retries: -1 }, { "idempotency-key": "fix-me" });
    expect(bad.status).toBe(400);
    const good = await ctx.call("POST", "/jobs", later, { "idempotency-key": "fix-me" });
    expect(good.status).toBe(201);
    expect(await jobCount(ctx)).toBe(1);
  });

  it("parallel retries make one job on SQLite too: its primary key refuses the second insert", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tickerq-http-"));
    try {
      ctx = await setup({}, sqliteStore({ filename: join(dir, "jobs.db") }));
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => ctx.call("POST", "/jobs", later, { "idempotency-key": "sqlite-burst" })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
      expect(await jobCount(ctx)).toBe(1);
    } finally {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
