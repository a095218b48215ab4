import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expressMiddleware, fastifyPlugin, honoMiddleware } from "../../src/http/index.js";
import { setup } from "./helpers.js";

const TOKEN = "adapter-token-0123456789";
let ctx: Awaited<ReturnType<typeof setup>>;
beforeAll(async () => {
  ctx = await setup({ basePath: "/api/tickerq", auth: { type: "bearer", tokens: [{ secret: TOKEN }] } });
});
afterAll(async () => ctx?.close());

/** Schedules a job through the host, reads it back, and checks the host's own route still answers. */
async function exercise(origin: string, own: string): Promise<void> {
  const headers = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };
  const post = await fetch(`${origin}/api/tickerq/jobs`, {
    method: "POST",
    headers: { ...headers, "idempotency-key": `via-${own}` },
    body: JSON.stringify({ type: "SendEmail", payload: { email: "a@b.c" }, delay: "1h" }),
  });
  expect(post.status).toBe(201);
  const { id } = (await post.json()) as { id: string };
  const again = await fetch(`${origin}/api/tickerq/jobs`, {
    method: "POST",
    headers: { ...headers, "idempotency-key": `via-${own}` },
    body: JSON.stringify({ type: "SendEmail", payload: { email: "a@b.c" }, delay: "1h" }),
  });
  expect(again.status).toBe(200);
  const read = await fetch(`${origin}/api/tickerq/jobs/${id}`, { headers });
  expect(((await read.json()) as { request: unknown }).request).toEqual({ email: "a@b.c" });
  const refused = await fetch(`${origin}/api/tickerq/jobs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  expect(refused.status).toBe(401);
  expect(refused.headers.get("content-type")).toBe("application/problem+json");
  expect(await (await fetch(`${origin}/health`)).text()).toBe(`${own} ok`);
}

describe("the API in other servers, by the dashboard's adapters", () => {
  it("Express, behind express.json()", async () => {
    const app = express();
    app.use(express.json());
    app.use("/api/tickerq", expressMiddleware(ctx.api));
    app.get("/health", (_req, res) => void res.send("express ok"));
    const server = app.listen(0, "127.0.0.1") as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "express");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Fastify", async () => {
    const app = Fastify();
    await app.register(fastifyPlugin(ctx.api));
    app.get("/health", async () => "fastify ok");
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      await exercise(origin, "fastify");
    } finally {
      app.server.closeAllConnections();
      await app.close();
    }
  });

  it("Hono", async () => {
    const app = new Hono();
    app.use(honoMiddleware(ctx.api));
    app.get("/health", (c) => c.text("hono ok"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    try {
      await exercise(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, "hono");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
