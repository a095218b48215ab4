/**
 * httpFunction: the built-in job that calls a URL, so a service in any language can schedule
 * "call me back at 09:00". Hosts must be allow-listed by name, and the addresses a name resolves
 * to are checked as the connection is made, on the very answer it connects to (a name that
 * answers a public address to a check and a private one to the call, DNS rebinding, gets
 * nowhere): private, loopback, link-local (cloud metadata) and other non-public ranges are
 * refused unless `allowAddresses` lets them through.
 */

import { lookup as dnsLookup } from "node:dns/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { defineFunction, type FunctionDefinition, type RequestSchema, type TickerContext } from "../functions.js";
import { invalid } from "../errors.js";

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/** A job's request for the http function. */
export interface HttpJobRequest {
  /** http: or https: URL; its host must be allowed by `allowHosts`. */
  url: string;
  /** @default "POST" when there is a body, else "GET" */
  method?: HttpMethod;
  headers?: Record<string, string>;
  /** A string is sent as it is; anything else as JSON (with content-type application/json unless set). */
  body?: unknown;
  /** Abort the call after this long (1 to 300000). @default the function's timeoutMs */
  timeoutMs?: number;
  /** The status(es) that count as success. @default any 2xx */
  expectStatus?: number | number[];
}

/** What a call answered (also the handler's return value). */
export interface HttpJobResponse {
  status: number;
  /** The start of the response body, as text, cut at `maxExcerptBytes`. */
  excerpt: string;
}

export interface HttpFunctionOptions {
  /**
   * Required: the hosts jobs may call. An entry is a host name or IP ("billing.internal",
   * "203.0.113.7"), "*.example.com" (any subdomain of example.com), or "*" (any host).
   */
  allowHosts: readonly string[];
  /**
   * CIDR ranges the call may reach although they are not public, e.g. ["10.0.0.0/8"] for an
   * internal service, ["127.0.0.1/32"] in tests. @default [] (private, loopback, link-local,
   * CGNAT, multicast and reserved ranges, IPv4 and IPv6, are refused)
   */
  allowAddresses?: readonly string[];
  /** The function's name. @default "http" */
  name?: string;
  /** Per-call timeout when the job does not say. @default 10000 */
  timeoutMs?: number;
  /** How much of a response body is kept (in a failed attempt's details, and passed to onResponse). @default 2048 */
  maxExcerptBytes?: number;
  /** Retries for jobs that do not say. @default 0 */
  retries?: number;
  /** Seconds before each retry, for jobs that do not say. @default the engine's (30 s doubling) */
  retryIntervals?: number[];
  /**
   * Called with every answer that counts as success (attempts keep no result, so this is where
   * to record it); an unexpected status fails the attempt and is kept in its exception message.
   */
  onResponse?: (response: HttpJobResponse, ctx: TickerContext<HttpJobRequest>) => void;
  /**
   * Resolves a host name to the addresses a call may connect to (a service registry, pinned
   * names). Asked once per call, as it connects; every address it answers is checked.
   * @default the system resolver (node:dns lookup, with /etc/hosts)
   */
  lookup?: (hostname: string) => Promise<readonly { address: string; family: number }[]>;
}

/** Ranges that are not the public internet: refused unless allowed. */
const NON_PUBLIC: [string, number, "ipv4" | "ipv6"][] = [
  ["0.0.0.0", 8, "ipv4"],
  ["10.0.0.0", 8, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"], // link-local, where cloud metadata lives
  ["172.16.0.0", 12, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["198.18.0.0", 15, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["240.0.0.0", 4, "ipv4"],
  ["::", 128, "ipv6"],
  ["::1", 128, "ipv6"],
  ["64:ff9b::", 96, "ipv6"], // NAT64: an IPv4 address behind it
  ["100::", 64, "ipv6"],
  ["fc00::", 7, "ipv6"], // unique local, fd00::/8 included (fd00:ec2::254 is EC2's metadata)
  ["fe80::", 10, "ipv6"],
  ["ff00::", 8, "ipv6"],
];

function blockList(ranges: readonly [string, number, "ipv4" | "ipv6"][]): BlockList {
  const list = new BlockList();
  for (const [address, prefix, type] of ranges) list.addSubnet(address, prefix, type);
  return list;
}

function parseCidr(field: string, text: unknown): [string, number, "ipv4" | "ipv6"] {
  const match = typeof text === "string" ? /^([^/]+)\/(\d{1,3})$/.exec(text.trim()) : null;
  const family = match ? isIP(match[1]!) : 0;
  const prefix = match ? Number(match[2]) : -1;
  if (!match || family === 0 || prefix > (family === 4 ? 32 : 128))
    throw invalid(field, text, 'a CIDR range such as "10.0.0.0/8" or "fd12::/16"');
  return [match[1]!, prefix, family === 4 ? "ipv4" : "ipv6"];
}

/** A URL's host without IPv6 brackets, lower-cased (URL already normalises IPv4 forms). */
const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, "").toLowerCase();

function hostAllowed(patterns: readonly string[], host: string): boolean {
  return patterns.some((p) => p === "*" || p === host || (p.startsWith("*.") && host.endsWith(p.slice(1))));
}

const show = (value: unknown) => {
  const text = typeof value === "string" ? JSON.stringify(value) : String(JSON.stringify(value) ?? value);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

type Issue = { message: string; path?: PropertyKey[] };

/** The request checks, shared by add() (through the schema) and the run. */
function checkRequest(value: unknown, allowHosts: readonly string[]): Issue[] {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return [{ message: `must be an object with a url; got ${show(value)}` }];
  const r = value as Record<string, unknown>;
  const issues: Issue[] = [];
  const at = (key: string, message: string) => issues.push({ message, path: [key] });
  for (const key of Object.keys(r))
    if (!["url", "method", "headers", "body", "timeoutMs", "expectStatus"].includes(key))
      at(key, `is not a field of an http request (url, method, headers, body, timeoutMs, expectStatus)`);
  let url: URL | null = null;
  try {
    url = typeof r.url === "string" ? new URL(r.url) : null;
  } catch {
    url = null;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
    at("url", `must be an absolute http: or https: URL; got ${show(r.url)}`);
  else if (!hostAllowed(allowHosts, bareHost(url)))
    at("url", `host ${show(bareHost(url))} is not in allowHosts (${allowHosts.map(show).join(", ")})`);
  if (r.method !== undefined && !HTTP_METHODS.includes(r.method as HttpMethod))
    at("method", `must be one of ${HTTP_METHODS.join(", ")}; got ${show(r.method)}`);
  if (r.headers !== undefined) {
    const h = r.headers;
    if (typeof h !== "object" || h === null || Array.isArray(h)) at("headers", `must be an object; got ${show(h)}`);
    else
      for (const [name, v] of Object.entries(h))
        if (!/^[!#$%&'*+.^_`|~\w-]+$/.test(name) || typeof v !== "string" || /[\r\n\0]/.test(v))
          issues.push({
            message: `must be a header name with a one-line string value; got ${show(v)}`,
            path: ["headers", name],
          });
  }
  if (
    r.timeoutMs !== undefined &&
    !(Number.isInteger(r.timeoutMs) && (r.timeoutMs as number) >= 1 && (r.timeoutMs as number) <= 300_000)
  )
    at("timeoutMs", `must be an integer from 1 to 300000; got ${show(r.timeoutMs)}`);
  if (r.expectStatus !== undefined) {
    const list = Array.isArray(r.expectStatus) ? r.expectStatus : [r.expectStatus];
    if (list.length === 0 || list.some((s) => !Number.isInteger(s) || (s as number) < 100 || (s as number) > 599))
      at("expectStatus", `must be a status from 100 to 599, or a non-empty list of them; got ${show(r.expectStatus)}`);
  }
  if ((r.method === "GET" || r.method === "HEAD") && r.body !== undefined)
    at("body", `must be absent for ${r.method as string}`);
  return issues;
}

function requestSchema(allowHosts: readonly string[]): RequestSchema<HttpJobRequest> {
  const jsonSchema = {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    type: "object",
    required: ["url"],
    additionalProperties: false,
    properties: {
      url: { type: "string", format: "uri", description: `http(s) URL; allowed hosts: ${allowHosts.join(", ")}` },
      method: { enum: [...HTTP_METHODS] },
      headers: { type: "object", additionalProperties: { type: "string" } },
      body: { description: "A string is sent as it is, anything else as JSON" },
      timeoutMs: { type: "integer", minimum: 1, maximum: 300_000 },
      expectStatus: {
        oneOf: [
          { type: "integer", minimum: 100, maximum: 599 },
          { type: "array", minItems: 1, items: { type: "integer", minimum: 100, maximum: 599 } },
        ],
      },
    },
  };
  const standard = {
    version: 1 as const,
    vendor: "tickerq",
    validate: (value: unknown) => {
      const issues = checkRequest(value, allowHosts);
      return issues.length > 0 ? { issues } : { value: value as HttpJobRequest };
    },
    jsonSchema: { input: () => jsonSchema, output: () => jsonSchema },
  };
  return { "~standard": standard };
}

/** An attempt that got an answer it did not expect, or none: the message is what the attempt keeps. */
export class HttpJobError extends Error {
  override readonly name = "HttpJobError";
  constructor(
    message: string,
    /** The status received, or null when there was no answer. */
    readonly status: number | null,
    /** The start of the body received ("" when none). */
    readonly excerpt: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    // The attempt's details are the error's stack: there, the response body matters more than frames.
    this.stack = excerpt ? `${this.name}: ${message}\nResponse body (start):\n${excerpt}` : `${this.name}: ${message}`;
  }
}

/**
 * One call: resolves with the response once its head arrived (redirects are not followed).
 * `lookup` resolves the host as the socket connects.
 */
function send(
  url: URL,
  method: string,
  headers: Headers,
  body: string | undefined,
  lookup: LookupFunction,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const plain: Record<string, string> = {};
    headers.forEach((value, name) => (plain[name] = value));
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(url, {
      method,
      headers: plain,
      lookup,
      signal,
    });
    request.once("response", (response) => {
      // What fails while the body is read reaches readExcerpt; a late error must not go unheard.
      response.on("error", () => {});
      resolve(response);
    });
    request.on("error", reject); // on, not once: a second error (a reset after an abort) is heard too
    request.end(body);
  });
}

/** The start of a response body, up to `maxBytes`; the rest is not read (the socket is closed). */
async function readExcerpt(response: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      if (size >= maxBytes) break;
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } finally {
    if (!response.complete) response.destroy();
  }
  const bytes = Buffer.concat(chunks).subarray(0, maxBytes);
  // A multi-byte character cut at the end decodes to U+FFFD: dropped rather than shown.
  return new TextDecoder().decode(bytes).replace(/\uFFFD$/, "");
}

function checkOptions(options: HttpFunctionOptions) {
  if (typeof options !== "object" || options === null) throw invalid("httpFunction(options)", options, "an object");
  const { allowHosts } = options;
  if (!Array.isArray(allowHosts) || allowHosts.length === 0)
    throw invalid("allowHosts", allowHosts, 'a non-empty array of host names, "*.domain" or "*"');
  const hosts = allowHosts.map((h: unknown, i) => {
    if (typeof h !== "string" || !/^(\*|(\*\.)?[a-z0-9.:_-]+)$/i.test(h.trim()))
      throw invalid(`allowHosts[${i}]`, h, 'a host name or IP, "*.domain", or "*"');
    const host = h
      .trim()
      .toLowerCase()
      .replace(/^\[|\]$/g, "");
    // As URL writes it, so that "::ffff:169.254.169.254" meets the URL's "::ffff:a9fe:a9fe".
    return isIP(host) === 6 ? bareHost(new URL(`http://[${host}]/`)) : host;
  });
  const allowed = blockList((options.allowAddresses ?? []).map((c, i) => parseCidr(`allowAddresses[${i}]`, c)));
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 300_000)
    throw invalid("timeoutMs", timeoutMs, "an integer from 1 to 300000");
  const maxExcerptBytes = options.maxExcerptBytes ?? 2048;
  if (!Number.isInteger(maxExcerptBytes) || maxExcerptBytes < 0 || maxExcerptBytes > 1_000_000)
    throw invalid("maxExcerptBytes", maxExcerptBytes, "an integer from 0 to 1000000");
  if (options.onResponse !== undefined && typeof options.onResponse !== "function")
    throw invalid("onResponse", options.onResponse, "a function");
  if (options.lookup !== undefined && typeof options.lookup !== "function")
    throw invalid("lookup", options.lookup, "a function");
  return { hosts, allowed, timeoutMs, maxExcerptBytes };
}

const blocked = blockList(NON_PUBLIC);

/**
 * The http function. Register it like any other: `functions: [httpFunction({ allowHosts:
 * ["billing.internal"], allowAddresses: ["10.0.0.0/8"] })]`, then schedule
 * `{ function: "http", request: { url, method, headers, body, timeoutMs, expectStatus } }`.
 */
export function httpFunction(options: HttpFunctionOptions): FunctionDefinition<string, HttpJobRequest> {
  const { hosts, allowed, timeoutMs, maxExcerptBytes } = checkOptions(options);
  const schema = requestSchema(hosts);

  /** `address` (of `host`) refused unless it is public or allowed. */
  function checkAddress(host: string, address: string): void {
    const type = isIP(address) === 6 ? "ipv6" : "ipv4";
    if (blocked.check(address, type) && !allowed.check(address, type))
      throw new HttpJobError(
        `host ${JSON.stringify(host)} resolves to ${address}, a private, loopback or link-local address; add its range to allowAddresses to allow it`,
        null,
        "",
      );
  }

  /**
   * The socket's own lookup: the addresses it connects to are the ones checked. (Checked
   * before the call and resolved again by the call, a name could answer differently.)
   */
  const checkedLookup: LookupFunction = (hostname, options, callback) => {
    // Through then(): a lookup option that throws, rather than rejects, fails only this call.
    Promise.resolve(hostname)
      .then(resolve)
      .then((answers) => {
        const usable = answers.filter((a) => !options.family || a.family === options.family);
        if (usable.length === 0) throw Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" });
        for (const { address } of usable) checkAddress(hostname, address);
        if (options.all)
          callback(
            null,
            usable.map(({ address, family }) => ({ address, family })),
          );
        else callback(null, usable[0]!.address, usable[0]!.family);
      })
      .catch((error: NodeJS.ErrnoException) => callback(error, "", 0));
  };
  const resolve = options.lookup ?? ((hostname: string) => dnsLookup(hostname, { all: true }));

  return defineFunction<HttpJobRequest, string>(
    options.name ?? "http",
    {
      schema,
      retries: options.retries,
      retryIntervals: options.retryIntervals,
      description: `Calls a URL (hosts: ${hosts.join(", ")})`,
    },
    async (ctx, signal) => {
      const issues = checkRequest(ctx.request, hosts);
      if (issues.length > 0)
        throw new HttpJobError(
          `request${issues[0]!.path ? `.${String(issues[0]!.path[0])}` : ""} ${issues[0]!.message}`,
          null,
          "",
        );
      const request = ctx.request;
      const url = new URL(request.url);
      const host = bareHost(url);
      // An IP in the URL is connected to without a lookup: checked here.
      if (isIP(host)) checkAddress(host, host);
      const method = request.method ?? (request.body === undefined ? "GET" : "POST");
      const headers = new Headers(request.headers ?? {});
      let body: string | undefined;
      if (request.body !== undefined) {
        body = typeof request.body === "string" ? request.body : JSON.stringify(request.body);
        if (typeof request.body !== "string" && !headers.has("content-type"))
          headers.set("content-type", "application/json");
        if (!headers.has("content-length")) headers.set("content-length", String(Buffer.byteLength(body)));
      }
      const limit = request.timeoutMs ?? timeoutMs;
      const timeout = AbortSignal.timeout(limit);
      const shown = `${method} ${url.origin}${url.pathname}`;
      let response: IncomingMessage;
      try {
        response = await send(url, method, headers, body, checkedLookup, AbortSignal.any([signal, timeout]));
      } catch (error) {
        if (signal.aborted) throw signal.reason ?? error;
        if (error instanceof HttpJobError) throw error; // an address refused as the call connected
        if (timeout.aborted)
          throw new HttpJobError(`${shown} did not answer within ${limit} ms`, null, "", { cause: error });
        throw new HttpJobError(`${shown} failed: ${(error as Error).message}`, null, "", { cause: error });
      }
      const status = response.statusCode ?? 0;
      let excerpt: string;
      try {
        excerpt = await readExcerpt(response, maxExcerptBytes);
      } catch (error) {
        if (signal.aborted) throw signal.reason ?? error;
        if (timeout.aborted)
          throw new HttpJobError(
            `${shown} answered ${status} but its body did not arrive within ${limit} ms`,
            status,
            "",
            { cause: error },
          );
        excerpt = "";
      }
      const expected = request.expectStatus === undefined ? null : [request.expectStatus].flat();
      const ok = expected ? expected.includes(status) : status >= 200 && status < 300;
      if (!ok) {
        const short = excerpt.length > 200 ? `${excerpt.slice(0, 200)}...` : excerpt;
        throw new HttpJobError(
          `${shown} answered ${status}, expected ${expected ? expected.join(" or ") : "2xx"}${short ? `: ${short}` : ""}`,
          status,
          excerpt,
        );
      }
      const result: HttpJobResponse = { status, excerpt };
      options.onResponse?.(result, ctx);
      return result;
    },
  );
}
