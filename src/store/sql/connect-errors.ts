/** Turns a driver's connection failure into STORE_UNAVAILABLE naming the database and where it was looked for. */

import { TickerQError } from "../../errors.js";

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
