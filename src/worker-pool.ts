/**
 * The worker pool: holds jobs this node claimed until they are due and a slot is free, then
 * starts them. High runs before Normal before Low; LongRunning jobs run outside the
 * `maxConcurrency` slots so they never starve short ones.
 */

import { PRIORITY_RANK } from "./lifecycle.js";
import type { Clock } from "./clock.js";
import type { JobRecord } from "./store/contract.js";
import { InFlight } from "./in-flight.js";

export interface PoolOptions {
  /** Jobs claimed ahead are released this long before they are due (their start write runs meanwhile). */
  startLeadMs: number;
  maxConcurrency: number;
  /** Jobs claimed beyond the free slots, so a claim fetches a batch rather than a slot's worth. */
  prefetch: number;
  maxLongRunning: number;
  clock: Clock;
  /** Starts the job; resolves when its attempt has ended. */
  run(job: JobRecord): Promise<void>;
  /** A slot became free and nothing waits: the dispatcher may claim more. */
  onCapacity(): void;
}

export class WorkerPool {
  /** Claimed jobs that are due, waiting for a slot, by priority then due time. */
  private readonly ready: JobRecord[] = [];
  /** Claimed jobs not yet due, each released by its own timer at its due time. */
  private readonly timers = new Map<string, { job: JobRecord; handle: unknown }>();
  private readonly running = new InFlight();
  active = 0;
  activeLongRunning = 0;
  /** Slots promised to a claim in flight, whose jobs come back already InProgress. */
  private reserved = 0;
  private readonly startLeadMs: number;
  readonly maxConcurrency: number;
  readonly prefetch: number;
  readonly maxLongRunning: number;
  private readonly clock: Clock;

  constructor(private readonly hooks: PoolOptions) {
    this.startLeadMs = hooks.startLeadMs;
    this.maxConcurrency = hooks.maxConcurrency;
    this.prefetch = hooks.prefetch;
    this.maxLongRunning = hooks.maxLongRunning;
    this.clock = hooks.clock;
  }

  /** How many more normal-slot jobs the dispatcher should claim now. */
  get freeSlots(): number {
    const waiting = this.waiting(false, true);
    return Math.max(0, this.maxConcurrency + this.prefetch - this.active - waiting);
  }

  get freeLongRunning(): number {
    return Math.max(0, this.maxLongRunning - this.activeLongRunning - this.waiting(true, true));
  }

  /**
   * Reserves the slots free now for the claim about to run: the store starts that many
   * claimed jobs at once (InProgress), and push() runs them in these slots.
   */
  reserveStarts(): number {
    const n = Math.max(0, this.maxConcurrency - this.active - this.reserved - this.waiting(false, false));
    this.reserved += n;
    return n;
  }

  /** Gives back what reserveStarts() took (the claim ended, in success or failure). */
  releaseStarts(n: number): void {
    this.reserved -= n;
  }

  /** Jobs held but not started: released to the store on shutdown. */
  get held(): JobRecord[] {
    return [...this.ready, ...[...this.timers.values()].map((entry) => entry.job)];
  }

  /** Something runs or waits for a slot (jobs held for a future instant do not count). */
  get busy(): boolean {
    return this.active > 0 || this.activeLongRunning > 0 || this.ready.length > 0;
  }

  get isIdle(): boolean {
    return this.active === 0 && this.activeLongRunning === 0 && this.ready.length === 0 && this.timers.size === 0;
  }

  push(jobs: readonly JobRecord[]): void {
    const now = this.clock.now();
    for (const job of jobs) {
      if (job.status === "InProgress") {
        // Started by the claim itself, in a slot reserved for it.
        this.start(job, job.priority === "LongRunning");
        continue;
      }
      const delay = (job.executionTime?.getTime() ?? now) - this.startLeadMs - now;
      if (delay <= 0) {
        this.enqueue(job);
        continue;
      }
      const handle = this.clock.setTimeout(() => {
        this.timers.delete(job.id);
        this.enqueue(job);
        this.pump();
      }, delay);
      this.timers.set(job.id, { job, handle });
    }
    this.pump();
  }

  /** Drops a held job that must not start (cancelled meanwhile). Returns whether it was held. */
  drop(id: string): boolean {
    const timer = this.timers.get(id);
    if (timer) {
      this.clock.clearTimeout(timer.handle);
      this.timers.delete(id);
      return true;
    }
    const index = this.ready.findIndex((job) => job.id === id);
    if (index >= 0) this.ready.splice(index, 1);
    return index >= 0;
  }

  /** Removes and returns every held job (shutdown). */
  takeHeld(): JobRecord[] {
    const held = this.held;
    for (const { handle } of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.ready.length = 0;
    return held;
  }

  /** Resolves when every started attempt has ended. */
  async whenRunningDone(): Promise<void> {
    await this.running.settled();
  }

  /** Held jobs of one kind waiting for a slot: due ones, and with `andLater` those held for a future instant. */
  private waiting(longRunning: boolean, andLater: boolean): number {
    let count = 0;
    for (const job of this.ready) if ((job.priority === "LongRunning") === longRunning) count++;
    if (andLater)
      for (const { job } of this.timers.values()) if ((job.priority === "LongRunning") === longRunning) count++;
    return count;
  }

  private enqueue(job: JobRecord): void {
    const rank = PRIORITY_RANK[job.priority];
    const due = job.executionTime?.getTime() ?? 0;
    let i = this.ready.length;
    while (i > 0) {
      const other = this.ready[i - 1]!;
      const otherRank = PRIORITY_RANK[other.priority];
      if (otherRank < rank || (otherRank === rank && (other.executionTime?.getTime() ?? 0) <= due)) break;
      i--;
    }
    this.ready.splice(i, 0, job);
  }

  private pump(): void {
    for (let i = 0; i < this.ready.length;) {
      const job = this.ready[i]!;
      const longRunning = job.priority === "LongRunning";
      if (
        longRunning ? this.activeLongRunning >= this.maxLongRunning : this.active + this.reserved >= this.maxConcurrency
      ) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      this.start(job, longRunning);
    }
  }

  private start(job: JobRecord, longRunning: boolean): void {
    if (longRunning) this.activeLongRunning++;
    else this.active++;
    this.running.add(
      this.hooks
        .run(job)
        .catch(() => {})
        .finally(() => {
          if (longRunning) this.activeLongRunning--;
          else this.active--;
          this.pump();
          if (this.ready.length === 0) this.hooks.onCapacity();
        }),
    );
  }
}
