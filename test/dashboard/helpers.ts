/** Shared setup for the dashboard tests: a node with a few functions, a dashboard and a request helper. */

import { createTickerQ, defineFunction, memoryStore, type Store } from "../../src/index.js";
import { TestClock, runDue } from "../../src/testing/index.js";
import { createDashboard, type Dashboard, type DashboardOptions } from "../../src/dashboard/index.js";

export const functions = [
  defineFunction<{ email: string }>("SendEmail", async () => {}),
  defineFunction("Explode", async () => {
    throw new Error("boom: <script>alert(1)</script>");
  }),
  defineFunction("Nightly", { cron: "0 0 3 * * *" }, async () => {}),
] as const;

export function makeNode(options: { store?: Store; clock?: TestClock; nodeId?: string } = {}) {
  const clock = options.clock ?? new TestClock("2030-01-01T08:00:00Z");
  const tq = createTickerQ({
    functions,
    store: options.store ?? memoryStore(),
    clock,
    nodeId: options.nodeId ?? "node-a",
  });
  return { tq, clock };
}

export async function setup(dashboardOptions: Partial<DashboardOptions> = {}) {
  const { tq, clock } = makeNode();
  await tq.start();
  const dashboard = createDashboard(tq, { basePath: "/jobs", auth: { type: "none" }, ...dashboardOptions });
  const api = client(dashboard);
  return {
    tq,
    clock,
    dashboard,
    api,
    runDue: () => runDue(tq),
    async close() {
      dashboard.close();
      await tq.stop({ timeoutMs: 100 });
    },
  };
}

export interface ApiAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** Calls the dashboard's handler the way the UI does: JSON body and the custom header. */
export function client(dashboard: Dashboard, headers: Record<string, string> = {}) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    extra: Record<string, string> = {},
  ): Promise<ApiAnswer> => {
    const init: RequestInit = { method, headers: { "x-tickerq-request": "1", ...headers, ...extra } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const response = await dashboard.fetch(new Request(`http://test${dashboard.basePath}/api${path}`, init));
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return {
    get: (path: string, extra?: Record<string, string>) => call("GET", path, undefined, extra),
    post: (path: string, body: unknown = {}, extra?: Record<string, string>) => call("POST", path, body, extra),
    patch: (path: string, body: unknown, extra?: Record<string, string>) => call("PATCH", path, body, extra),
    delete: (path: string, extra?: Record<string, string>) => call("DELETE", path, undefined, extra),
    call,
  };
}

/** Every API route with a sample path: the 401/403 tables walk it. */
export const ROUTES: { method: string; path: string; action: boolean }[] = [
  { method: "GET", path: "/session", action: false },
  { method: "GET", path: "/overview", action: false },
  { method: "GET", path: "/functions", action: false },
  { method: "GET", path: "/nodes", action: false },
  { method: "POST", path: "/nodes/node-a/pause", action: true },
  { method: "POST", path: "/nodes/node-a/resume", action: true },
  { method: "GET", path: "/jobs", action: false },
  { method: "POST", path: "/jobs", action: true },
  { method: "POST", path: "/jobs/bulk", action: true },
  { method: "GET", path: "/jobs/some-id", action: false },
  { method: "PATCH", path: "/jobs/some-id", action: true },
  { method: "DELETE", path: "/jobs/some-id", action: true },
  { method: "POST", path: "/jobs/some-id/retry", action: true },
  { method: "POST", path: "/jobs/some-id/cancel", action: true },
  { method: "POST", path: "/jobs/some-id/run-now", action: true },
  { method: "GET", path: "/cron", action: false },
  { method: "GET", path: "/cron/preview?expression=*%20*%20*%20*%20*", action: false },
  { method: "POST", path: "/cron", action: true },
  { method: "GET", path: "/cron/some-id", action: false },
  { method: "GET", path: "/cron/some-id/occurrences", action: false },
  { method: "PATCH", path: "/cron/some-id", action: true },
  { method: "DELETE", path: "/cron/some-id", action: true },
  { method: "POST", path: "/cron/some-id/trigger", action: true },
  { method: "GET", path: "/stream", action: false },
];

/** Reads SSE frames from a streaming Response until `until` returns true for one. */
export async function readEvents(
  response: Response,
  until: (event: string, data: any) => boolean,
  timeoutMs = 3000,
): Promise<{ event: string; data: any }[]> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const seen: { event: string; data: any }[] = [];
  let buffer = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), deadline - Date.now()));
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === null || chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || data === undefined) continue;
        const parsed = JSON.parse(data);
        seen.push({ event, data: parsed });
        if (until(event, parsed)) return seen;
      }
    }
    throw new Error(`stream ended or timed out; saw ${seen.map((s) => s.event).join(", ")}`);
  } finally {
    await reader.cancel().catch(() => {});
  }
}
