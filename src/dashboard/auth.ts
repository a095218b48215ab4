/**
 * Who may use the dashboard, and what makes an action safe to perform: authentication
 * (none, basic, API key, or the host's own check), read-only mode and CSRF refusal.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { TickerQError } from "../errors.js";
import { clientKey, readCookie, SESSION_COOKIE, type LoginThrottle, type Sessions } from "./guards.js";

/**
 * How requests are authenticated. There is no default: an open dashboard must be asked for
 * with `{ type: "none" }`, so that forgetting the option never exposes the jobs.
 */
export type DashboardAuth =
  | { type: "none" }
  /** HTTP basic credentials, sent by the UI in the Authorization header (never in URLs). */
  | { type: "basic"; username: string; password: string }
  /** A key sent in a header. @default header "x-tickerq-key" */
  | { type: "apiKey"; key: string; header?: string }
  /** The host decides, e.g. from its own session cookie or JWT. */
  | { type: "custom"; authorize: AuthorizeHook }
  | AuthorizeHook;

/** `request` is the web Request; `context.incoming` is Node's request when mounted in Node. */
export type AuthorizeHook = (request: Request, context: { incoming?: unknown }) => boolean | Promise<boolean>;

/** The header every API call carries; a browser cannot add it to a cross-site form post. */
export const REQUEST_HEADER = "x-tickerq-request";

export type AuthKind = "none" | "basic" | "apiKey" | "custom";

export interface Authenticator {
  kind: AuthKind;
  /** For the UI: which header carries the key. */
  header: string | null;
  check(c: Context): Promise<boolean>;
  /** Checks credentials a sign-in form sent (basic: username and password; apiKey: key). */
  login?(body: Record<string, unknown>): boolean;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Compares without leaking, through timing, how much of a secret matched. */
function same(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

export function authenticator(auth: DashboardAuth | undefined): Authenticator {
  if (auth === undefined || auth === null) {
    throw new TickerQError(
      "INVALID_ARGUMENT",
      'auth is required: pass { type: "basic" | "apiKey" | "custom", … }, a function, or { type: "none" } to serve the dashboard without authentication',
    );
  }
  if (typeof auth === "function") return custom(auth);
  switch (auth.type) {
    case "none":
      return { kind: "none", header: null, check: async () => true };
    case "basic": {
      if (typeof auth.username !== "string" || auth.username === "" || auth.username.includes(":")) {
        throw new TickerQError("INVALID_ARGUMENT", "auth.username must be a non-empty string without ':'");
      }
      if (typeof auth.password !== "string" || auth.password === "") {
        throw new TickerQError("INVALID_ARGUMENT", "auth.password must be a non-empty string");
      }
      const expected = `${auth.username}:${auth.password}`;
      return {
        kind: "basic",
        header: "authorization",
        login: (body) =>
          typeof body.username === "string" &&
          typeof body.password === "string" &&
          same(`${body.username}:${body.password}`, expected),
        check: async (c) => {
          const header = c.req.header("authorization") ?? "";
          const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
          if (!match) return false;
          return same(Buffer.from(match[1]!, "base64").toString("utf8"), expected);
        },
      };
    }
    case "apiKey": {
      if (typeof auth.key !== "string" || auth.key.length < 8) {
        throw new TickerQError("INVALID_ARGUMENT", "auth.key must be a string of at least 8 characters");
      }
      const header = (auth.header ?? "x-tickerq-key").toLowerCase();
      return {
        kind: "apiKey",
        header,
        login: (body) => typeof body.key === "string" && same(body.key, auth.key),
        check: async (c) => {
          const sent = c.req.header(header);
          return sent !== undefined && same(sent, auth.key);
        },
      };
    }
    case "custom":
      if (typeof auth.authorize !== "function")
        throw new TickerQError("INVALID_ARGUMENT", "auth.authorize must be a function");
      return custom(auth.authorize);
    default:
      throw new TickerQError(
        "INVALID_ARGUMENT",
        `auth.type must be "none", "basic", "apiKey" or "custom"; got ${JSON.stringify((auth as { type?: unknown }).type)}`,
      );
  }
}

function custom(hook: AuthorizeHook): Authenticator {
  return {
    kind: "custom",
    header: null,
    check: async (c) => {
      const env = c.env as { incoming?: unknown } | undefined;
      return (await hook(c.req.raw, { incoming: env?.incoming })) === true;
    },
  };
}

/** The 429 a throttled client gets, saying when to come back. */
export function throttled(c: Context, waitMs: number): Response {
  c.header("Retry-After", String(Math.ceil(waitMs / 1000)));
  return c.json({ error: { code: "TOO_MANY_ATTEMPTS", message: "too many failed sign-ins; try again later" } }, 429);
}

/**
 * 401 for every API route (and the stream) unless the request authenticates, by its sign-in
 * session cookie or by credentials in headers (scripts, curl). Failed credentials count against
 * the client, which must then wait longer and longer before its next try (429).
 */
export function requireAuth(
  auth: Authenticator,
  guard: { sessions: Sessions; throttle: LoginThrottle },
): MiddlewareHandler {
  return async (c, next) => {
    if (guard.sessions.valid(readCookie(c, SESSION_COOKIE))) return next();
    const client = clientKey(c);
    const tried = auth.header !== null && c.req.header(auth.header) !== undefined;
    // Only a try with credentials waits: without any, a client learns nothing by asking.
    const wait = tried ? guard.throttle.waitMs(client) : 0;
    if (wait > 0) return throttled(c, wait);
    let ok = false;
    try {
      ok = await auth.check(c);
    } catch {
      ok = false; // a throwing host hook denies; it never opens the door
    }
    if (ok && tried) guard.throttle.succeeded(client);
    if (!ok && tried) guard.throttle.failed(client);
    if (!ok) {
      // No `WWW-Authenticate: Basic` for the UI's own calls: it would pop the browser's dialog.
      if (auth.kind === "basic" && !c.req.header(REQUEST_HEADER))
        c.header("WWW-Authenticate", 'Basic realm="tickerq", charset="UTF-8"');
      return c.json(
        { error: { code: "UNAUTHORIZED", message: "authentication required", auth: auth.kind, header: auth.header } },
        401,
      );
    }
    await next();
  };
}

/**
 * Actions (anything but GET/HEAD) must carry the custom header and, when they have a body, a
 * JSON content type: neither can come from a plain HTML form or a simple cross-site request.
 */
export function requireSafeAction(readOnly: boolean): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return next();
    if (readOnly) return c.json({ error: { code: "READ_ONLY", message: "the dashboard is read-only" } }, 403);
    if (c.req.header(REQUEST_HEADER) !== "1") {
      return c.json({ error: { code: "CSRF", message: `actions need the ${REQUEST_HEADER}: 1 header` } }, 403);
    }
    const type = c.req.header("content-type");
    const length = c.req.header("content-length");
    const hasBody = (length !== undefined && length !== "0") || c.req.header("transfer-encoding") !== undefined;
    if ((hasBody || type) && !/^application\/json\b/i.test(type ?? "")) {
      return c.json(
        { error: { code: "CSRF", message: "actions take a JSON body (content-type: application/json)" } },
        415,
      );
    }
    await next();
  };
}
