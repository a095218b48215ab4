/**
 * How slow the store has been lately, for the engine's leads: a job due at a known instant is
 * claimed `lookaheadMs` before it and its start is written a moment before it, and both have to
 * be done by then. While the database answers in a few milliseconds the configured leads hold
 * unchanged; when it stalls (a checkpoint flushing its files, a lock, a busy disk) a claim or a
 * start write can take hundreds, and every job due meanwhile would start that late. So the
 * longest recent claim or start write is kept, halving every HALF_LIFE_MS, and a lead grows to a
 * multiple of it (never past MAX_LEAD_MS): after the first slow write, the next jobs are claimed
 * and started early enough. Durations are measured on the engine's clock. Off with the
 * `adaptiveLookahead` option (and by default with a test clock, whose time moves on while a
 * real database answers).
 */

import type { Clock } from "./clock.js";

/** A slow write is remembered at half its weight after this long (ms). */
export const HALF_LIFE_MS = 5_000;
/** No lead grows past this: a job is never claimed or started more than this far ahead of its instant. */
export const MAX_LEAD_MS = 1_000;

export class StoreLag {
  private peak = 0;
  private peakAt = 0;

  /** `enabled` false (the adaptiveLookahead option): every lead is its base. */
  constructor(
    private readonly clock: Clock,
    private readonly enabled = true,
  ) {}

  /** A claim or start write took `ms`. */
  record(ms: number): void {
    if (!this.enabled) return;
    const now = this.clock.now();
    this.peak = Math.max(ms, this.decayed(now));
    this.peakAt = now;
  }

  /** The longest recent write, decayed to now (ms). */
  private decayed(now: number): number {
    if (this.peak === 0) return 0;
    return this.peak * 0.5 ** (Math.max(0, now - this.peakAt) / HALF_LIFE_MS);
  }

  /**
   * `base`, or `factor` times the recent slowest write when that is longer (up to MAX_LEAD_MS).
   * A base of 0 (no look-ahead asked for) stays 0.
   */
  lead(base: number, factor: number): number {
    if (base <= 0) return 0;
    const slow = Math.ceil(factor * this.decayed(this.clock.now()));
    return slow > base ? Math.min(MAX_LEAD_MS, slow) : base;
  }
}
