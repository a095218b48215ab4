/** Failed credentials per client, for the dashboard's sign-in and the API's keys and tokens. */

import type { Context } from "hono";

/** Who a request comes from, for throttling: the socket's address when mounted in Node. */
export function clientKey(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? "unknown";
}

/**
 * Failed sign-ins per client: after `free` failures each further one doubles the wait (from
 * one second up to a minute) before that client may try again; a success forgets them.
 */
export class LoginThrottle {
  private readonly clients = new Map<string, { failures: number; until: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly free = 5,
    private readonly maxWaitMs = 60_000,
  ) {}

  /** Ms to wait before this client may try again, or 0. */
  waitMs(key: string): number {
    const entry = this.clients.get(key);
    return entry ? Math.max(0, entry.until - this.now()) : 0;
  }

  failed(key: string): void {
    const entry = this.clients.get(key) ?? { failures: 0, until: 0 };
    entry.failures++;
    if (entry.failures > this.free)
      entry.until = this.now() + Math.min(this.maxWaitMs, 1000 * 2 ** (entry.failures - this.free - 1));
    this.clients.set(key, entry);
    // Bounded memory under a flood of addresses: the oldest entries go first.
    if (this.clients.size > 10_000) this.clients.delete(this.clients.keys().next().value!);
  }

  succeeded(key: string): void {
    this.clients.delete(key);
  }
}
