/**
 * createApi: tickerq's HTTP API for machine clients as one web-standard handler (a Hono app)
 * under a base path. Each route is a definition (routes-*.ts) that is both mounted here and
 * documented in the OpenAPI document served at {basePath}/openapi.json.
 */

import { Hono, type Context } from "hono";
import { TickerQError } from "../errors.js";
import { normaliseBasePath } from "../web/base-path.js";
import { clientKey, LoginThrottle } from "../web/throttle.js";
import { apiAuthenticator, type ApiAuth } from "./auth.js";
import { readJsonBody } from "./body.js";
import { openApiDocument } from "./openapi.js";
import { ApiProblem, errorProblem, problem, problemResponse } from "./problem.js";
import { json, type AnyTickerQ, type JsonSchema, type RouteDef } from "./route.js";
import { cronRoutes } from "./routes-cron.js";
import { jobRoutes } from "./routes-jobs.js";
import { systemRoutes } from "./routes-system.js";

export interface ApiOptions {
  /** Required: how requests authenticate. `{ type: "none" }` opts in to an open API. */
  auth: ApiAuth;
  /** Where the API lives, e.g. "/api/tickerq". @default "" (the root) */
  basePath?: string;
  /** The largest request body; more is refused with 413 before it is parsed. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /**
   * Slow down guessing: after 5 unknown keys or tokens from one client address, each further one
   * doubles its wait (1 s up to 60 s), during which it gets 429 with Retry-After, whatever it
   * sends. Turn off behind a proxy that makes every client one address. @default true
   */
  throttleFailedAuth?: boolean;
}

export interface Api {
  /** The normalised base path ("" or "/something"). */
  readonly basePath: string;
  /** The Hono app; routes include the base path. */
  readonly app: Hono;
  /** The OpenAPI 3.1 document served at {basePath}/openapi.json. */
  readonly openapi: JsonSchema;
  /** The route definitions, as documented. */
  readonly routes: readonly RouteDef[];
  /** The web-standard handler. `env` carries Node's request (`incoming`) for the auth hook. */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** Whether a request path belongs to the API. */
  matches(pathname: string): boolean;
  /** Nothing to release yet; here so every adapter of the dashboard takes the API too. */
  close(): void;
}

const honoPath = (path: string) => path.replace(/\{(\w+)\}/g, ":$1");
const pathPattern = (base: string, path: string) =>
  new RegExp(`^${(base + path).replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{\w+\\?\}/g, "[^/]+")}$`);

export function createApi(tq: AnyTickerQ, options: ApiOptions): Api {
  if (!tq || typeof tq !== "object" || !("timeTickers" in tq))
    throw new TickerQError("INVALID_ARGUMENT", "createApi(tq, options) needs a TickerQ from createTickerQ()");
  if (typeof options !== "object" || options === null)
    throw new TickerQError("INVALID_ARGUMENT", "createApi(tq, options) needs an options object", { field: "options" });
  const base = normaliseBasePath(options.basePath);
  const auth = apiAuthenticator(options.auth);
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1)
    throw new TickerQError("INVALID_ARGUMENT", `maxBodyBytes must be a positive integer; got ${String(maxBodyBytes)}`, {
      field: "maxBodyBytes",
    });
  const now = () => tq.options.clock.now();
  const throttle =
    options.throttleFailedAuth !== false && (auth.kind === "apiKey" || auth.kind === "bearer")
      ? new LoginThrottle(now)
      : null;

  const routes: RouteDef[] = [...jobRoutes(tq, now), ...cronRoutes(tq), ...systemRoutes(tq)];
  const openapi = openApiDocument(
    [
      ...routes,
      {
        method: "get",
        path: "/openapi.json",
        operationId: "openapi",
        summary: "This document",
        scope: "public",
        responses: { 200: { description: "OpenAPI 3.1", schema: { type: "object" } } },
        problems: [],
        handle: async () => json(openapi),
      },
    ],
    auth,
    base,
    throttle !== null,
  );

  const app = new Hono();
  const answer = async (c: Context, route: RouteDef): Promise<Response> => {
    const guarded = throttle !== null && route.scope !== "public";
    const client = guarded ? clientKey(c) : "";
    try {
      if (guarded) {
        const wait = throttle.waitMs(client);
        if (wait > 0) {
          const seconds = Math.ceil(wait / 1000);
          const detail = `too many unknown credentials from this client; try again in ${seconds} s`;
          return problemResponse(problem(429, "TOO_MANY_ATTEMPTS", detail, auth.header ?? undefined), {
            "retry-after": String(seconds),
          });
        }
      }
      let principal = "";
      if (route.scope !== "public") {
        try {
          principal = await auth.authorize(c.req.raw, route.scope, c.env);
          if (guarded) throttle.succeeded(client);
        } catch (error) {
          // A credential was sent and is not known: a guess, counted against the client.
          const sent = auth.header !== null && c.req.raw.headers.has(auth.header);
          if (guarded && sent && error instanceof ApiProblem && error.status === 401) throttle.failed(client);
          throw error;
        }
      }
      const body = route.body ? await readJsonBody(c.req.raw, maxBodyBytes) : undefined;
      const url = new URL(c.req.url);
      const params = c.req.param();
      return await route.handle({ request: c.req.raw, params, query: url.searchParams, body, base, principal });
    } catch (error) {
      const { body, internal } = errorProblem(error);
      // The library's "does not exist" names no field: on these routes it is the path's id.
      if (body.code === "NOT_FOUND" && body.field === undefined && c.req.param("id") !== undefined) {
        body.field = "id";
        body.value = c.req.param("id");
      }
      if (internal) tq.events.emit("error", { error, during: "http api", nodeId: tq.nodeId });
      const headers: Record<string, string> = {};
      if (body.status === 401 && auth.kind === "bearer") headers["www-authenticate"] = 'Bearer realm="tickerq"';
      return problemResponse(body, headers);
    }
  };
  for (const route of routes) app.on(route.method.toUpperCase(), base + honoPath(route.path), (c) => answer(c, route));
  app.get(`${base}/openapi.json`, () => json(openapi));

  const patterns = routes.map((route) => ({ route, pattern: pathPattern(base, route.path) }));
  app.notFound((c) => {
    const path = new URL(c.req.url).pathname;
    const allowed = patterns.filter((p) => p.pattern.test(path)).map((p) => p.route.method.toUpperCase());
    if (allowed.length > 0) {
      const body = problem(405, "METHOD_NOT_ALLOWED", `${c.req.method} is not allowed here; use ${allowed.join(", ")}`);
      return problemResponse(body, { allow: allowed.join(", ") });
    }
    return problemResponse(problem(404, "NOT_FOUND", `no route ${c.req.method} ${path}`, "path", path));
  });
  app.onError((error) => problemResponse(errorProblem(error).body));

  return {
    basePath: base,
    app,
    openapi,
    routes,
    fetch: (request, env) => app.fetch(request, env as object),
    matches: (pathname) => pathname === base || pathname.startsWith(`${base}/`),
    close: () => {},
  };
}
