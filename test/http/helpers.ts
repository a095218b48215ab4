/** Shared setup for the HTTP API tests: a started node on the memory store, an API, and a client. */

import { createTickerQ, defineFunction, memoryStore, type Store } from "../../src/index.js";
import { TestClock } from "../../src/testing/index.js";
import { createApi, type Api, type ApiOptions } from "../../src/http/index.js";

export const functions = [
  defineFunction<{ email: string }>("SendEmail", async () => {}),
  defineFunction("Explode", async () => {
    throw new Error("boom");
  }),
  defineFunction("Nightly", { cron: "0 0 3 * * *" }, async () => {}),
] as const;

export async function setup(options: Partial<ApiOptions> = {}, store: Store = memoryStore()) {
  const clock = new TestClock("2030-01-01T08:00:00Z");
  const tq = createTickerQ({ functions, store, clock, nodeId: "node-a" });
  await tq.start();
  const api = createApi(tq, { auth: { type: "none" }, ...options });
  return {
    tq,
    clock,
    api,
    call: client(api),
    async close() {
      api.close();
      await tq.stop({ timeoutMs: 100 });
    },
  };
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** Calls the API's handler as a machine client does: JSON bodies, headers as given, no CSRF header. */
export function client(api: Api, headers: Record<string, string> = {}) {
  return async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<Answer> => {
    const init: RequestInit = { method, headers: { ...headers, ...extra } };
    if (body !== undefined) {
      init.body = typeof body === "string" ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] ??= "application/json";
    }
    const response = await api.fetch(new Request(`http://127.0.0.1${path}`, init));
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: response.status, body: parsed, headers: response.headers };
  };
}

/** How many time tickers the store holds (cron occurrences are planned in the background, so left out). */
export async function jobCount(ctx: { tq: { store: { jobList(q: object): Promise<{ total: number }> } } }) {
  return (await ctx.tq.store.jobList({ type: "TimeTicker", limit: 1 })).total;
}
