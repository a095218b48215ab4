/**
 * The worker pool: holds jobs this node claimed until they are due and a slot is free, then
 * starts them. High runs before Normal before Low; LongRunning jobs run outside the
 * `maxConcurrency` slots so they never starve short ones.
 */

import { PRIORITY_RANK } from "./lifecycle.js";
import type { Clock } from "./clock.js";
import type { JobRecord } from "./store/contract.js";
import { InFlight } from "./in-flight.js";

/**
 * Adaptive claiming: while a backlog exists, a claim takes beyond the free slots what this
 * node will start within a short horizon at its recent start rate, and the claim starts them
 * itself (InProgress, no start write of their own); they wait here about that long for a
 * slot. The horizon is START_HORIZON_MS, or two claims' round trips when the store answers
 * slower (up to MAX_HORIZON_MS), so that the next claim lands before the window runs dry. The window doubles per claim at most, so it grows with the backlog, and it is empty
 * when nothing is due, when the jobs are slow (a low start rate) or before any job has ended.
 * Other nodes keep getting work: no node takes more than it starts within the horizon.
 */
export const START_HORIZON_MS = 25;
const MAX_HORIZON_MS = 250;
/** The largest window, whatever the rate: a claim's rows and their leases stay a modest batch. */
const MAX_WINDOW = 500;
/** Start rates are sampled over at least this long (ms) before they count. */
const RATE_SAMPLE_MS = 5;

class AdaptiveWindow {
  /** Jobs started per ms, smoothed. */
  private rate = 0;
  private startsSinceSample = 0;
  private sampledAt: number | null = null;
  /** The current window: jobs beyond the free slots the next claim may take. */
  size = 0;
  /** How long a claim takes, smoothed (ms). */
  private claimMs = 0;
  private claimStartedAt = 0;

  constructor(private readonly clock: Clock) {}

  started(): void {
    this.startsSinceSample++;
  }

  claimStarted(): void {
    this.claimStartedAt = this.clock.now();
  }

  claimEnded(): void {
    const took = this.clock.now() - this.claimStartedAt;
    this.claimMs = this.claimMs === 0 ? took : (this.claimMs + took) / 2;
  }

  /** The window for the next claim; `backlog`: the last claim was full or left due work. */
  next(backlog: boolean, maxConcurrency: number): number {
    const now = this.clock.now();
    if (this.sampledAt === null) this.sampledAt = now;
    const elapsed = now - this.sampledAt;
    if (elapsed >= RATE_SAMPLE_MS) {
      const sample = this.startsSinceSample / elapsed;
      this.rate = this.rate === 0 ? sample : (this.rate + sample) / 2;
      this.startsSinceSample = 0;
      this.sampledAt = now;
    }
    if (!backlog) return (this.size = 0);
    const horizon = Math.min(MAX_HORIZON_MS, Math.max(START_HORIZON_MS, 2 * this.claimMs));
    const reach = Math.floor(this.rate * horizon);
    this.size = Math.min(MAX_WINDOW, reach, Math.max(maxConcurrency, this.size * 2));
    return this.size;
  }
}

export interface PoolOptions {
  /**
   * How long before they are due jobs claimed ahead are released (their start write runs
   * meanwhile): asked at each claim, as it grows while the store is slow (StoreLag).
   */
  startLeadMs: () => number;
  maxConcurrency: number;
  /**
   * Due jobs claimed beyond the free slots, started by the claim and held for a slot: a fixed
   * window; null for adaptive claiming (see AdaptiveWindow).
   */
  prefetch: number | null;
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
  readonly maxConcurrency: number;
  readonly prefetch: number | null;
  readonly maxLongRunning: number;
  private readonly clock: Clock;
  private readonly adaptive: AdaptiveWindow | null;
  /** Claimed jobs, started by the claim, that wait in `ready` for a slot (adaptive claiming). */
  private startedWaiting = 0;
  /** The window the claim in flight was sized with (adaptive claiming). */
  private window = 0;

  constructor(private readonly hooks: PoolOptions) {
    this.maxConcurrency = hooks.maxConcurrency;
    this.prefetch = hooks.prefetch;
    this.maxLongRunning = hooks.maxLongRunning;
    this.clock = hooks.clock;
    this.adaptive = hooks.prefetch === null ? new AdaptiveWindow(hooks.clock) : null;
  }

  /**
   * Sizes the next claim: `backlog` says whether due work was left over by the last one.
   * Returns how many more normal-slot jobs to claim now.
   */
  claimSize(backlog: boolean): number {
    this.window = this.adaptive ? this.adaptive.next(backlog, this.maxConcurrency) : (this.prefetch ?? 0);
    return this.freeSlots;
  }

  /** How many more normal-slot jobs the dispatcher should claim now. */
  get freeSlots(): number {
    const waiting = this.waiting(false, true);
    return Math.max(0, this.maxConcurrency + this.window - this.active - waiting);
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
    this.adaptive?.claimStarted();
    // The window's jobs (adaptive, or a fixed prefetch) start with the claim too, and wait
    // here for a slot: a start write of their own, awaited before each handler, would cost
    // every freed slot a round trip.
    return n + this.window;
  }

  /** Gives back what reserveStarts() took (the claim ended, in success or failure). */
  releaseStarts(n: number): void {
    this.adaptive?.claimEnded();
    this.reserved -= Math.max(0, n - this.window);
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
    const startLeadMs = this.hooks.startLeadMs();
    for (const job of jobs) {
      if (job.status === "InProgress") {
        // Started by the claim itself, in a slot reserved for it, or (adaptive claiming)
        // waiting for the next slot to free.
        const longRunning = job.priority === "LongRunning";
        if (longRunning || this.active < this.maxConcurrency) this.start(job, longRunning);
        else {
          this.startedWaiting++;
          this.enqueue(job);
        }
        continue;
      }
      const delay = (job.executionTime?.getTime() ?? now) - startLeadMs - now;
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
    return this.take(id) !== null;
  }

  /**
   * Removes a held job and returns it, or null if not held. A job the claim started
   * (InProgress) still needs its end written by the caller.
   */
  take(id: string): JobRecord | null {
    const timer = this.timers.get(id);
    if (timer) {
      this.clock.clearTimeout(timer.handle);
      this.timers.delete(id);
      return timer.job;
    }
    const index = this.ready.findIndex((job) => job.id === id);
    if (index < 0) return null;
    const [job] = this.ready.splice(index, 1);
    if (job!.status === "InProgress") this.startedWaiting--;
    return job!;
  }

  /** Removes and returns every held job (shutdown). */
  takeHeld(): JobRecord[] {
    const held = this.held;
    for (const { handle } of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.ready.length = 0;
    this.startedWaiting = 0;
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
      // A claim in flight has reserved the slots free when it began, net of what waited here
      // then; a job that has come due since (its timer fired) still takes a free slot now,
      // and what that claim starts waits for the next one: a claim's round trip must not
      // make a job held for its instant late.
      if (longRunning ? this.activeLongRunning >= this.maxLongRunning : this.active >= this.maxConcurrency) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      if (job.status === "InProgress") this.startedWaiting--;
      this.start(job, longRunning);
    }
  }

  private start(job: JobRecord, longRunning: boolean): void {
    if (longRunning) this.activeLongRunning++;
    else this.active++;
    this.adaptive?.started();
    const ended = () => {
      if (longRunning) this.activeLongRunning--;
      else this.active--;
      this.pump();
      // Claiming asks for more while half the window still waits, so the next claim's
      // round trip overlaps the runs instead of leaving slots idle.
      if (this.ready.length === 0 || (this.window > 0 && this.startedWaiting * 2 <= this.window))
        this.hooks.onCapacity();
    };
    this.running.add(this.hooks.run(job).then(ended, ended));
  }
}
