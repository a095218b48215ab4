/**
 * Cron planning: turns each enabled cron ticker into occurrence rows a little ahead of time.
 * Every node plans; the store's unique (cronTickerId, scheduledFor) key makes the duplicate
 * inserts of other nodes no-ops, so an occurrence is created once, and claimed once. An
 * instant counts as planned only once its insert has committed: a failed insert (the store
 * is down) is planned again at the next cycle, so an outage of the store loses no instant
 * while a node runs (each runs once, late). Missed instants while no node ran are not
 * replayed one by one: the occurrence already planned runs once, late.
 */

import { newId } from "./ids.js";
import { CronSchedule } from "./cron.js";
import type { CronTickerRecord, NewJob, Store } from "./store/contract.js";
import type { MiddlewareChain } from "./middleware.js";
import type { Coordinator } from "./coordinator.js";
import type { Log } from "./log.js";

interface Planned {
  record: CronTickerRecord;
  schedule: CronSchedule;
  /** The last instant planned (ms). */
  plannedUntil: number;
  /** Another node held its planning lock: ask again no sooner than this (its lease). */
  lockedUntil: number;
}

export class CronScheduler {
  private readonly tickers = new Map<string, Planned>();
  private stale = true;
  private lastLoad = Number.NEGATIVE_INFINITY;
  /** Whether the last load was made as the coordinator's sweeper (or without a healthy coordinator). */
  private loadedSweeping = false;

  constructor(
    private readonly store: Store,
    /** Plan instants up to this far ahead, so other nodes can claim them if this one dies. */
    private readonly horizonMs: number,
    /**
     * Reload tickers at least this often (changes on other processes without signals). With a
     * healthy coordinator, changes made through tickerq are announced: only its sweeper reloads,
     * every coordinator `pollIntervalMs`, and announces what it finds to the other nodes.
     */
    private readonly reloadEveryMs: number,
    /**
     * A ticker first seen here is planned from its last change, but from no further back than
     * this: long enough to cover how late a change made elsewhere can reach us, short enough
     * not to replay a long outage (missed instants run once, not once each).
     */
    private readonly catchUpMs: number,
    /** Enqueue middleware, which occurrences this node creates go through, and their debug lines. */
    private readonly enqueue: { chain: MiddlewareChain; nodeId: string; log: Log } | null = null,
    /**
     * With a coordinator, one node at a time plans each ticker (a lock per ticker with a lease
     * of half the horizon, renewed at each cycle): the others skip the duplicate inserts. The
     * unique key stays the guarantee; without an answer from the coordinator everyone plans.
     */
    private readonly coordinator: Coordinator | null = null,
  ) {}

  /** Cron tickers changed somewhere: reload before the next plan. */
  invalidate(): void {
    this.stale = true;
  }

  async ensure(now: number): Promise<void> {
    const sweeping = this.coordinator?.sweeps ?? true;
    // Becoming the sweeper, or losing the coordinator: what was announced meanwhile may be missed.
    if (sweeping && !this.loadedSweeping) this.stale = true;
    if (this.stale || now - this.lastLoad >= this.reloadInterval) {
      const periodic = !this.stale;
      const changed = await this.reload(now);
      this.loadedSweeping = sweeping;
      // A change no writer announced (a process without the coordinator): tell the others.
      if (changed && periodic && this.coordinator?.healthy) this.coordinator.announce({ type: "cron" });
    }
    const occurrences: NewJob[] = [];
    const cursors = new Map<Planned, number>();
    const createdAt = new Date(now);
    const held = await this.locks(now);
    for (const planned of this.tickers.values()) {
      if (held && !held.has(planned.record.id)) {
        // Another node plans it. Should it die, this node takes over when its lease lapses,
        // from a recent instant: what it planned (a horizon ahead) is in the store.
        planned.plannedUntil = Math.max(planned.plannedUntil, now - this.catchUpMs);
        if (planned.plannedUntil <= now + this.horizonMs) planned.lockedUntil = now + this.lockTtlMs;
        continue;
      }
      planned.lockedUntil = 0;
      let cursor = planned.plannedUntil;
      for (let i = 0; i < 1000; i++) {
        if (cursor > now + this.horizonMs) break;
        const next = planned.schedule.next(new Date(cursor));
        if (!next) break;
        occurrences.push(occurrenceOf(planned.record, next, createdAt));
        cursor = next.getTime();
      }
      cursors.set(planned, cursor);
    }
    if (occurrences.length > 0) {
      const debug = this.enqueue?.log.enabled("debug") ?? false;
      let ignored: readonly string[] = [];
      // Which occurrences were duplicates costs lookups: asked only when something reads it.
      const insert = async () =>
        (ignored = await this.duplicates(occurrences, await this.store.occurrenceInsertMany({ occurrences })));
      if (this.enqueue?.chain.wrapsEnqueue) await this.enqueue.chain.enqueue(occurrences, this.enqueue.nodeId, insert);
      else if (debug) await insert();
      else await this.store.occurrenceInsertMany({ occurrences });
      if (debug) this.logEnqueued(occurrences, ignored);
    }
    // Committed: only now are these instants planned.
    for (const [planned, cursor] of cursors) planned.plannedUntil = cursor;
  }

  /**
   * When the next plan is needed: the earliest last-planned instant less the horizon, or the
   * next reload of the tickers if sooner. A dispatcher told of due work by an index (not a
   * poll) must also wake for this, or a ticker whose planned occurrences were all claimed is
   * never planned further, and a ticker added by a process whose changes reach no signal (a
   * writer without the coordinator, on MySQL) waits for the long safety poll: past
   * `catchUpMs`, the seconds it missed would never run.
   */
  nextPlanAt(): number {
    let at = this.lastLoad + this.reloadInterval;
    for (const planned of this.tickers.values()) {
      at = Math.min(at, Math.max(planned.plannedUntil - this.horizonMs, planned.lockedUntil));
    }
    return at;
  }

  /** How often tickers are reloaded: see `reloadEveryMs`. */
  private get reloadInterval(): number {
    const { coordinator } = this;
    if (!coordinator?.healthy) return this.reloadEveryMs;
    return coordinator.sweeps ? Math.max(this.reloadEveryMs, coordinator.pollIntervalMs) : Number.POSITIVE_INFINITY;
  }

  /**
   * How far back a ticker first seen at this load is planned from (its last change, if
   * later): a change made elsewhere reaches this node at its next load, so since the last one
   * (less `catchUpMs` for how late that change may have been visible); at most the longest
   * reload interval back, and at the first load `catchUpMs`, so that a long outage is not
   * replayed instant by instant.
   */
  private planFloor(now: number, previousLoad: number): number {
    const recent = now - this.catchUpMs;
    if (!Number.isFinite(previousLoad)) return recent;
    const longest = this.catchUpMs + Math.max(this.reloadEveryMs, this.coordinator?.pollIntervalMs ?? 0);
    return Math.min(recent, Math.max(Math.min(now, previousLoad) - this.catchUpMs, now - longest));
  }

  /** The lease of a planning lock: the holder renews it about once a second (as it plans). */
  private get lockTtlMs(): number {
    return Math.max(50, Math.floor(this.horizonMs / 2));
  }

  /** The tickers this node plans now; null: all (no coordinator, or it did not answer). */
  private async locks(now: number): Promise<Map<string, number> | null> {
    if (!this.coordinator?.healthy || this.tickers.size === 0) return null;
    // Only tickers with an instant to plan need their lock.
    const due = [...this.tickers.values()].filter((p) => p.plannedUntil <= now + this.horizonMs);
    if (due.length === 0) return new Map();
    const names = due.map((p) => p.record.id);
    const held = await this.coordinator.lockAcquire({
      names: names.map((id) => `cron:${id}`),
      ttlMs: this.lockTtlMs,
    });
    if (!held) return null;
    return new Map(names.filter((id) => held.has(`cron:${id}`)).map((id) => [id, held.get(`cron:${id}`)!]));
  }

  /** A debug line for each occurrence stored (as core.enqueue writes for add()). */
  private logEnqueued(occurrences: readonly NewJob[], ignored: readonly string[]): void {
    const { log, nodeId } = this.enqueue!;
    const skip = new Set(ignored);
    for (const job of occurrences) {
      if (skip.has(job.id)) continue;
      log.debug(
        {
          jobId: job.id,
          function: job.function,
          nodeId,
          status: "Idle",
          cronTickerId: job.cronTickerId,
          executionTime: job.executionTime,
        },
        "job enqueued",
      );
    }
  }

  /**
   * Which occurrences the store ignored because another node had planned the same instants,
   * for the enqueue hooks (a `send` span nothing follows is not exported). Only a partly
   * ignored batch costs lookups, one per occurrence; if they fail, all count as stored.
   */
  private async duplicates(occurrences: readonly NewJob[], inserted: number): Promise<string[]> {
    if (inserted >= occurrences.length) return [];
    if (inserted === 0) return occurrences.map((o) => o.id);
    try {
      const found = await Promise.all(occurrences.map((o) => this.store.jobGet({ id: o.id })));
      return occurrences.filter((_, i) => found[i] === null).map((o) => o.id);
    } catch {
      return [];
    }
  }

  /** Loads the enabled tickers; returns whether any was added, changed or removed since the last load. */
  private async reload(now: number): Promise<boolean> {
    this.stale = false;
    const previousLoad = this.lastLoad;
    this.lastLoad = now;
    const floor = this.planFloor(now, previousLoad);
    const seen = new Set<string>();
    let changed = false;
    for (let offset = 0; ; offset += 500) {
      const page = await this.store.cronTickerList({ enabled: true, limit: 500, offset });
      for (const record of page.items) {
        seen.add(record.id);
        const existing = this.tickers.get(record.id);
        if (existing && existing.record.updatedAt.getTime() === record.updatedAt.getTime()) continue;
        try {
          const schedule = new CronSchedule(record.expression, record.timeZone);
          const plannedUntil = Math.min(now, Math.max(record.updatedAt.getTime(), floor));
          this.tickers.set(record.id, { record, schedule, plannedUntil, lockedUntil: 0 });
          changed = true;
        } catch {
          // a row written by a newer or broken writer: not ours to run
          if (this.tickers.delete(record.id)) changed = true;
        }
      }
      if (page.items.length < 500) break;
    }
    for (const id of this.tickers.keys()) {
      if (seen.has(id)) continue;
      this.tickers.delete(id);
      changed = true;
    }
    return changed;
  }
}

export function occurrenceOf(ticker: CronTickerRecord, at: Date, createdAt: Date): NewJob {
  return {
    id: newId(),
    type: "CronTickerOccurrence",
    function: ticker.function,
    description: ticker.description,
    request: ticker.request,
    executionTime: at,
    priority: ticker.priority,
    retries: ticker.retries,
    retryIntervals: ticker.retryIntervals,
    parentId: null,
    runCondition: null,
    cronTickerId: ticker.id,
    metadata: null,
    createdAt,
  };
}
