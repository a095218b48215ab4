/**
 * createDashboard: the dashboard as one web-standard handler (a Hono app) under a base path:
 * the UI's files, the JSON API under {basePath}/api and the live stream. Adapters mount it
 * in node:http, Express, Fastify and Hono.
 */

import { Hono } from "hono";
import type { TickerQ } from "../tickerq.js";
import { TickerQError } from "../errors.js";
import { normaliseBasePath } from "../web/base-path.js";
import { authenticator, requireAuth, requireSafeAction, throttled, type DashboardAuth } from "./auth.js";
import {
  bodyGuard,
  clientKey,
  LoginThrottle,
  parsedBody,
  readCookie,
  sameOriginGuard,
  SESSION_COOKIE,
  sessionCookie,
  Sessions,
} from "./guards.js";
import { errorResponse, HttpError } from "./http-errors.js";

const MAX_PRESENCE_IDS = 500;
import { jobRoutes } from "./api-jobs.js";
import { cronRoutes } from "./api-cron.js";
import { systemRoutes } from "./api-system.js";
import { LiveHub, type LiveOptions } from "./live.js";
import { AssetStore } from "./assets.js";
import { DashboardQueries } from "./queries.js";

export interface DashboardOptions {
  /** Where the dashboard lives, e.g. "/tickerq". @default "" (the root) */
  basePath?: string;
  /** Required: how requests authenticate. `{ type: "none" }` opts in to an open dashboard. */
  auth: DashboardAuth;
  /** Show everything, change nothing: actions are hidden in the UI and refused (403). @default false */
  readOnly?: boolean;
  /** Live stream timings. */
  live?: LiveOptions;
  /** Where the built UI is. @default the assets folder next to this module */
  assetsDir?: string;
  /** The largest request body any route accepts; more is refused with 413 before it is parsed. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
}

export interface Dashboard {
  /** The normalised base path ("" or "/something"). */
  readonly basePath: string;
  /** The Hono app; routes include the base path. */
  readonly app: Hono;
  /** The web-standard handler. `env` carries Node's request for the auth hook. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** Whether a request path belongs to the dashboard. */
  matches(pathname: string): boolean;
  /** Ends open live streams and stops polling. */
  close(): void;
}

type AnyTickerQ = TickerQ<any>;

export { normaliseBasePath } from "../web/base-path.js";

export function createDashboard(tq: AnyTickerQ, options: DashboardOptions): Dashboard {
  if (!tq || typeof tq !== "object" || !("timeTickers" in tq)) {
    throw new TickerQError("INVALID_ARGUMENT", "createDashboard(tq, options) needs a TickerQ from createTickerQ()");
  }
  if (typeof options !== "object" || options === null)
    throw new TickerQError("INVALID_ARGUMENT", "createDashboard(tq, options) needs an options object");
  const base = normaliseBasePath(options.basePath);
  const auth = authenticator(options.auth);
  const readOnly = options.readOnly ?? false;
  const queries = new DashboardQueries(tq.store, () => tq.options.clock.now());
  const hub = new LiveHub(tq, queries, options.live);
  const assets = new AssetStore(options.assetsDir);
  const changed = () => hub.nudge();

  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1)
    throw new TickerQError("INVALID_ARGUMENT", `maxBodyBytes must be a positive integer; got ${String(maxBodyBytes)}`, {
      field: "maxBodyBytes",
    });
  const sessions = new Sessions();
  const throttle = new LoginThrottle();
  const cookiePath = `${base}/api`;

  const api = new Hono();
  api.use("*", async (c, next) => {
    await next();
    // The stream keeps its own `no-cache, no-transform`: `no-store` would let proxies buffer it.
    if (!c.res.headers.get("content-type")?.startsWith("text/event-stream")) c.header("cache-control", "no-store");
    c.header("x-content-type-options", "nosniff");
  });
  api.use("*", sameOriginGuard());
  // Signing in trades credentials for an HttpOnly, SameSite=Strict session cookie: the browser
  // keeps no password where a script could read it.
  api.post("/session/login", requireSafeAction(false), bodyGuard(maxBodyBytes), async (c) => {
    const client = clientKey(c);
    const wait = throttle.waitMs(client);
    if (wait > 0) return throttled(c, wait);
    if (!auth.login)
      return c.json({ error: { code: "INVALID_STATE", message: `${auth.kind} auth has no sign-in form` } }, 400);
    const body = parsedBody(c);
    const ok = typeof body === "object" && body !== null && auth.login(body as Record<string, unknown>);
    if (!ok) {
      throttle.failed(client);
      return c.json({ error: { code: "UNAUTHORIZED", message: "wrong credentials", auth: auth.kind } }, 401);
    }
    throttle.succeeded(client);
    c.header("set-cookie", sessionCookie(c, sessions.create(), cookiePath));
    return c.json({ signedIn: true });
  });
  api.post("/session/logout", requireSafeAction(false), (c) => {
    sessions.end(readCookie(c, SESSION_COOKIE));
    c.header("set-cookie", sessionCookie(c, null, cookiePath));
    return c.json({ signedIn: false });
  });
  api.use("*", requireAuth(auth, { sessions, throttle }));
  api.use("*", requireSafeAction(readOnly));
  api.use("*", bodyGuard(maxBodyBytes));
  // A NUL in a path parameter (%00) cannot reach PostgreSQL, which would refuse it with an error of its own.
  api.use("*", async (c, next) => {
    if (/%00/i.test(new URL(c.req.url).pathname)) {
      return c.json({ error: { code: "INVALID_ARGUMENT", message: "the path holds a NUL (%00)", field: "path" } }, 400);
    }
    await next();
  });
  api.get("/stream", (c) => hub.stream(c.req.raw.signal));
  // Which of these jobs still exist: a list drops the rows of jobs deleted by other processes,
  // whose deletions leave no changed row for the stream to carry.
  api.get("/jobs-present", async (c) => {
    const ids = c.req.queries("id") ?? [];
    if (ids.length > MAX_PRESENCE_IDS)
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `id may be given at most ${MAX_PRESENCE_IDS} times; got ${ids.length}`,
        "id",
      );
    return c.json({ present: await queries.present(ids) });
  });
  api.route("/jobs", jobRoutes(tq, queries, changed));
  api.route("/cron", cronRoutes(tq, queries, changed));
  api.route("/", systemRoutes(tq, queries, { readOnly, auth: auth.kind, authHeader: auth.header }, changed));
  api.all("*", (c) =>
    c.json(
      { error: { code: "NOT_FOUND", message: `no API route ${c.req.method} ${new URL(c.req.url).pathname}` } },
      404,
    ),
  );
  api.onError((error, c) => {
    const response = errorResponse(c, error);
    if (response.status === 500) tq.events.emit("error", { error, during: "dashboard", nodeId: tq.nodeId });
    return response;
  });

  const app = new Hono();
  app.route(`${base}/api`, api);
  const serve = async (name: string) => {
    const asset = await assets.get(name);
    if (!asset) return new Response("not found", { status: 404 });
    return new Response(asset.body as BodyInit, { headers: asset.headers });
  };
  if (base !== "") app.get(base, (c) => c.redirect(`${base}/`, 301));
  app.get(`${base}/`, () => serve("index.html"));
  app.get(`${base}/assets/:file`, (c) => serve(`assets/${c.req.param("file")}`));
  app.notFound((c) => c.text("not found", 404));

  return {
    basePath: base,
    app,
    fetch: (request, env) => app.fetch(request, env as object),
    matches: (pathname) => pathname === base || pathname.startsWith(`${base}/`),
    close: () => hub.close(),
  };
}
