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
  /** The store was closed (`close()`, or the TickerQ that owned it stopped); it takes no more calls. */
  | "STORE_CLOSED"
  | "SCHEMA_TOO_NEW"
  | "CANCELLED"
  | "SHUTDOWN"
  | "LEASE_LOST"
  /** A middleware broke its contract (returned without calling next(), or called it twice). */
  | "MIDDLEWARE";

export class TickerQError extends Error {
  override readonly name = "TickerQError";
  readonly code: TickerQErrorCode;
  /**
   * The input field at fault, as a path (`executionTime`, `children[0].function`, `metadata`),
   * when the error is about one; forms and the dashboard's API answer with it.
   */
  readonly field: string | undefined;

  constructor(code: TickerQErrorCode, message: string, options?: { cause?: unknown; field?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
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

const SHOW_MAX = 80;

/**
 * Renders a value for an error message: short, quoted when a string. Safe for any value a
 * caller can pass: it never calls toJSON, reads only a few elements and keys, stops two
 * levels down, and a getter or Proxy trap that throws only makes it say less.
 */
export function show(value: unknown): string {
  let text: string;
  try {
    text = render(value, 2);
  } catch {
    text = "a value that cannot be shown";
  }
  return text.length > SHOW_MAX ? `${text.slice(0, SHOW_MAX - 3)}...` : text;
}

function render(value: unknown, depth: number): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > SHOW_MAX ? `${value.slice(0, SHOW_MAX - 3)}...` : value);
    case "bigint":
      return `${value}n`;
    case "symbol":
      return value.toString();
    case "function":
      return "a function";
    case "object":
      break;
    default:
      return String(value);
  }
  if (value === null) return "null";
  if (Array.isArray(value)) {
    if (depth === 0) return "[...]";
    const items: string[] = [];
    let length = 0;
    for (let i = 0; i < value.length && length < SHOW_MAX; i++) {
      const item = render(value[i], depth - 1);
      items.push(item);
      length += item.length + 2;
    }
    if (items.length < value.length) items.push("...");
    return `[${items.join(", ")}]`;
  }
  const kind = objectKind(value);
  if (kind === "Date") {
    const time = Date.prototype.getTime.call(value);
    return Number.isNaN(time) ? "Invalid Date" : new Date(time).toISOString();
  }
  if (kind !== null) return `a ${kind}`;
  if (depth === 0) return "{...}";
  const keys = Object.keys(value);
  const entries: string[] = [];
  let length = 0;
  for (let i = 0; i < keys.length && length < SHOW_MAX; i++) {
    const entry = `${JSON.stringify(keys[i])}:${render((value as Record<string, unknown>)[keys[i]!], depth - 1)}`;
    entries.push(entry);
    length += entry.length + 1;
  }
  if (entries.length < keys.length) entries.push("...");
  return `{${entries.join(",")}}`;
}

/**
 * What kind of object `value` is when it is not a plain object or array: "Map", "Date",
 * "RegExp", a class's name... null for a plain object (its prototype Object.prototype or
 * null, from any realm) and for an array. May throw on a hostile Proxy.
 */
export function objectKind(value: object): string | null {
  if (Array.isArray(value)) return null;
  const proto: unknown = Object.getPrototypeOf(value);
  const tag = Object.prototype.toString.call(value).slice(8, -1);
  const plainProto = proto === null || proto === Object.prototype || Object.getPrototypeOf(proto) === null;
  if (tag !== "Object") return tag === "Error" ? errorName(value) : tag;
  if (plainProto) return null;
  const ctor: unknown = (proto as { constructor?: unknown }).constructor;
  const name = typeof ctor === "function" ? (ctor as { name?: unknown }).name : undefined;
  return typeof name === "string" && name !== "" && name !== "Object"
    ? `${name.slice(0, 40)} instance`
    : "object with its own prototype";
}

function errorName(value: object): string {
  const name = (value as { name?: unknown }).name;
  return typeof name === "string" && /^[A-Za-z]{1,40}$/.test(name) ? name : "Error";
}

/** A batch of jobs refused for an id it repeats or that is stored already; nothing of it was inserted. */
export function duplicateId(
  id: string,
  how: "appears twice in the batch" | "already exists",
  cause?: unknown,
): TickerQError {
  return new TickerQError("INVALID_ARGUMENT", `id ${JSON.stringify(id)} ${how}; nothing was inserted`, {
    field: "id",
    ...(cause === undefined ? {} : { cause }),
  });
}

export function invalid(field: string, value: unknown, expected: string): TickerQError {
  return new TickerQError("INVALID_ARGUMENT", `${field} must be ${expected}; got ${show(value)}`, { field });
}
