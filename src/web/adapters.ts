/**
 * Mounting a web app (the dashboard, the HTTP API) in Node servers: plain node:http, Express,
 * Fastify and Hono. Each adapter forwards requests under the base path, untouched, to the app's
 * handler.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import type { Context, MiddlewareHandler } from "hono";
/** What the adapters need of an app: createDashboard's and createApi's results both fit. */
export interface WebApp {
  readonly basePath: string;
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  matches(pathname: string): boolean;
}

type Next = (error?: unknown) => void;
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: Next) => void;

function listener(dashboard: WebApp) {
  return getRequestListener((request, env) => dashboard.fetch(request, env), {
    errorHandler: () => new Response("internal error", { status: 500 }),
  });
}

function pathOf(url: string | undefined): string {
  const raw = url ?? "/";
  const q = raw.indexOf("?");
  return q === -1 ? raw : raw.slice(0, q);
}

/**
 * For `http.createServer(handler)` or as a connect-style middleware. Requests outside the
 * base path go to `next` when given, else get a 404.
 */
export function nodeHandler(dashboard: WebApp): NodeHandler {
  const handle = listener(dashboard);
  return (req, res, next) => {
    if (!dashboard.matches(pathOf(req.url))) {
      if (next) return next();
      res.statusCode = 404;
      res.end("not found");
      return;
    }
    void handle(req, res);
  };
}

/**
 * Express 4/5 middleware: `app.use(expressMiddleware(dashboard))` (or under the base path:
 * Express strips the mount path from req.url, so the original URL is used). A body already
 * read by a body parser is handed on as it was parsed.
 */
export function expressMiddleware(dashboard: WebApp): NodeHandler {
  const handle = listener(dashboard);
  return (req, res, next) => {
    const express = req as IncomingMessage & { originalUrl?: string; body?: unknown; rawBody?: Buffer };
    const url = express.originalUrl ?? req.url;
    if (!dashboard.matches(pathOf(url))) return next ? next() : void res.writeHead(404).end("not found");
    req.url = url;
    if (req.readableEnded && express.body !== undefined && !(express.rawBody instanceof Buffer)) {
      express.rawBody = Buffer.isBuffer(express.body)
        ? express.body
        : Buffer.from(typeof express.body === "string" ? express.body : JSON.stringify(express.body));
    }
    void handle(req, res);
  };
}

/** The parts of a Fastify instance the plugin uses, so tickerq needs no Fastify types. */
interface FastifyLike {
  removeAllContentTypeParsers(): void;
  addContentTypeParser(
    type: string,
    fn: (request: unknown, payload: unknown, done: (error: Error | null, body?: unknown) => void) => void,
  ): void;
  route(options: {
    method: string[];
    url: string;
    handler: (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => void;
  }): void;
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/**
 * A Fastify 4/5 plugin: `await app.register(fastifyPlugin(dashboard))`. Register it without
 * a prefix; the dashboard's own base path decides its URLs. Inside the plugin's scope bodies
 * are left unread, so the dashboard reads them itself.
 */
export function fastifyPlugin(dashboard: WebApp) {
  const handle = listener(dashboard);
  return async function tickerqDashboard(fastify: FastifyLike): Promise<void> {
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser("*", (_request, _payload, done) => done(null));
    const handler = (request: { raw: IncomingMessage }, reply: { raw: ServerResponse; hijack(): void }) => {
      reply.hijack();
      void handle(request.raw, reply.raw);
    };
    const base = dashboard.basePath;
    if (base !== "") fastify.route({ method: METHODS, url: base, handler });
    fastify.route({ method: METHODS, url: `${base}/*`, handler });
  };
}

/** Hono middleware: `app.use(honoMiddleware(dashboard))`; other paths continue down the app. */
export function honoMiddleware(dashboard: WebApp): MiddlewareHandler {
  return async (c: Context, next) => {
    if (!dashboard.matches(c.req.path)) return next();
    return dashboard.fetch(c.req.raw, c.env);
  };
}
