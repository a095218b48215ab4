/**
 * Turns a driver's connection failure into STORE_UNAVAILABLE naming the database and where it
 * was looked for, and a call on a closed store into STORE_CLOSED. Ordinary SQL errors
 * (constraint violations, syntax) are not connection failures and pass through unchanged.
 */

import { TickerQError } from "../../errors.js";
import type { StoreLogger } from "../contract.js";

export interface Endpoint {
  host: string;
  port: number | string;
}

/** host and port from a URL-ish connection string, with the product's defaults. */
export function endpointOf(url: string | undefined, defaultPort: number): Endpoint {
  try {
    const parsed = new URL(url ?? "");
    return { host: parsed.hostname || "localhost", port: parsed.port || defaultPort };
  } catch {
    return { host: "localhost", port: defaultPort };
  }
}

export function unavailable(product: string, where: Endpoint, error: unknown): TickerQError {
  const reason =
    error instanceof Error ? error.message || (error as { code?: string }).code || error.name : String(error);
  return new TickerQError("STORE_UNAVAILABLE", `cannot reach ${product} at ${where.host}:${where.port}: ${reason}`, {
    cause: error,
  });
}

export function storeClosed(name: string, cause?: unknown): TickerQError {
  return new TickerQError("STORE_CLOSED", `the ${name} store is closed; create a new store to use it again`, {
    cause,
  });
}

/** Node's socket and DNS error codes: the server was not reached, or the connection broke. */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

export function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : "";
}

/** Whether `error` is a socket-level failure (its own code, or the code of an error it wraps). */
export function isSocketError(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (SOCKET_CODES.has(errorCode(e) ?? "")) return true;
  }
  return false;
}

/**
 * Logs a dropped idle connection at warn to the store's logger (`log()`, read at each drop),
 * once per burst: a server restart drops every pooled connection at once, and one line says
 * it. The next query opens a new connection.
 */
export function dropLogger(
  product: string,
  where: Endpoint,
  log: () => StoreLogger,
  quietMs = 10_000,
): (error: unknown) => void {
  let quietUntil = 0;
  return (error) => {
    const now = Date.now();
    if (now >= quietUntil) {
      const reason = errorMessage(error) || errorCode(error) || String(error);
      log().warn(
        { store: product, host: where.host, port: where.port, reason, connection: "dropped" },
        `tickerq: ${product} connection to ${where.host}:${where.port} dropped (${reason}); the next query reconnects`,
      );
    }
    quietUntil = now + quietMs;
  };
}
