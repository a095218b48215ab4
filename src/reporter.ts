/**
 * How the engine reports what goes wrong while it carries on: every error goes to the
 * `error` event and the logger, except the store being unreachable, which is one line when
 * an outage starts and one when the store answers again, however many calls failed between.
 */

import { TickerQError } from "./errors.js";
import type { TickerQEvents } from "./events.js";
import type { Clock } from "./clock.js";
import type { Log, LogFields } from "./log.js";

/** Whether `error` says the store could not be reached (rather than refusing a statement). */
export function isUnavailable(error: unknown): boolean {
  return error instanceof TickerQError && error.code === "STORE_UNAVAILABLE";
}

export class Reporter {
  /** When the current outage began (engine clock), or null while the store answers. */
  private outageSince: number | null = null;

  constructor(
    private readonly nodeId: string,
    private readonly clock: Clock,
    readonly log: Log,
    private readonly events: TickerQEvents,
  ) {}

  get inOutage(): boolean {
    return this.outageSince !== null;
  }

  /** A failure while doing `during`; store outages are reported once. */
  error(error: unknown, during: string): void {
    if (isUnavailable(error)) return this.unreachable(error, during);
    const message = error instanceof Error ? error.message : String(error);
    this.log.error({ nodeId: this.nodeId, during, err: error }, `[tickerq ${this.nodeId}] ${during}: ${message}`);
    this.events.emit("error", { error, during, nodeId: this.nodeId });
  }

  /** The store did not answer: the first such failure of an outage is reported, the rest are not. */
  unreachable(error: unknown, during: string): void {
    if (this.outageSince !== null) return;
    this.outageSince = this.clock.now();
    const message = error instanceof Error ? error.message : String(error);
    this.warn(
      `[tickerq ${this.nodeId}] store unreachable (${during}): ${message}; retrying, no new claims until it answers`,
      { during, err: error, outage: "start" },
    );
    this.events.emit("error", { error, during, nodeId: this.nodeId });
  }

  /** The store answered this node's heartbeat again. */
  reachable(): void {
    if (this.outageSince === null) return;
    const ms = this.clock.now() - this.outageSince;
    this.outageSince = null;
    this.warn(`[tickerq ${this.nodeId}] store reachable again after ${ms} ms`, { outage: "end", outageMs: ms });
  }

  /** A recovery or an outage: logged at warn with the node's id and `fields`. */
  warn(message: string, fields: LogFields = {}): void {
    this.log.warn({ nodeId: this.nodeId, ...fields }, message);
  }
}
