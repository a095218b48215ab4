/**
 * Refusals as RFC 9457 problem details (`application/problem+json`): the HTTP status, the
 * library's stable error code, the field at fault and, where it is safe to echo, its value.
 */

import { TickerQError } from "../errors.js";
import { statusOfError } from "../web/error-status.js";

export const PROBLEM_TYPE = "application/problem+json";

export interface Problem {
  /** A URI naming the kind of problem: `urn:tickerq:error:<code>`. */
  type: string;
  title: string;
  status: number;
  detail: string;
  /** The library's error code (TickerQError.code) or the API's own (UNAUTHORIZED, FORBIDDEN, …). */
  code: string;
  /** The input at fault: a body path (`jobs[1].function`), a query parameter or a header name. */
  field?: string;
  /** The value at fault, when it is not a secret. */
  value?: unknown;
}

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** An API refusal with its status; thrown by routes and guards, answered by `problemResponse`. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly value?: unknown,
  ) {
    super(message);
  }
}

/** Errors of a node that cannot serve now: the client may retry later. */
const UNAVAILABLE = new Set(["STORE_UNAVAILABLE", "STORE_CLOSED", "STOPPED", "NOT_STARTED", "SHUTDOWN"]);

export function toProblem(error: unknown): Problem | null {
  if (error instanceof ApiProblem) {
    return problem(error.status, error.code, error.message, error.field, error.value);
  }
  if (error instanceof TickerQError && UNAVAILABLE.has(error.code)) {
    return problem(503, error.code, error.message, error.field);
  }
  // The mapping of library codes to statuses the dashboard uses too, so both answer a code alike.
  const status = statusOfError(error);
  if (status === null) return null;
  const known = error as TickerQError;
  return problem(status, known.code, known.message, known.field);
}

export function problem(status: number, code: string, detail: string, field?: string, value?: unknown): Problem {
  const body: Problem = { type: `urn:tickerq:error:${code}`, title: TITLES[status] ?? "Error", status, detail, code };
  if (field !== undefined) body.field = field;
  if (value !== undefined) body.value = value;
  return body;
}

export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { "content-type": PROBLEM_TYPE, "cache-control": "no-store", ...headers },
  });
}

/** The answer for anything a route threw: a problem, or a 500 that shows no internals. */
export function errorProblem(error: unknown): { body: Problem; internal: boolean } {
  const known = toProblem(error);
  if (known) return { body: known, internal: false };
  return { body: problem(500, "INTERNAL", "internal error; see the server log"), internal: true };
}
