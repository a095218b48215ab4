/**
 * Checks of what callers pass in. Each throws a TickerQError naming the field and the value,
 * at the call that received it, before anything is stored.
 */

import { invalid, objectKind, show, TickerQError } from "./errors.js";
import {
  PRIORITIES,
  RUN_CONDITIONS,
  TICKER_STATUSES,
  type Priority,
  type RunCondition,
  type TickerStatus,
} from "./lifecycle.js";
import type { RequestSchema } from "./functions.js";
import { MAX_RETRY_INTERVAL_SECONDS } from "./retry.js";

export function validateRetries(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 1000) {
    throw invalid(field, value, "an integer from 0 to 1000");
  }
  return value;
}

export function validateRetryIntervals(field: string, value: unknown): number[] {
  if (!read(field, () => Array.isArray(value))) throw invalid(field, value, "an array of seconds");
  const array = value as readonly unknown[];
  const length = read(field, () => array.length);
  if (length > MAX_RETRY_INTERVALS) throw invalid(field, value, `an array of at most ${MAX_RETRY_INTERVALS} intervals`);
  const intervals: number[] = [];
  for (let i = 0; i < length; i++) {
    const seconds: unknown = read(`${field}[${i}]`, () => array[i]);
    if (
      typeof seconds !== "number" ||
      !Number.isFinite(seconds) ||
      seconds < 0 ||
      seconds > MAX_RETRY_INTERVAL_SECONDS
    ) {
      throw invalid(
        `${field}[${i}]`,
        seconds,
        `a number of seconds from 0 to ${MAX_RETRY_INTERVAL_SECONDS} (one year)`,
      );
    }
    intervals.push(seconds);
  }
  return intervals;
}

/** One interval per retry at most: more could never be used (retries go to 1000). */
const MAX_RETRY_INTERVALS = 1000;

/** YYYY-MM-DD (or ±YYYYYY-MM-DD, as toISOString writes far years), then optionally Thh:mm[:ss[.fraction]] and Z or ±hh:mm. */
const ISO_DATE =
  /^(\d{4}|[+-]\d{6})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))?)?$/;

/**
 * Accepts a Date, epoch milliseconds, or an ISO 8601 string with a real calendar date
 * (`2024-02-29`, `2024-02-29T10:00:00Z`, `2024-02-29T10:00+01:00`; a date alone is UTC
 * midnight, a time without an offset is the process's local time, as in JavaScript).
 * Loose strings that `new Date()` would guess at (`"1"`, `"foo 2020"`, `"2024-02-30"`) are refused.
 */
export function validateDate(field: string, value: unknown): Date {
  let time = Number.NaN;
  if (typeof value === "number") time = new Date(value).getTime();
  else if (typeof value === "string") time = isoTime(value);
  else if (typeof value === "object" && value !== null) {
    try {
      time = Date.prototype.getTime.call(value);
    } catch {
      // not a Date: refused below
    }
  }
  if (Number.isNaN(time)) {
    throw invalid(
      field,
      value,
      typeof value === "string"
        ? "an ISO 8601 date with a real calendar date, such as 2030-01-31 or 2030-01-31T09:00:00Z"
        : "a valid Date, epoch milliseconds or an ISO 8601 string",
    );
  }
  return new Date(time);
}

function isoTime(text: string): number {
  const match = ISO_DATE.exec(text);
  if (!match) return Number.NaN;
  const [, year, month, day, hour, minute, second, , offsetHour, offsetMinute] = match;
  if (year === "-000000") return Number.NaN;
  const y = Number(year);
  const m = Number(month);
  if (m < 1 || m > 12) return Number.NaN;
  const daysInMonth = DAYS_IN_MONTH[m - 1]! + (m === 2 && isLeapYear(y) ? 1 : 0);
  if (Number(day) < 1 || Number(day) > daysInMonth) return Number.NaN;
  if (Number(hour ?? 0) > 23 || Number(minute ?? 0) > 59 || Number(second ?? 0) > 59) return Number.NaN;
  if (Number(offsetHour ?? 0) > 23 || Number(offsetMinute ?? 0) > 59) return Number.NaN;
  // The form is checked; JavaScript's own parser reads it exactly (out-of-range years give NaN).
  return new Date(text).getTime();
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** `value` if it is one of `allowed`, else INVALID_ARGUMENT listing them. */
function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw invalid(field, value, `one of ${allowed.join(", ")}`);
  }
  return value as T;
}

export function validatePriority(field: string, value: unknown): Priority {
  return oneOf(field, value, PRIORITIES);
}

export function validateRunCondition(field: string, value: unknown): RunCondition {
  return oneOf(field, value, RUN_CONDITIONS);
}

/** A function's name: what defineFunction() accepts, and what a list may filter by. */
export function validateFunctionName(field: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > 200) {
    throw invalid(field, value, "a non-empty string of at most 200 characters");
  }
  return validateUnicode(field, value);
}

export function validateText(field: string, value: unknown, max = 2000): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.length > max)
    throw invalid(field, value, `a string of at most ${max} characters`);
  return validateUnicode(field, value);
}

export function validateId(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 100) {
    throw invalid(field, value, "a non-empty id string");
  }
  return validateUnicode(field, value);
}

/** A UTF-16 surrogate not paired with its other half: in `u` mode a pair is one code point outside this range. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * Refuses text with a lone UTF-16 surrogate. It is not Unicode: a database stores it as
 * U+FFFD (so the row would no longer match what add() returned) and UTF-8 cannot encode it.
 * Refuses NUL (U+0000) too, which PostgreSQL's text cannot hold at all: every store keeps
 * the same texts.
 */
export function validateUnicode(field: string, value: string): string {
  const at = value.search(LONE_SURROGATE);
  if (at >= 0) {
    const unit = value.charCodeAt(at).toString(16).toUpperCase();
    throw invalid(field, value, `well-formed Unicode text; it has a lone surrogate U+${unit} at index ${at}`);
  }
  const nul = value.indexOf("\0");
  if (nul >= 0)
    throw invalid(field, value, `text without NUL (U+0000), which PostgreSQL cannot store; it has one at index ${nul}`);
  return value;
}

/**
 * NUL and lone surrogates, which validateUnicode() refuses at the call that received them
 * (with the u flag, as LONE_SURROGATE, a well-formed pair is one code point and never matches).
 */
const UNSTORABLE = /[\0\uD800-\uDFFF]/gu;

/**
 * Text the engine writes that nobody validated (a handler error's message and stack), made
 * storable as validateUnicode() would have it: a lone surrogate or a NUL becomes U+FFFD. On
 * PostgreSQL either one failed the write of every completion in the batch, again and again.
 */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, "\uFFFD");
}

/** What a list call may filter and sort by, as checked by validateListQuery(). */
export interface ListQuery {
  status?: TickerStatus | TickerStatus[];
  function?: string;
  parentId?: string | null;
  cronTickerId?: string;
  from?: Date;
  to?: Date;
  search?: string;
  orderBy?: "executionTime" | "updatedAt" | "createdAt";
  order?: "asc" | "desc";
  offset?: number;
  enabled?: boolean;
}

const ORDER_BY = ["executionTime", "updatedAt", "createdAt"] as const;
const ORDERS = ["asc", "desc"] as const;

/**
 * The filters of a list call (time tickers, cron tickers, occurrences), each checked and named
 * in its error: unchecked, a `from` that was not a Date failed inside the SQL store, where a
 * second query already in flight was left with an unhandled rejection that ended the process.
 * Returns only the fields given.
 */
export function validateListQuery(query: unknown): ListQuery {
  if (query === undefined) return {};
  if (typeof query !== "object" || query === null || Array.isArray(query)) {
    throw invalid("query", query, "an object of filters");
  }
  const q = query as Record<string, unknown>;
  const out: ListQuery = {};
  if (q.status !== undefined) {
    out.status = Array.isArray(q.status)
      ? q.status.map((status, i) => oneOf(`status[${i}]`, status, TICKER_STATUSES))
      : oneOf("status", q.status, TICKER_STATUSES);
  }
  if (q.function !== undefined) out.function = validateFunctionName("function", q.function);
  if (q.parentId !== undefined) out.parentId = q.parentId === null ? null : validateId("parentId", q.parentId);
  if (q.cronTickerId !== undefined) out.cronTickerId = validateId("cronTickerId", q.cronTickerId);
  if (q.from !== undefined) out.from = validateDate("from", q.from);
  if (q.to !== undefined) out.to = validateDate("to", q.to);
  if (q.search !== undefined) {
    const search = validateText("search", q.search, 500);
    if (search) out.search = search;
  }
  if (q.orderBy !== undefined) out.orderBy = oneOf("orderBy", q.orderBy, ORDER_BY);
  if (q.order !== undefined) out.order = oneOf("order", q.order, ORDERS);
  if (q.offset !== undefined) {
    if (typeof q.offset !== "number" || !Number.isSafeInteger(q.offset) || q.offset < 0) {
      throw invalid("offset", q.offset, "an integer from 0");
    }
    out.offset = q.offset;
  }
  if (q.enabled !== undefined) {
    if (typeof q.enabled !== "boolean") throw invalid("enabled", q.enabled, "true or false");
    out.enabled = q.enabled;
  }
  return out;
}

/**
 * The named fields of the caller's object, each read once (see `read`); absent ones stay
 * absent, so `"request" in fields` still tells "cleared" from "not given". `prefix` leads
 * each field's name in errors, such as `tickers[2].`.
 */
export function readFields<K extends string>(
  prefix: string,
  input: object,
  names: readonly K[],
): Partial<Record<K, unknown>> {
  const fields: Partial<Record<K, unknown>> = {};
  for (const name of names) {
    if (read(`${prefix}${name}`, () => name in input)) {
      fields[name] = read(`${prefix}${name}`, () => (input as Record<string, unknown>)[name]);
    }
  }
  return fields;
}

/**
 * Reads a field of the caller's object; a getter or Proxy trap that throws becomes an
 * INVALID_ARGUMENT naming the field, and the value read is the one used (read once).
 */
export function read<T>(field: string, get: () => T): T {
  try {
    return get();
  } catch (error) {
    throw new TickerQError("INVALID_ARGUMENT", `${field} could not be read (${describeError(error)})`, {
      cause: error,
      field,
    });
  }
}

/** How deep a request may nest objects and arrays. */
export const MAX_REQUEST_DEPTH = 64;

/** Why a request is refused, with the keys leading to the value at fault. */
class Refusal {
  constructor(
    readonly code: "INVALID_REQUEST" | "REQUEST_TOO_LARGE",
    readonly problem: string,
    readonly keys: readonly (string | number)[],
    readonly cause?: unknown,
  ) {}
}

/**
 * One pass over a request as JSON.stringify would make it (toJSON called once, with its key),
 * building a copy made only of what JSON carries: null-prototype objects, arrays, strings,
 * finite numbers, booleans and null. What was checked is what is stored, even when a getter
 * or toJSON would answer differently the next time. Refuses, naming where: BigInt, functions,
 * symbols, non-finite numbers, undefined in an array, cycles, nesting deeper than
 * MAX_REQUEST_DEPTH, objects that are not plain (Map, Set, RegExp, Error, typed arrays, class
 * instances without toJSON), an Invalid Date, a toJSON that throws or returns what JSON
 * cannot carry, and a getter or Proxy trap that throws. `bytes` is a lower bound on the JSON's
 * size, so an enormous value is refused before it is copied whole.
 */
class RequestCopier {
  private readonly keys: (string | number)[] = [];
  private readonly ancestors: object[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  copy(value: unknown, key: string): unknown {
    if (typeof value === "object" && value !== null) value = this.toJSON(value, key);
    switch (typeof value) {
      case "string":
        this.count(value.length + 2);
        return value;
      case "number":
        if (!Number.isFinite(value)) throw this.refuse(`is ${value}, which JSON cannot carry`);
        this.count(1);
        return value;
      case "boolean":
        this.count(4);
        return value;
      case "object":
        if (value === null) {
          this.count(4);
          return null;
        }
        return this.copyContainer(value);
      default:
        throw this.refuse(`is ${kindOf(value)} (${show(value)}), which JSON cannot carry`);
    }
  }

  /** The value JSON.stringify would serialise in place of `value`: its toJSON() result, if it has one. */
  private toJSON(value: object, key: string): unknown {
    const kind = this.guard(() => objectKind(value));
    if (kind === "Date" && Number.isNaN(this.guard(() => Date.prototype.getTime.call(value)))) {
      throw this.refuse("is an Invalid Date, which JSON stores as null");
    }
    if (this.guard(() => ArrayBuffer.isView(value))) {
      throw this.refuse(`is a ${kind ?? "typed array"}; send its bytes as a base64 string or an array of numbers`);
    }
    const toJSON = this.guard(() => (value as { toJSON?: unknown }).toJSON);
    if (typeof toJSON !== "function") return value;
    let result: unknown;
    try {
      result = (toJSON as (key: string) => unknown).call(value, key);
    } catch (error) {
      throw this.refuse(`has a toJSON() that threw (${describeError(error)})`, error);
    }
    const type = typeof result;
    if (result === undefined || type === "function" || type === "symbol" || type === "bigint") {
      throw this.refuse(`has a toJSON() that returned ${kindOf(result)}, which JSON cannot carry`);
    }
    return result;
  }

  private copyContainer(value: object): unknown {
    if (this.ancestors.includes(value)) throw this.refuse("refers back to itself (a cycle)");
    if (this.ancestors.length >= MAX_REQUEST_DEPTH) {
      throw this.refuse(`is nested more than ${MAX_REQUEST_DEPTH} levels deep`);
    }
    const kind = this.guard(() => objectKind(value));
    if (kind !== null) {
      throw this.refuse(
        `is a ${kind}, which JSON cannot carry (only plain objects, arrays, JSON values, and Dates as ISO strings)`,
      );
    }
    this.ancestors.push(value);
    const result = this.guard(() => Array.isArray(value))
      ? this.copyArray(value as readonly unknown[])
      : this.copyObject(value as Record<string, unknown>);
    this.ancestors.pop();
    return result;
  }

  private copyArray(array: readonly unknown[]): unknown[] {
    const length = this.guard(() => array.length);
    this.count(2 + Math.max(0, length - 1));
    const copy = new Array<unknown>(length);
    for (let i = 0; i < length; i++) {
      this.keys.push(i);
      const item = this.guard(() => array[i]);
      if (item === undefined) throw this.refuse("is undefined, which JSON stores as null in an array");
      copy[i] = this.copy(item, String(i));
      this.keys.pop();
    }
    return copy;
  }

  private copyObject(object: Record<string, unknown>): Record<string, unknown> {
    const keys = this.guard(() => Object.keys(object));
    this.count(2 + Math.max(0, keys.length - 1));
    // No prototype: a key named "__proto__" is then an ordinary key, as it is in JSON.
    const copy = Object.create(null) as Record<string, unknown>;
    for (const key of keys) {
      this.keys.push(key);
      const item = this.guard(() => object[key]);
      // JSON leaves out a property whose value is undefined; so does the copy.
      if (item !== undefined) {
        this.count(key.length + 3);
        copy[key] = this.copy(item, key);
      }
      this.keys.pop();
    }
    return copy;
  }

  private count(bytes: number): void {
    this.bytes += bytes;
    if (this.bytes > this.maxBytes) {
      throw new Refusal(
        "REQUEST_TOO_LARGE",
        `is at least ${this.bytes} bytes as JSON, over the limit of ${this.maxBytes} (option maxRequestBytes)`,
        [],
      );
    }
  }

  /** Runs a read of the caller's value; a getter or Proxy trap that throws becomes a refusal. */
  private guard<T>(read: () => T): T {
    try {
      return read();
    } catch (error) {
      throw this.refuse(`could not be read (${describeError(error)})`, error);
    }
  }

  private refuse(problem: string, cause?: unknown): Refusal {
    return new Refusal("INVALID_REQUEST", problem, [...this.keys], cause);
  }
}

function kindOf(value: unknown): string {
  if (value === undefined) return "undefined";
  const type = typeof value;
  return type === "object" ? "an object" : `a ${type}`;
}

/** A thrown value's message for an error message, safe whatever was thrown. */
function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return show(String(error.message)).slice(1, -1) || error.name;
  } catch {
    // a hostile error object: fall through to show()
  }
  return show(error);
}

/** `request.items[3].name`; a key that is not an identifier is written as `["a key"]`. */
function pathOf(field: string, keys: readonly (string | number)[]): string {
  let path = field;
  for (const key of keys) {
    if (typeof key === "number") path += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]{0,39}$/.test(key)) path += `.${key}`;
    else path += `[${show(key)}]`;
  }
  return path;
}

/**
 * The request as JSON text, or null when absent. Refuses (INVALID_REQUEST, naming where)
 * what JSON cannot carry faithfully, and (REQUEST_TOO_LARGE) text over `maxBytes`.
 */
export function serializeRequest(field: string, value: unknown, maxBytes: number): string | null {
  if (value === undefined) return null;
  let copy: unknown;
  try {
    copy = new RequestCopier(maxBytes).copy(value, "");
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    const path = pathOf(field, error.keys);
    const message = error.code === "REQUEST_TOO_LARGE" ? `${field} ${error.problem}` : `${path} ${error.problem}`;
    const at = error.code === "REQUEST_TOO_LARGE" ? field : path;
    throw new TickerQError(error.code, message, { cause: error.cause, field: at });
  }
  const text = JSON.stringify(copy);
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so short text needs no count.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) {
      throw new TickerQError(
        "REQUEST_TOO_LARGE",
        `${field} is ${bytes} bytes as JSON, over the limit of ${maxBytes} (option maxRequestBytes)`,
        { field },
      );
    }
  }
  return text;
}

/** Runs a Standard Schema; returns its output or throws INVALID_REQUEST listing the issues. */
export async function applySchema(field: string, schema: RequestSchema, value: unknown): Promise<unknown> {
  let result: Awaited<ReturnType<RequestSchema["~standard"]["validate"]>>;
  try {
    result = await schema["~standard"].validate(value);
  } catch (error) {
    throw new TickerQError(
      "INVALID_REQUEST",
      `${field} could not be checked: its schema threw (${describeError(error)})`,
      { cause: error, field },
    );
  }
  if (!result.issues) return result.value;
  const issues = result.issues
    .slice(0, 5)
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => (typeof p === "object" && p !== null && "key" in p ? (p as { key: unknown }).key : p))
        .map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`))
        .join("");
      return `${field}${path}: ${issue.message}`;
    })
    .join("; ");
  throw new TickerQError("INVALID_REQUEST", `${field} fails its schema: ${issues} (value ${show(value)})`, { field });
}
