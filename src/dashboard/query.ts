/** Reading and checking query-string and body values, with errors that name the parameter. */

import type { Context } from "hono";
import { TICKER_STATUSES, type TickerStatus } from "../lifecycle.js";
import { parsedBody } from "./guards.js";
import { HttpError } from "./http-errors.js";

export function queryDate(c: Context, name: string): Date | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  const date = new Date(/^\d+$/.test(value) ? Number(value) : value);
  if (Number.isNaN(date.getTime()))
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      `${name} must be an ISO date or epoch ms; got ${JSON.stringify(value)}`,
      name,
    );
  return date;
}

/** A text parameter, or undefined when absent or empty; a NUL (`%00`), which PostgreSQL cannot compare against, is a 400. */
export function queryText(c: Context, name: string): string | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  if (value.includes("\0")) {
    throw new HttpError(400, "INVALID_ARGUMENT", `${name} must be text without NUL (U+0000)`, name);
  }
  return value;
}

export function queryInt(c: Context, name: string, fallback: number, min: number, max: number): number {
  const value = c.req.query(name);
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      `${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}`,
      name,
    );
  }
  return n;
}

/** `status=Failed,Cancelled` (or repeated) → the statuses, each checked. */
export function queryStatuses(c: Context): TickerStatus[] | undefined {
  const raw = c.req
    .queries("status")
    ?.flatMap((v) => v.split(","))
    .filter((v) => v !== "");
  if (!raw || raw.length === 0) return undefined;
  for (const status of raw) {
    if (!(TICKER_STATUSES as readonly string[]).includes(status)) {
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `status must be among ${TICKER_STATUSES.join(", ")}; got ${JSON.stringify(status)}`,
        "status",
      );
    }
  }
  return raw as TickerStatus[];
}

export function queryEnum<T extends string>(c: Context, name: string, allowed: readonly T[]): T | undefined {
  const value = c.req.query(name);
  if (value === undefined || value === "") return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      `${name} must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`,
      name,
    );
  }
  return value as T;
}

/** The JSON body as an object; anything else is a 400 naming the body. */
export async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  // The body guard read and parsed it already (size and depth checked).
  let body: unknown = parsedBody(c);
  if (body === undefined) {
    try {
      body = await c.req.json();
    } catch {
      throw new HttpError(400, "INVALID_ARGUMENT", "the body must be a JSON object");
    }
  }
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new HttpError(400, "INVALID_ARGUMENT", "the body must be a JSON object");
  return body as Record<string, unknown>;
}

/** Refuses a key an edit does not take (400 naming it) rather than ignore it and act on the rest. */
export function onlyEditable(body: Record<string, unknown>, editable: readonly string[]): void {
  const unknown = Object.keys(body).find((key) => !editable.includes(key));
  if (unknown !== undefined)
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      `${unknown} cannot be changed; allowed: ${editable.join(", ")}`,
      unknown,
    );
}
