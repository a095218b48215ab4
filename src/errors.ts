/** The errors tickerq throws: one class with a stable `code`, plus the handler's skip signal. */

export type TickerQErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_CRON"
  | "INVALID_TIME_ZONE"
  | "UNKNOWN_FUNCTION"
  | "INVALID_REQUEST"
  | "REQUEST_TOO_LARGE"
  | "NOT_FOUND"
  | "INVALID_STATE"
  | "NOT_STARTED"
  | "ALREADY_STARTED"
  /** The node was stopped (or stopped while starting); a stopped node takes no more calls and does not start again. */
  | "STOPPED"
  | "STORE_UNAVAILABLE"
  | "SCHEMA_TOO_NEW"
  | "CANCELLED"
  | "SHUTDOWN";

export class TickerQError extends Error {
  override readonly name = "TickerQError";
  readonly code: TickerQErrorCode;

  constructor(code: TickerQErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * Thrown by a handler to end its run as Skipped rather than Failed: the work is deliberately
 * not done and must not be retried.
 */
export class TerminateExecutionError extends Error {
  override readonly name = "TerminateExecutionError";

  constructor(message = "execution terminated by the handler") {
    super(message);
  }
}

/** Renders a value for an error message: short, quoted when a string. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return `[${value.map(show).join(", ")}]`;
  try {
    return String(JSON.stringify(value) ?? value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function invalid(field: string, value: unknown, expected: string): TickerQError {
  return new TickerQError("INVALID_ARGUMENT", `${field} must be ${expected}; got ${show(value)}`);
}
