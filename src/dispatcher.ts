/**
 * The dispatcher: decides when this node claims work. It keeps one timer, armed for the
 * earliest due job (less the look-ahead), and re-arms it when a store signal announces
 * earlier work. Claims run one at a time; a request during a claim runs one more after it.
 * A slow safety poll covers signals that cannot cross processes (SQLite, MySQL).
 */

import type { Clock } from "./clock.js";
import type { JobRecord, Store } from "./store/contract.js";
import type { WorkerPool } from "./worker-pool.js";
import type { CronScheduler } from "./cron-scheduler.js";
import type { LeaseBook } from "./lease-book.js";
import type { MiddlewareChain } from "./middleware.js";
import type { Coordinator } from "./coordinator.js";
import type { StoreLag } from "./store-lag.js";

export interface DispatcherOptions {
  nodeId: string;
  clock: Clock;
  store: Store;
  pool: WorkerPool;
  cron: CronScheduler;
  /** The configured look-ahead; the one used grows while the store is slow (`lag`). */
  lookaheadMs: number;
  /** How slow the store's claims and start writes have been lately: claims take their own durations here. */
  lag: StoreLag;
  pollIntervalMs: number;
  /** Leases taken by claims are entered here, in turns with the heartbeat's reconciliation. */
  leases: LeaseBook;
  isPaused(): boolean;
  /** False while the store is unreachable or this node fenced itself: it waits for a heartbeat. */
  canClaim(): boolean;
  /** Awaited before each cycle's store work: lets a job start due in a moment go first. */
  beforeStoreWork(): Promise<void>;
  onClaimed(jobs: readonly JobRecord[]): void;
  /** A cycle failed: report it; claims wait for the next good heartbeat. */
  onError(error: unknown, during: string): void;
  /** Its `store` hooks wrap each claim. */
  middleware: MiddlewareChain;
  /** While healthy, it answers the next due instant and sets a longer safety poll. */
  coordinator: Coordinator | null;
}

export class Dispatcher {
  private timer: unknown = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private cycling: Promise<void> | null = null;
  private again = false;
  private active = false;
  private failures = 0;
  /** A cycle found the store unanswered (canClaim false): the next good heartbeat runs one. */
  private waitingForStore = false;
  /**
   * Due work may be waiting for a slot: the last claim was full, or found due work it could
   * not take. Only then does a freed slot start a claim; otherwise the timer, armed for the
   * next due job, and the signals cover it (a claim per finished job would be a wasted
   * round trip, and on SQLite a stall of the event loop).
   */
  private backlog = true;
  /** A slot freed while a cycle ran: claim again after it if that cycle left a backlog. */
  private freedDuringCycle = false;
  /**
   * A freed slot claims even without a backlog where nothing else tells this node of other
   * processes' new work (MySQL/MariaDB): short of the poll, a finished job is the moment to look.
   */
  private readonly lookWhenFreeWithoutSignals: boolean;
  /**
   * The next cycle claims at once (a wake-up, a start, the store back). Cycles of the timer
   * (the safety poll, cron planning, an instant the index gave) ask a healthy coordinator's
   * index first and claim only if it shows due work: an idle node sends SQL no claim.
   */
  private asked = true;
  /** When this node, as the coordinator's sweeper, last had SQL's next due instant checked. */
  private lastSweep = Number.NEGATIVE_INFINITY;
  /** When the coordinator's index was last read: while work is due, SQL is asked directly for a second. */
  private lastIndexLook = Number.NEGATIVE_INFINITY;
  /** When work known to be due (an answer, a signal) is to be claimed: a timer then, no index asked. */
  private dueClaimAt = Number.POSITIVE_INFINITY;

  constructor(private readonly o: DispatcherOptions) {
    const { capabilities } = o.store;
    this.lookWhenFreeWithoutSignals =
      capabilities.shared && !capabilities.signalsAcrossProcesses && !capabilities.wakesOnOtherWrites;
  }

  /** A healthy coordinator carries other processes' wake-ups: no need to go looking. */
  private get lookWhenFree(): boolean {
    return this.lookWhenFreeWithoutSignals && !this.o.coordinator?.carriesSignals;
  }

  /** The safety poll: long while a coordinator is healthy, the store's own otherwise. */
  private get pollMs(): number {
    const { coordinator } = this.o;
    return coordinator?.healthy ? Math.max(coordinator.pollIntervalMs, this.o.pollIntervalMs) : this.o.pollIntervalMs;
  }

  /**
   * The next due instant: from the coordinator's index while it has one, else from SQL (and
   * from SQL at once while work is due: the index would send it there anyway; but once a
   * second through the index, which is how a lost index is noticed). `verify` asks SQL too
   * (the sweeper's safety look).
   */
  private nextDue(now: number, verify = false): Promise<Date | null> {
    const { coordinator, store } = this.o;
    if (!coordinator) return store.jobNextDue();
    // (Unhealthy, the coordinator is asked: it rebuilds its index from SQL's answer.)
    const recent = now - this.lastIndexLook < 1000;
    if (this.backlog && recent && !verify && coordinator.healthy) return store.jobNextDue();
    this.lastIndexLook = now;
    const staleBefore = new Date(now + this.lookaheadMs);
    return coordinator.nextDue({ staleBefore, sql: () => store.jobNextDue(), verify });
  }

  start(): void {
    this.active = true;
    void this.requestCycle();
  }

  stop(): void {
    this.active = false;
    this.disarm();
  }

  /** Work became due at `at` (a signal, an add, a retry). */
  wake(at: Date | null): void {
    if (!this.active) return;
    const fireAt = at ? this.claimTime(at.getTime()) : 0;
    if (fireAt <= this.o.clock.now()) void this.requestCycle();
    else {
      this.dueClaimAt = Math.min(this.dueClaimAt, fireAt);
      this.arm(fireAt);
    }
  }

  /**
   * A heartbeat got through after an outage: claim again, unless a failed cycle's backoff
   * timer is pending (it runs the next cycle; a store that answers heartbeats but keeps
   * failing claims is not hammered).
   */
  storeAnswered(): void {
    if (!this.waitingForStore) return;
    this.waitingForStore = false;
    void this.requestCycle();
  }

  /** Runs a claim cycle now (or right after the one in progress). */
  requestCycle(): Promise<void> {
    this.asked = true;
    return this.cycleSoon();
  }

  private cycleSoon(): Promise<void> {
    if (!this.active) return Promise.resolve();
    if (this.cycling) {
      this.again = true;
      return this.cycling;
    }
    this.cycling = this.loop(false);
    return this.cycling;
  }

  /**
   * Slots freed: claims once the current turn of the event loop is over, so that every slot
   * freed in it is filled by one claim rather than each by its own.
   */
  capacityFreed(): void {
    if (!this.active) return;
    if (this.cycling) this.freedDuringCycle = true;
    else if (this.backlog || this.lookWhenFree) this.cycling = this.loop(true);
  }

  get busy(): boolean {
    return this.cycling !== null;
  }

  /** Resolves when no cycle runs. */
  async settled(): Promise<void> {
    while (this.cycling) await this.cycling;
  }

  private async loop(deferred: boolean): Promise<void> {
    try {
      if (deferred) await new Promise((resolve) => setImmediate(resolve));
      do {
        this.again = false;
        this.freedDuringCycle = false;
        await this.cycle();
        if (this.freedDuringCycle && (this.backlog || this.lookWhenFree)) this.again = true;
      } while (this.again && this.active);
    } finally {
      this.cycling = null;
    }
  }

  private async cycle(): Promise<void> {
    const { o } = this;
    // After a failure, the heartbeat must get through first (storeAnswered() wakes us).
    if (!o.canClaim()) {
      this.waitingForStore = true;
      return;
    }
    await o.beforeStoreWork();
    const now = o.clock.now();
    let claimed = 0;
    let full = false;
    const asked = this.asked;
    this.asked = false;
    try {
      await o.cron.ensure(now);
      if (!asked && !this.backlog && now < this.dueClaimAt && o.coordinator?.healthy && !o.isPaused()) {
        // A timer's cycle: claim only for what the index shows due (the sweeper checks SQL too).
        const sweep = o.coordinator.sweeps && now - this.lastSweep >= this.pollMs;
        if (sweep) this.lastSweep = now;
        const next = await this.nextDue(now, sweep);
        this.failures = 0;
        const poll = o.clock.now() + this.pollMs;
        if (next === null) return this.idle(poll);
        const fireAt = this.claimTime(next.getTime());
        if (fireAt > o.clock.now()) {
          this.dueClaimAt = fireAt;
          return this.idle(Math.min(fireAt, poll));
        }
      }
      this.dueClaimAt = Number.POSITIVE_INFINITY;
      if (!o.isPaused()) {
        const limit = o.pool.claimSize(this.backlog);
        const longRunningLimit = o.pool.freeLongRunning;
        if (limit > 0 || longRunningLimit > 0) {
          const startLimit = o.pool.reserveStarts();
          const jobs = await o.leases
            .exclusive(async () => {
              const call = { operation: "claim", store: o.store.name, count: limit, nodeId: o.nodeId } as const;
              const claimedJobs = await o.middleware.store(call, async () => {
                const began = o.clock.now();
                const claimedNow = await o.store.jobClaimDue({
                  nodeId: o.nodeId,
                  now: new Date(now),
                  until: new Date(now + this.lookaheadMs + this.trailingMs),
                  limit,
                  longRunningLimit,
                  startLimit,
                });
                o.lag.record(o.clock.now() - began);
                return claimedNow;
              });
              o.leases.add(claimedJobs);
              return claimedJobs;
            })
            .finally(() => o.pool.releaseStarts(startLimit));
          claimed = jobs.length;
          full = limit > 0 && claimed >= limit;
          if (claimed > 0) {
            o.onClaimed(jobs);
            o.pool.push(jobs);
          }
        }
      }
      if (full) {
        this.backlog = true;
        // A full claim: more may be due. The pool's capacity callback claims again as slots
        // free, so the next-due query (a round trip per cycle) can wait for a short claim.
        this.failures = 0;
        return this.arm(o.clock.now() + this.pollMs);
      }
      await o.beforeStoreWork();
      const next = await this.nextDue(o.clock.now());
      this.failures = 0;
      if (!this.active) return;
      const poll = o.clock.now() + this.pollMs;
      if (next === null || o.isPaused()) return this.idle(poll);
      const fireAt = this.claimTime(next.getTime());
      if (fireAt > o.clock.now()) {
        this.dueClaimAt = Math.min(this.dueClaimAt, fireAt);
        return this.idle(Math.min(fireAt, poll));
      }
      // Due work remains. With free slots and progress, claim again at once; without slots
      // the pool's capacity callback wakes us; otherwise retry shortly (another node may
      // hold it, or only LongRunning slots are full).
      this.backlog = true;
      if (claimed > 0 && (o.pool.freeSlots > 0 || o.pool.freeLongRunning > 0)) this.again = true;
      else this.arm(Math.min(o.clock.now() + 25, poll));
    } catch (error) {
      this.failures++;
      this.backlog = true;
      o.onError(error, "dispatch");
      this.arm(o.clock.now() + Math.min(250 * 2 ** Math.min(this.failures, 7), 30_000));
    }
  }

  /**
   * When to claim a job due at `due`: the look-ahead before it. The claim also takes the jobs
   * due in the `trailingMs` after it, so jobs due close together share one claim (and its
   * writes) rather than each having its own, and every claimed job keeps the whole
   * look-ahead to be started.
   */
  private claimTime(due: number): number {
    return due - this.lookaheadMs;
  }

  /**
   * The look-ahead in use: the configured one, or while the store has been slow three times its
   * slowest recent claim or start write (one for the claim, one for the start write, one to
   * spare), so that a job claimed ahead is still started on its instant.
   */
  private get lookaheadMs(): number {
    return this.o.lag.lead(this.o.lookaheadMs, 3);
  }

  /** Half the look-ahead: see claimTime. */
  private get trailingMs(): number {
    return Math.ceil(this.lookaheadMs / 2);
  }

  /** Nothing is due beyond what this node holds: the next cycle runs at `at` or on a signal. */
  private idle(at: number): void {
    this.backlog = false;
    this.arm(this.o.coordinator ? Math.min(at, Math.max(this.o.cron.nextPlanAt(), this.o.clock.now() + 1)) : at);
  }

  /** Arms the timer for `at`, unless it is already armed earlier (a wake during a cycle wins). */
  private arm(at: number): void {
    if (!this.active || this.timerAt <= at) return;
    this.disarm();
    this.timerAt = at;
    this.timer = this.o.clock.setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        void this.cycleSoon();
      },
      Math.max(0, at - this.o.clock.now()),
    );
  }

  private disarm(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
