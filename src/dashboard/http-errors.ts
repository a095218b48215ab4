/** Turns engine errors into HTTP answers: status, stable code, message and the field at fault. */

import type { Context } from "hono";
import type { TickerQError } from "../errors.js";
import { statusOfError } from "../web/error-status.js";

export interface ApiError {
  code: string;
  message: string;
  /** The input field the message is about (e.g. "expression", "children[0].function"), for forms. */
  field?: string;
}

/** An error raised by the dashboard itself with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function toApiError(error: unknown): { status: number; body: { error: ApiError } } | null {
  if (error instanceof HttpError) {
    const body: ApiError = { code: error.code, message: error.message };
    if (error.field) body.field = error.field;
    return { status: error.status, body: { error: body } };
  }
  const status = statusOfError(error);
  if (status !== null) {
    const known = error as TickerQError;
    const body: ApiError = { code: known.code, message: known.message };
    if (known.field !== undefined) body.field = known.field;
    return { status, body: { error: body } };
  }
  return null;
}

/** The answer for any thrown error; unknown errors become a 500 without internals. */
export function errorResponse(c: Context, error: unknown): Response {
  const known = toApiError(error);
  if (known) return c.json(known.body, known.status as 400);
  return c.json({ error: { code: "INTERNAL", message: "internal error; see the server log" } }, 500);
}

export function notFound(what: string, id: string): HttpError {
  return new HttpError(404, "NOT_FOUND", `${what} ${JSON.stringify(id)} does not exist`);
}
