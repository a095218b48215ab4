import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import { Hono } from "hono";
import { serve } from "@hono/node-server";
import { makeNode } from "./helpers.js";
import {
  createDashboard,
  expressMiddleware,
  fastifyPlugin,
  honoMiddleware,
  nodeHandler,
  serveDashboard,
} from "../../src/dashboard/index.js";

const { tq } = makeNode();
let seenIncoming: unknown[] = [];
const dashboard = createDashboard(tq, {
  basePath: "/admin/jobs",
  auth: (request, context) => {
    seenIncoming.push(context.incoming);
    return request.headers.get("authorization") === "Bearer t0ken";
  },
});
const headers = { authorization: "Bearer t0ken", "x-tickerq-request": "1" };

beforeAll(() => tq.start());
afterAll(async () => {
  dashboard.close();
  await tq.stop({ timeoutMs: 100 });
});

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
}

/** The same checks through whichever server mounts the dashboard. */
async function exercise(origin: string) {
  seenIncoming = [];
  const session = await fetch(`${origin}/admin/jobs/api/session`, { headers });
  expect(session.status).toBe(200);
  expect((await session.json()).nodeId).toBe("node-a");
  expect(seenIncoming[0]).toBeDefined(); // Node's request reached the auth hook
  expect((await fetch(`${origin}/admin/jobs/api/session`)).status).toBe(401);
  const created = await fetch(`${origin}/admin/jobs/api/jobs`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ function: "SendEmail", request: { email: "a@b" }, executionTime: "2031-01-01T00:00:00Z" }),
  });
  expect(created.status).toBe(201);
  const form = await fetch(`${origin}/admin/jobs/api/jobs`, {
    method: "POST",
    headers: { authorization: headers.authorization, "content-type": "application/x-www-form-urlencoded" },
    body: "function=SendEmail",
  });
  expect(form.status).toBe(403);
  const index = await fetch(`${origin}/admin/jobs/`);
  expect(index.status).toBe(200);
  expect(index.headers.get("content-type")).toContain("text/html");
  const stream = await fetch(`${origin}/admin/jobs/api/stream`, { headers });
  expect(stream.headers.get("content-type")).toContain("text/event-stream");
  const reader = stream.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  expect(first).toContain("event: hello");
  await reader.cancel();
  const outside = await fetch(`${origin}/health`);
  return outside;
}

describe("adapters", () => {
  it("node:http", async () => {
    const handler = nodeHandler(dashboard);
    const server = createServer((req, res) => handler(req, res, () => res.end("host app")));
    const origin = await listen(server);
    try {
      expect(await (await exercise(origin)).text()).toBe("host app");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Express, with a JSON body parser in front and mounted at a path", async () => {
    const app = express();
    app.use(express.json());
    app.use("/admin/jobs", expressMiddleware(dashboard));
    app.get("/health", (_req, res) => void res.send("express ok"));
    const server = createServer(app);
    const origin = await listen(server);
    try {
      expect(await (await exercise(origin)).text()).toBe("express ok");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("Fastify", async () => {
    const app = Fastify();
    await app.register(fastifyPlugin(dashboard));
    app.get("/health", async () => "fastify ok");
    const origin = await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      expect(await (await exercise(origin)).text()).toBe("fastify ok");
    } finally {
      app.server.closeAllConnections();
      await app.close();
    }
  });

  it("Hono", async () => {
    const app = new Hono();
    app.use(honoMiddleware(dashboard));
    app.get("/health", (c) => c.text("hono ok"));
    const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }) as Server;
    await new Promise((resolve) => server.once("listening", resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await exercise(origin)).text()).toBe("hono ok");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("serveDashboard on its own port", async () => {
    const served = await serveDashboard(tq, {
      port: 0,
      basePath: "/admin/jobs",
      auth: { type: "apiKey", key: "key-12345678" },
    });
    try {
      expect(served.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/admin\/jobs\/$/);
      expect((await fetch(`${served.url}api/session`, { headers: { "x-tickerq-key": "key-12345678" } })).status).toBe(
        200,
      );
      expect((await fetch(`${served.url}api/session`)).status).toBe(401);
    } finally {
      await served.close();
    }
  });
});

describe("tq.serveDashboard", () => {
  it("serves the dashboard from the core object, loading it on demand", async () => {
    const served = await tq.serveDashboard({ port: 0, auth: { type: "none" } });
    try {
      const session = await fetch(`${served.url}api/session`);
      expect((await session.json()).nodeId).toBe("node-a");
    } finally {
      await served.close();
    }
  });
});
