import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { nodeHandler } from "../../src/http/index.js";
import { setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

describe("cron tickers", () => {
  it("create, read, list, change, trigger, occurrences, delete", async () => {
    ctx = await setup({ basePath: "/api" });
    const created = await ctx.call("POST", "/api/cron-tickers", {
      function: "SendEmail",
      expression: "0 */5 * * * *",
      request: { email: "c@r.on" },
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect(created.headers.get("location")).toBe(`/api/cron-tickers/${id}`);
    expect((await ctx.call("GET", `/api/cron-tickers/${id}`)).body).toMatchObject({
      expression: "0 */5 * * * *",
      request: { email: "c@r.on" },
      enabled: true,
    });
    const list = await ctx.call("GET", "/api/cron-tickers?function=SendEmail");
    expect(list.body.items.map((t: { id: string }) => t.id)).toEqual([id]);
    const patched = await ctx.call("PATCH", `/api/cron-tickers/${id}`, { enabled: false });
    expect(patched.body.enabled).toBe(false);
    expect((await ctx.call("GET", "/api/cron-tickers?enabled=false")).body.items).toHaveLength(1);
    const badCron = await ctx.call("PATCH", `/api/cron-tickers/${id}`, { expression: "every day" });
    expect(badCron.status).toBe(400);
    expect(badCron.body.code).toBe("INVALID_CRON");
    const triggered = await ctx.call("POST", `/api/cron-tickers/${id}/trigger`);
    expect(triggered.status).toBe(201);
    expect(triggered.headers.get("location")).toBe(`/api/jobs/${triggered.body.id}`);
    const occurrences = await ctx.call("GET", `/api/cron-tickers/${id}/occurrences`);
    expect(occurrences.body.items.map((o: { id: string }) => o.id)).toContain(triggered.body.id);
    expect((await ctx.call("GET", `/api/jobs/${triggered.body.id}`)).body.cronTickerId).toBe(id);
    expect((await ctx.call("DELETE", `/api/cron-tickers/${id}`)).status).toBe(204);
    for (const [method, path] of [
      ["GET", ""],
      ["DELETE", ""],
      ["POST", "/trigger"],
      ["GET", "/occurrences"],
    ] as const) {
      const res = await ctx.call(method, `/api/cron-tickers/${id}${path}`);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body).toMatchObject({ code: "NOT_FOUND", field: "id", value: id });
    }
  });

  it("refuses invalid tickers with the library's codes and fields", async () => {
    ctx = await setup();
    const bad = await ctx.call("POST", "/cron-tickers", { function: "SendEmail", expression: "61 * * * *" });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("INVALID_CRON");
    const unknown = await ctx.call("POST", "/cron-tickers", { function: "Nope", expression: "* * * * *" });
    expect(unknown.body).toMatchObject({ code: "UNKNOWN_FUNCTION", field: "function" });
    expect((await ctx.call("POST", "/cron-tickers", [])).status).toBe(400);
  });
});

describe("functions and probes", () => {
  it("GET /functions lists the node's functions", async () => {
    ctx = await setup();
    const res = await ctx.call("GET", "/functions");
    expect(res.body.map((f: { name: string }) => f.name)).toEqual(["SendEmail", "Explode", "Nightly"]);
    expect(res.body[2].cron).toBe("0 0 3 * * *");
    expect(res.body[0].requestSchema).toBeNull();
  });

  it("GET /functions gives the request's JSON Schema where the function's Standard Schema can produce one", async () => {
    const { z } = await import("zod");
    const { createTickerQ, defineFunction, memoryStore } = await import("../../src/index.js");
    const { createApi } = await import("../../src/http/index.js");
    const tq = createTickerQ({
      functions: [
        defineFunction("Typed", { schema: z.object({ email: z.string() }) }, async () => {}),
        defineFunction("Dated", { schema: z.object({ at: z.date() }) }, async () => {}),
      ],
      store: memoryStore(),
    });
    const res = await createApi(tq, { auth: { type: "none" } }).fetch(new Request("http://127.0.0.1/functions"));
    const [typed, dated] = (await res.json()) as { requestSchema: Record<string, unknown> | null }[];
    expect(typed!.requestSchema).toMatchObject({
      type: "object",
      properties: { email: { type: "string" } },
      required: ["email"],
    });
    expect(dated!.requestSchema).toBeNull(); // a Date has no JSON Schema: null, never a crash
  });

  it("readyz is 503 once the node stops or its store fails; healthz stays 200", async () => {
    ctx = await setup();
    expect((await ctx.call("GET", "/readyz")).body).toEqual({ status: "ok" });
    const next = ctx.tq.store.jobNextDue.bind(ctx.tq.store);
    ctx.tq.store.jobNextDue = async () => {
      throw new Error("down");
    };
    const down = await ctx.call("GET", "/readyz");
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ code: "STORE_UNAVAILABLE", field: "store" });
    ctx.tq.store.jobNextDue = next;
    await ctx.tq.stop({ timeoutMs: 100 });
    const stopped = await ctx.call("GET", "/readyz");
    expect(stopped.status).toBe(503);
    expect(stopped.body).toMatchObject({ code: "NOT_STARTED", field: "state", value: "stopped" });
    expect((await ctx.call("GET", "/healthz")).status).toBe(200);
  });
});

describe("adapters", () => {
  it("the dashboard's node:http adapter mounts the API on a real socket", async () => {
    ctx = await setup({ basePath: "/api", auth: { type: "bearer", tokens: [{ secret: "a-token-of-16-chars" }] } });
    const server: Server = createServer(nodeHandler(ctx.api));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/api/jobs`, {
        method: "POST",
        headers: { authorization: "Bearer a-token-of-16-chars", "content-type": "application/json" },
        body: JSON.stringify({ type: "SendEmail", payload: { email: "n@o.de" }, delay: "1h" }),
      });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      expect(res.headers.get("location")).toBe(`/api/jobs/${id}`);
      expect((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
