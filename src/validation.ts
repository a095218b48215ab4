/**
 * Checks of what callers pass in. Each throws a TickerQError naming the field and the value,
 * at the call that received it, before anything is stored.
 */

import { invalid, show, TickerQError } from "./errors.js";
import { PRIORITIES, RUN_CONDITIONS, type Priority, type RunCondition } from "./lifecycle.js";
import type { RequestSchema } from "./functions.js";

export function validateRetries(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 1000) {
    throw invalid(field, value, "an integer from 0 to 1000");
  }
  return value;
}

export function validateRetryIntervals(field: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw invalid(field, value, "an array of seconds");
  value.forEach((seconds, i) => {
    if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
      throw invalid(`${field}[${i}]`, seconds, "a finite number of seconds, 0 or more");
    }
  });
  return [...value];
}

/** Accepts a Date, an ISO-8601 string or epoch milliseconds. */
export function validateDate(field: string, value: unknown): Date {
  const date =
    value instanceof Date ? value : typeof value === "string" || typeof value === "number" ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime())) throw invalid(field, value, "a valid Date");
  return new Date(date.getTime());
}

export function validatePriority(field: string, value: unknown): Priority {
  if (!PRIORITIES.includes(value as Priority)) throw invalid(field, value, `one of ${PRIORITIES.join(", ")}`);
  return value as Priority;
}

export function validateRunCondition(field: string, value: unknown): RunCondition {
  if (!RUN_CONDITIONS.includes(value as RunCondition)) {
    throw invalid(field, value, `one of ${RUN_CONDITIONS.join(", ")}`);
  }
  return value as RunCondition;
}

export function validateText(field: string, value: unknown, max = 2000): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "string" || value.length > max)
    throw invalid(field, value, `a string of at most ${max} characters`);
  return value;
}

export function validateId(field: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 100) {
    throw invalid(field, value, "a non-empty id string");
  }
  return value;
}

/** A value in a request that JSON cannot carry faithfully, with the keys leading to it, innermost first. */
interface Unserializable {
  problem: string;
  keys: (string | number)[];
}

/**
 * The first value under `node` that JSON.stringify would drop, change or choke on, or null.
 * The path is collected only on the way out of a failure, so a valid request builds no strings.
 */
function findUnserializable(node: unknown, ancestors: object[]): Unserializable | null {
  switch (typeof node) {
    case "bigint":
    case "function":
    case "symbol":
      return { problem: `is a ${typeof node} (${show(node)}), which JSON cannot carry`, keys: [] };
    case "number":
      return Number.isFinite(node) ? null : { problem: `is ${node}, which JSON cannot carry`, keys: [] };
    case "object": {
      if (node === null || node instanceof Date) return null;
      if (ancestors.includes(node)) return { problem: "refers back to itself (a cycle)", keys: [] };
      if (typeof (node as { toJSON?: unknown }).toJSON === "function") return null;
      ancestors.push(node);
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          const found = findUnserializable(node[i], ancestors);
          if (found) {
            found.keys.push(i);
            return found;
          }
        }
      } else {
        for (const key of Object.keys(node)) {
          const found = findUnserializable((node as Record<string, unknown>)[key], ancestors);
          if (found) {
            found.keys.push(key);
            return found;
          }
        }
      }
      ancestors.pop();
      return null;
    }
    default:
      return null;
  }
}

/**
 * The request as JSON text. Refuses what JSON cannot carry faithfully, naming where it is:
 * cycles, BigInt, functions, symbols, non-finite numbers; and text over `maxBytes`.
 */
export function serializeRequest(field: string, value: unknown, maxBytes: number): string | null {
  if (value === undefined) return null;
  const found = findUnserializable(value, []);
  if (found) {
    const path = found.keys.reduceRight<string>(
      (at, key) => (typeof key === "number" ? `${at}[${key}]` : `${at}.${key}`),
      field,
    );
    throw new TickerQError("INVALID_REQUEST", `${path} ${found.problem}`);
  }
  const text = JSON.stringify(value);
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so short text needs no count.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) {
      throw new TickerQError(
        "REQUEST_TOO_LARGE",
        `${field} is ${bytes} bytes as JSON, over the limit of ${maxBytes} (option maxRequestBytes)`,
      );
    }
  }
  return text;
}

/** Runs a Standard Schema; returns its output or throws INVALID_REQUEST listing the issues. */
export async function applySchema(field: string, schema: RequestSchema, value: unknown): Promise<unknown> {
  const result = await schema["~standard"].validate(value);
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
  throw new TickerQError("INVALID_REQUEST", `${field} fails its schema: ${issues} (value ${show(value)})`);
}
