/**
 * Node liveness: this node's heartbeat, and the reaper that hands the leased work of nodes
 * that stopped heartbeating back to Idle so a live node runs it (at least once). Also the
 * periodic chores that ride on the same beat: operator pause requests, cancel requests for
 * stores without cross-process signals, and retention.
 */

import type { Clock } from "./clock.js";
import type { NodeInfo, Store } from "./store/contract.js";

export interface HeartbeatOptions {
  nodeId: string;
  clock: Clock;
  store: Store;
  intervalMs: number;
  leaseTimeoutMs: number;
  /** Delete finished jobs older than this many days; null keeps them. */
  retentionDays: number | null;
  info(): NodeInfo;
  onPauseRequested(paused: boolean): void;
  onRecovered(ids: string[]): void;
  onCancelRequested(ids: string[]): void;
  reportError(error: unknown, during: string): void;
  /** Awaited before each store call of a beat: lets a job start due in a moment go first. */
  beforeStoreWork(): Promise<void>;
}

const RETENTION_EVERY_MS = 3_600_000;
const RETENTION_BATCH = 500;

export class NodeHeartbeat {
  private timer: unknown = null;
  private active = false;
  private lastRetention = Number.NEGATIVE_INFINITY;
  private beating: Promise<void> | null = null;

  constructor(private readonly o: HeartbeatOptions) {}

  /** Beats once, recovers this node's own leases left by a crashed process of the same id, then beats on. */
  async start(): Promise<void> {
    this.active = true;
    const now = new Date(this.o.clock.now());
    await this.o.store.nodeHeartbeat({ nodeId: this.o.nodeId, at: now, info: this.o.info() });
    const recovered = await this.o.store.jobRecoverLeases({
      now,
      staleBefore: new Date(now.getTime() - this.o.leaseTimeoutMs),
      deadNodeIds: [this.o.nodeId],
    });
    if (recovered.length > 0) this.o.onRecovered(recovered);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.active = false;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.beating;
  }

  /** One beat, after any beat in flight: beats never overlap, and the caller sees its effects. */
  async beat(): Promise<void> {
    while (this.beating) await this.beating;
    this.beating = this.beatOnce().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  /** Heartbeat, follow pause requests, reap dead nodes, purge old history. */
  private async beatOnce(): Promise<void> {
    const { o } = this;
    await o.beforeStoreWork();
    const now = o.clock.now();
    try {
      const { paused } = await o.store.nodeHeartbeat({ nodeId: o.nodeId, at: new Date(now), info: o.info() });
      o.onPauseRequested(paused);
      await o.beforeStoreWork();
      const recovered = await o.store.jobRecoverLeases({
        now: new Date(now),
        staleBefore: new Date(now - o.leaseTimeoutMs),
      });
      if (recovered.length > 0) o.onRecovered(recovered);
      if (!o.store.capabilities.signalsAcrossProcesses) {
        await o.beforeStoreWork();
        const cancels = await o.store.jobCancelRequested({ nodeId: o.nodeId });
        if (cancels.length > 0) o.onCancelRequested(cancels);
      }
      if (o.retentionDays !== null && now - this.lastRetention >= RETENTION_EVERY_MS) {
        this.lastRetention = now;
        const before = new Date(now - o.retentionDays * 86_400_000);
        for (let purged = RETENTION_BATCH; purged === RETENTION_BATCH && this.active;) {
          await o.beforeStoreWork();
          purged = await o.store.jobPurge({ before, limit: RETENTION_BATCH });
        }
      }
    } catch (error) {
      o.reportError(error, "heartbeat");
    }
  }

  /** Fixed rate: the next beat is armed before this one runs; a beat still running is not doubled. */
  private schedule(): void {
    if (!this.active) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      this.schedule();
      if (!this.beating) void this.beat();
    }, this.o.intervalMs);
  }
}
