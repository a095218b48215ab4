import { afterEach, describe, expect, it } from "vitest";
import { client, jobCount, setup } from "./helpers.js";

let ctx: Awaited<ReturnType<typeof setup>>;
afterEach(async () => ctx?.close());

const READER = "reader-secret-0123456789";
const WRITER = "writer-secret-0123456789";
const job = { function: "SendEmail", executionTime: "2030-02-01T00:00:00Z" };

describe("API auth", () => {
  it("is required: createApi without auth throws, naming the field", async () => {
    const { createApi } = await import("../../src/http/index.js");
    ctx = await setup();
    expect(() => createApi(ctx.tq, {} as never)).toThrow(/auth is required/);
    expect(() => createApi(ctx.tq, { auth: { type: "bearer", tokens: [{ secret: "short" }] } })).toThrow(
      /auth.tokens\[0\].secret/,
    );
    expect(() =>
      createApi(ctx.tq, { auth: { type: "apiKey", keys: [{ secret: READER, scopes: ["admin" as never] }] } }),
    ).toThrow(/scopes/);
  });

  it("bearer tokens: 401 without or with a wrong token, 403 without the scope, 2xx with it", async () => {
    ctx = await setup({
      auth: { type: "bearer", tokens: [{ secret: READER, scopes: ["read"] }, { secret: WRITER }] },
    });
    const none = await ctx.call("GET", "/jobs");
    expect(none.status).toBe(401);
    expect(none.headers.get("content-type")).toBe("application/problem+json");
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(none.body).toMatchObject({ status: 401, code: "UNAUTHORIZED", field: "authorization" });
    const wrong = await ctx.call("GET", "/jobs", undefined, { authorization: "Bearer nope-nope-nope-nope" });
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain("nope-nope");
    const reader = client(ctx.api, { authorization: `Bearer ${READER}` });
    expect((await reader("GET", "/jobs")).status).toBe(200);
    const refused = await reader("POST", "/jobs", job);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "FORBIDDEN", field: "scope", value: "write" });
    expect(await jobCount(ctx)).toBe(0);
    const writer = client(ctx.api, { authorization: `Bearer ${WRITER}` });
    expect((await writer("POST", "/jobs", job)).status).toBe(201);
    expect((await writer("GET", "/functions")).status).toBe(200);
  });

  it("API keys in a header, with scopes; the header is configurable", async () => {
    ctx = await setup({
      auth: {
        type: "apiKey",
        header: "X-Api-Key",
        keys: [
          { secret: READER, scopes: ["read"] },
          { secret: WRITER, scopes: ["write"] },
        ],
      },
    });
    const none = await ctx.call("GET", "/functions");
    expect(none.body).toMatchObject({ status: 401, field: "x-api-key" });
    const reader = client(ctx.api, { "x-api-key": READER });
    expect((await reader("GET", "/functions")).status).toBe(200);
    expect((await reader("DELETE", "/jobs/any")).status).toBe(403);
    const writer = client(ctx.api, { "x-api-key": WRITER });
    expect((await writer("POST", "/jobs", job)).status).toBe(201);
    expect((await writer("GET", "/jobs")).body).toMatchObject({ status: 403, value: "read" });
  });

  it("takes the dashboard's apiKey shape: one key with every scope", async () => {
    ctx = await setup({ auth: { type: "apiKey", key: "dash-key-1" } });
    expect((await ctx.call("GET", "/jobs")).status).toBe(401);
    expect((await ctx.call("POST", "/jobs", job, { "x-tickerq-key": "dash-key-1" })).status).toBe(201);
    expect((await ctx.call("GET", "/jobs", undefined, { "x-tickerq-key": "dash-key-1" })).status).toBe(200);
    const { createApi } = await import("../../src/http/index.js");
    expect(() => createApi(ctx.tq, { auth: { type: "apiKey", key: "short" } })).toThrow(/auth.key/);
  });

  it("the host's hook: true grants all, a scope list grants those, false or a throw is 401", async () => {
    const seen: string[] = [];
    ctx = await setup({
      auth: (request, { scope }) => {
        seen.push(scope);
        const who = request.headers.get("x-user");
        if (who === "boom") throw new Error("hook failed");
        if (who === "admin") return true;
        if (who === "viewer") return ["read"];
        return false;
      },
    });
    expect((await ctx.call("GET", "/jobs", undefined, { "x-user": "admin" })).status).toBe(200);
    expect((await ctx.call("POST", "/jobs", job, { "x-user": "viewer" })).status).toBe(403);
    expect((await ctx.call("GET", "/jobs", undefined, { "x-user": "viewer" })).status).toBe(200);
    expect((await ctx.call("GET", "/jobs", undefined, { "x-user": "stranger" })).status).toBe(401);
    expect((await ctx.call("GET", "/jobs", undefined, { "x-user": "boom" })).status).toBe(401);
    expect(seen).toEqual(["read", "write", "read", "read", "read"]);
  });

  it("probes and the OpenAPI document need no credentials; no CSRF header is asked of token clients", async () => {
    ctx = await setup({ auth: { type: "bearer", tokens: [{ secret: WRITER }] } });
    expect((await ctx.call("GET", "/healthz")).status).toBe(200);
    expect((await ctx.call("GET", "/readyz")).status).toBe(200);
    expect((await ctx.call("GET", "/openapi.json")).status).toBe(200);
    const post = await ctx.call("POST", "/jobs", job, {
      authorization: `Bearer ${WRITER}`,
      origin: "https://evil.example",
    });
    expect(post.status).toBe(201);
  });
  it("throttles a client that guesses: 429 with Retry-After after 5 unknown tokens, per client address, until the wait passes", async () => {
    ctx = await setup({ auth: { type: "bearer", tokens: [{ secret: WRITER }] } });
    const from = (address: string, token: string) =>
      ctx.api.fetch(new Request("http://127.0.0.1/jobs", { headers: { authorization: `Bearer ${token}` } }), {
        incoming: { socket: { remoteAddress: address } },
      });
    // No credential at all is no guess: not counted.
    for (let i = 0; i < 8; i++)
      expect(
        (
          await ctx.api.fetch(new Request("http://127.0.0.1/jobs"), {
            incoming: { socket: { remoteAddress: "10.0.0.9" } },
          })
        ).status,
      ).toBe(401);
    for (let i = 0; i < 6; i++) expect((await from("10.0.0.1", `guess-${i}-0123456789abcdef`)).status).toBe(401);
    const blocked = await from("10.0.0.1", WRITER); // even the right token waits
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("retry-after")).toBe("1");
    expect(blocked.headers.get("content-type")).toBe("application/problem+json");
    expect(await blocked.json()).toMatchObject({ status: 429, code: "TOO_MANY_ATTEMPTS", field: "authorization" });
    expect((await from("10.0.0.2", WRITER)).status).toBe(200); // another client is not held up
    expect((await from("10.0.0.9", WRITER)).status).toBe(200);
    await ctx.clock.advance(1000);
    expect((await from("10.0.0.1", WRITER)).status).toBe(200); // a success forgets the failures
    for (let i = 0; i < 5; i++) expect((await from("10.0.0.1", `again-${i}-0123456789abcdef`)).status).toBe(401);
    expect((await from("10.0.0.1", WRITER)).status).toBe(200);
    const doc = (await ctx.call("GET", "/openapi.json")).body;
    expect(Object.keys(doc.paths["/jobs"].get.responses)).toContain("429");
  });

  it("throttleFailedAuth: false turns it off", async () => {
    ctx = await setup({ auth: { type: "bearer", tokens: [{ secret: WRITER }] }, throttleFailedAuth: false });
    for (let i = 0; i < 10; i++)
      expect(
        (await ctx.call("GET", "/jobs", undefined, { authorization: `Bearer guess-${i}-0123456789abcdef` })).status,
      ).toBe(401);
    expect((await ctx.call("GET", "/jobs", undefined, { authorization: `Bearer ${WRITER}` })).status).toBe(200);
    expect(Object.keys((await ctx.call("GET", "/openapi.json")).body.paths["/jobs"].get.responses)).not.toContain(
      "429",
    );
  });
});
