import { afterEach, describe, expect, it } from "vitest";
import { jobCount, setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

describe("request limits and malformed input", () => {
  it("413 past the body limit, by Content-Length or while reading a chunked body", async () => {
    ctx = await setup({ maxBodyBytes: 1000 });
    const big = JSON.stringify({ function: "SendEmail", request: { text: "x".repeat(2000) } });
    const declared = await ctx.call("POST", "/jobs", big, { "content-length": String(big.length) });
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ code: "PAYLOAD_TOO_LARGE", field: "body" });
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(new TextEncoder().encode(big.slice(i * 700, (i + 1) * 700)));
        controller.close();
      },
    });
    const chunked = await ctx.api.fetch(
      new Request("http://127.0.0.1/jobs", {
        method: "POST",
        body: stream,
        headers: { "content-type": "application/json" },
        duplex: "half",
      } as RequestInit),
    );
    expect(chunked.status).toBe(413);
    expect(await jobCount(ctx)).toBe(0);
  });

  it("the default limit is 1 MiB", async () => {
    ctx = await setup();
    const fits = JSON.stringify({ function: "SendEmail", request: { t: "x".repeat(1000) } });
    expect((await ctx.call("POST", "/jobs", fits)).status).toBe(201);
    const over = "x".repeat(1024 * 1024 + 1);
    expect((await ctx.call("POST", "/jobs", over)).status).toBe(413);
  });

  it("400 for malformed JSON, an empty body and JSON nested deeper than 64; 415 for another media type", async () => {
    ctx = await setup();
    const malformed = await ctx.call("POST", "/jobs", "{not json");
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ code: "INVALID_ARGUMENT", field: "body" });
    expect((await ctx.call("POST", "/jobs", "")).status).toBe(400);
    const deep = `{"function":"SendEmail","request":${"[".repeat(100)}${"]".repeat(100)}}`;
    const tooDeep = await ctx.call("POST", "/jobs", deep);
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.detail).toMatch(/64/);
    const form = await ctx.call("POST", "/jobs", "function=SendEmail", {
      "content-type": "application/x-www-form-urlencoded",
    });
    expect(form.status).toBe(415);
    expect(form.body).toMatchObject({ field: "content-type", value: "application/x-www-form-urlencoded" });
    expect(await jobCount(ctx)).toBe(0);
  });

  it("404 problem for an unknown path, 405 with Allow for a known path and another method", async () => {
    ctx = await setup({ basePath: "/api" });
    const missing = await ctx.call("GET", "/api/nothing");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    const wrongMethod = await ctx.call("PUT", "/api/jobs/abc", {});
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET, PATCH, DELETE");
    expect(ctx.api.matches("/api/jobs")).toBe(true);
    expect(ctx.api.matches("/apix")).toBe(false);
  });

  it("a store failure is a problem without internals, never a stack", async () => {
    ctx = await setup();
    const errors: unknown[] = [];
    ctx.tq.events.on("error", (e) => errors.push(e));
    ctx.tq.store.jobList = async () => {
      throw new Error("secret connection string postgres://u:p@h");
    };
    const res = await ctx.call("GET", "/jobs");
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ code: "INTERNAL" });
    expect(JSON.stringify(res.body)).not.toContain("postgres://");
    expect(errors).toHaveLength(1);
  });
});
