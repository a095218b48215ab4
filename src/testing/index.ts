/**
 * tickerq/testing: run schedules without waiting. A TestClock replaces the system clock, and
 * runDue() runs everything due at the clock's current time to completion.
 *
 *   const clock = new TestClock("2026-01-01T08:00:00Z");
 *   const tq = createTickerQ({ functions, clock });
 *   await tq.start();
 *   await clock.advance(60 * 60_000);   // 09:00
 *   await runDue(tq);                   // the 9 AM jobs have run
 */

import type { Clock } from "../clock.js";
import { ENGINE, type TickerQ } from "../tickerq.js";

interface Timer {
  at: number;
  seq: number;
  callback: () => void;
}

/** A clock that moves only when told to. Timers fire in order as time passes them. */
export class TestClock implements Clock {
  private current: number;
  private timers = new Map<number, Timer>();
  private seq = 0;

  constructor(start: Date | string | number = Date.now()) {
    this.current = new Date(start).getTime();
    if (Number.isNaN(this.current)) throw new TypeError(`TestClock start must be a valid date; got ${String(start)}`);
  }

  now(): number {
    return this.current;
  }

  /** The current time as a Date. */
  get date(): Date {
    return new Date(this.current);
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.current + Math.max(0, ms), seq: id, callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing each timer at its own instant, oldest first, including
   * the node's safety polls and heartbeats on the way: for jumps of days, give the node long
   * `pollIntervalMs` and `heartbeatIntervalMs` so the jump stays quick.
   */
  async advance(ms: number): Promise<void> {
    await this.set(this.current + ms);
  }

  /** Moves time forward to `to`. */
  async set(to: Date | string | number): Promise<void> {
    const target = new Date(to).getTime();
    if (Number.isNaN(target) || target < this.current) {
      throw new RangeError(
        `TestClock only moves forward: ${String(to)} is before ${new Date(this.current).toISOString()}`,
      );
    }
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.at <= target && (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq)))
          next = timer;
      }
      if (!next) break;
      this.timers.delete(next.seq);
      this.current = Math.max(this.current, next.at);
      next.callback();
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.current = target;
  }

  /** How many timers are pending (for tests of the engine itself). */
  get pendingTimers(): number {
    return this.timers.size;
  }
}

/**
 * Claims and runs everything due at the node's current clock time, including retries and
 * children that become due on the way, and waits for their results to be stored.
 * Returns how many attempts ran.
 */
export function runDue(tq: TickerQ<any>): Promise<number> {
  return tq[ENGINE].runDue();
}

/** Waits until the node has no claim, run or write in flight. */
export function settle(tq: TickerQ<any>): Promise<void> {
  return tq[ENGINE].settle();
}

/**
 * Runs one heartbeat of the node now and waits for it: its liveness record, lease recovery of
 * dead nodes, operator pause requests and retention.
 */
export function heartbeat(tq: TickerQ<any>): Promise<void> {
  return tq[ENGINE].heartbeat();
}
