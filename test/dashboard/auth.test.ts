import { afterEach, describe, expect, it } from "vitest";
import { ROUTES, client, setup } from "./helpers.js";
import { createDashboard } from "../../src/dashboard/index.js";

let t: Awaited<ReturnType<typeof setup>> | null = null;
afterEach(async () => {
  await t?.close();
  t = null;
});

const bodyFor = (method: string) => (method === "GET" || method === "DELETE" ? undefined : {});
const basic = (user: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`,
});

describe("dashboard auth", () => {
  it("needs an explicit auth option", async () => {
    t = await setup();
    expect(() => createDashboard(t!.tq, {} as never)).toThrow(/auth is required/);
    expect(() => createDashboard(t!.tq, { auth: { type: "apiKey", key: "short" } })).toThrow(/auth.key/);
  });

  it.each([
    [
      "basic",
      { type: "basic" as const, username: "ops", password: "s3cret-pass" },
      basic("ops", "s3cret-pass"),
      basic("ops", "wrong"),
    ],
    [
      "apiKey",
      { type: "apiKey" as const, key: "k-1234567890" },
      { "x-tickerq-key": "k-1234567890" },
      { "x-tickerq-key": "k-nope-nope" },
    ],
    [
      "custom",
      { type: "custom" as const, authorize: (r: Request) => r.headers.get("cookie") === "session=ok" },
      { cookie: "session=ok" },
      { cookie: "session=bad" },
    ],
    [
      "hook function",
      async (r: Request) => r.headers.get("authorization") === "Bearer jwt",
      { authorization: "Bearer jwt" },
      { authorization: "Bearer other" },
    ],
  ])("%s: 401 on every route and the stream without valid credentials", async (_name, auth, good, bad) => {
    t = await setup({ auth });
    const anonymous = client(t.dashboard);
    const wrong = client(t.dashboard, bad);
    for (const route of ROUTES) {
      const answer = await anonymous.call(route.method, route.path, bodyFor(route.method));
      expect(answer.status, `${route.method} ${route.path}`).toBe(401);
      expect(answer.body.error.code).toBe("UNAUTHORIZED");
      // Wrong credentials again and again: refused, and after a few the client must wait (429).
      expect([401, 429], `${route.method} ${route.path} (wrong)`).toContain(
        (await wrong.call(route.method, route.path, bodyFor(route.method))).status,
      );
    }
    // A dashboard whose throttle has not seen those failures (the one above now makes this client wait).
    const fresh = createDashboard(t.tq, { basePath: "/jobs", auth });
    const ok = client(fresh, good);
    expect((await ok.get("/session")).status).toBe(200);
    const stream = await fresh.fetch(new Request("http://test/jobs/api/stream", { headers: good }));
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toContain("text/event-stream");
    await stream.body!.cancel();
    fresh.close();
    // The UI's files carry no data and load before login.
    expect((await t.dashboard.fetch(new Request("http://test/jobs/"))).status).toBe(200);
  });

  it("asks a browser for basic credentials only outside the UI's own calls", async () => {
    t = await setup({ auth: { type: "basic", username: "ops", password: "pw" } });
    const plain = await t.dashboard.fetch(new Request("http://test/jobs/api/session"));
    expect(plain.headers.get("www-authenticate")).toMatch(/^Basic/);
    const ui = await client(t.dashboard).get("/session");
    expect(ui.headers.get("www-authenticate")).toBeNull();
    expect(ui.body.error).toMatchObject({ auth: "basic" });
  });

  it("denies when the host hook throws", async () => {
    t = await setup({
      auth: () => {
        throw new Error("session store down");
      },
    });
    expect((await client(t.dashboard).get("/session")).status).toBe(401);
  });

  it("passes Node's request to the hook when mounted in Node", async () => {
    let seen: unknown = "unset";
    t = await setup({
      auth: (_request, context) => {
        seen = context.incoming;
        return true;
      },
    });
    await client(t.dashboard).get("/session");
    expect(seen).toBeUndefined(); // fetch() directly: no Node request (the adapter tests cover Node)
  });
});

describe("read-only mode", () => {
  it("refuses every action with 403 and says so in the session", async () => {
    t = await setup({ readOnly: true });
    const api = client(t.dashboard);
    const { body: job } = await t.api.get("/session");
    expect(job.readOnly).toBe(true);
    for (const route of ROUTES.filter((r) => r.action)) {
      const answer = await api.call(route.method, route.path, bodyFor(route.method));
      expect(answer.status, `${route.method} ${route.path}`).toBe(403);
      expect(answer.body.error.code).toBe("READ_ONLY");
    }
    expect((await api.get("/jobs")).status).toBe(200);
    expect(t.tq.paused).toBe(false);
  });
});

describe("CSRF", () => {
  it("refuses a simple form POST and actions without the custom header", async () => {
    t = await setup();
    const form = await t.dashboard.fetch(
      new Request("http://test/jobs/api/jobs", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "function=SendEmail",
      }),
    );
    expect(form.status).toBe(403);
    expect((await form.json()).error.code).toBe("CSRF");
    const noHeader = await t.dashboard.fetch(
      new Request("http://test/jobs/api/nodes/node-a/pause", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      }),
    );
    expect(noHeader.status).toBe(403);
    const textPlain = await t.dashboard.fetch(
      new Request("http://test/jobs/api/jobs", {
        method: "POST",
        headers: { "x-tickerq-request": "1", "content-type": "text/plain" },
        body: '{"function":"SendEmail"}',
      }),
    );
    expect(textPlain.status).toBe(415);
    expect((await t.api.get("/jobs")).body.total).toBe(0);
    expect(t.tq.paused).toBe(false);
  });
});
