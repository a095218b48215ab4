/**
 * Limits on what a request may carry, and the dashboard's sign-in session: bodies capped
 * (413) and parsed once with a depth limit (400), bodies refused where an action takes none,
 * actions refused from another site (Origin, Sec-Fetch-Site), failed sign-ins throttled per
 * client with backoff, and a session cookie (HttpOnly, SameSite=Strict) so the browser never
 * keeps a password where scripts can read it.
 */

import { randomBytes } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "./http-errors.js";
import { jsonDepth, MAX_JSON_DEPTH, readCapped } from "../web/body.js";

export { jsonDepth, MAX_JSON_DEPTH, readCapped } from "../web/body.js";
export { clientKey, LoginThrottle } from "../web/throttle.js";

/** Parsed JSON bodies by request: the guard reads the body once, the routes take it from here. */
const bodies = new WeakMap<Request, unknown>();

/** The routes whose actions take a JSON body; every other action must come without one. */
const TAKES_BODY: readonly [string, RegExp][] = [
  ["POST", /\/api\/jobs$/],
  ["PATCH", /\/api\/jobs\/[^/]+$/],
  ["POST", /\/api\/jobs\/bulk$/],
  ["POST", /\/api\/cron$/],
  ["PATCH", /\/api\/cron\/[^/]+$/],
  ["POST", /\/api\/session\/login$/],
];

/**
 * Every action's body: more than `maxBytes` is 413 (from Content-Length before reading, or
 * while reading); a body where the action takes none, malformed JSON or JSON nested deeper
 * than MAX_JSON_DEPTH is 400. What passes is parsed once, for `parsedBody`.
 */
export function bodyGuard(maxBytes: number): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    const tooLarge = () =>
      c.json({ error: { code: "PAYLOAD_TOO_LARGE", message: `the body must be at most ${maxBytes} bytes` } }, 413);
    const length = Number(c.req.header("content-length") ?? "0");
    if (Number.isFinite(length) && length > maxBytes) return tooLarge();
    const text = await readCapped(c.req.raw, maxBytes);
    if (text === null) return tooLarge();
    const path = new URL(c.req.url).pathname;
    const takesBody = TAKES_BODY.some(([m, pattern]) => m === method && pattern.test(path));
    if (!takesBody) {
      // `{}` is what a client that always sends JSON sends: harmless. Anything else is a mistake.
      if (text.trim() !== "" && text.trim() !== "{}")
        throw new HttpError(400, "INVALID_ARGUMENT", "this action takes no body");
      return next();
    }
    if (jsonDepth(text) > MAX_JSON_DEPTH)
      throw new HttpError(400, "INVALID_ARGUMENT", `the body must not nest deeper than ${MAX_JSON_DEPTH} levels`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new HttpError(400, "INVALID_ARGUMENT", "the body must be a JSON object");
    }
    bodies.set(c.req.raw, body);
    return next();
  };
}

/** The body the guard parsed (undefined when none was read). */
export function parsedBody(c: Context): unknown {
  return bodies.get(c.req.raw);
}

/**
 * Actions must come from the dashboard's own origin. The custom header already stops
 * browsers from sending them cross-site; this is defence in depth. Requests without the
 * headers (curl, server-to-server) pass.
 */
export function sameOriginGuard(): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    const site = c.req.header("sec-fetch-site");
    if (site !== undefined && site !== "same-origin" && site !== "none")
      return c.json({ error: { code: "CROSS_SITE", message: `actions are refused from ${site} requests` } }, 403);
    const origin = c.req.header("origin");
    if (origin !== undefined && origin !== "null") {
      const host = c.req.header("x-forwarded-host") ?? c.req.header("host") ?? new URL(c.req.url).host;
      let originHost: string;
      try {
        originHost = new URL(origin).host;
      } catch {
        originHost = "";
      }
      if (originHost !== host)
        return c.json({ error: { code: "CROSS_SITE", message: `actions are refused from origin ${origin}` } }, 403);
    } else if (origin === "null") {
      return c.json({ error: { code: "CROSS_SITE", message: "actions are refused from an opaque origin" } }, 403);
    }
    return next();
  };
}

export const SESSION_COOKIE = "tickerq_session";

/** Sign-in sessions: random tokens in an HttpOnly cookie, kept in this process. */
export class Sessions {
  private readonly tokens = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly ttlMs = 12 * 3_600_000,
  ) {}

  create(): string {
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, this.now() + this.ttlMs);
    return token;
  }

  valid(token: string | undefined): boolean {
    if (!token) return false;
    const until = this.tokens.get(token);
    if (until === undefined) return false;
    if (until < this.now()) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  end(token: string | undefined): void {
    if (token) this.tokens.delete(token);
  }
}

export function readCookie(c: Context, name: string): string | undefined {
  const header = c.req.header("cookie");
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return rest.join("=");
  }
  return undefined;
}

export function sessionCookie(c: Context, token: string | null, path: string): string {
  const secure = new URL(c.req.url).protocol === "https:" ? "; Secure" : "";
  const value = token ?? "";
  const age = token ? "" : "; Max-Age=0";
  return `${SESSION_COOKIE}=${value}; Path=${path}; HttpOnly; SameSite=Strict${secure}${age}`;
}
