/**
 * The Coordinator contract: what the engine asks of an optional accelerator beside a SQL
 * store (tickerq/redis implements it). The store stays the truth: claims, leases, fencing
 * tokens and the recovery compare-and-set all happen in SQL. A coordinator only tells nodes
 * sooner (wake-ups across processes), asks SQL less (the next due instant, who may be dead)
 * and avoids duplicate work (planning locks). Every method degrades to "ask SQL": when the
 * coordinator's server is down, empty or cut off, the engine behaves as it does without one.
 */

import type { Log } from "./log.js";
import type { Store, StoreSignal } from "./store/contract.js";

/** What the engine gives its coordinator at start. */
export interface CoordinatorNode {
  nodeId: string;
  store: Store;
  log: Log;
  /** A signal heard from another process (a wake-up, a cancel, a cron change, a pause). */
  onSignal(signal: StoreSignal): void;
  /**
   * The coordinator's health changed (see `healthy`), or it reconnected and wants its index
   * checked: the engine looks for work at once (signals sent meanwhile were lost) and polls
   * at the cadence that fits.
   */
  onHealthChange(healthy: boolean): void;
}

export interface Coordinator {
  /** For logs and the dashboard: "redis". */
  readonly name: string;
  /**
   * Connects and subscribes. Resolves even when the server is unreachable: the node then runs
   * on SQL alone and the coordinator keeps trying in the background.
   */
  start(node: CoordinatorNode): Promise<void>;
  /** Leaves (this node's heartbeat entry goes) and closes what the coordinator opened. */
  stop(): Promise<void>;
  /**
   * True while the server answers, signals are subscribed and the due index is trustworthy.
   * While false the engine polls SQL at its own `pollIntervalMs`.
   */
  readonly healthy: boolean;
  /** The safety poll while healthy: a long one, since wake-ups and the index cover the rest. */
  readonly pollIntervalMs: number;
  /** Signals (cancels, pauses) reach other processes through it while healthy. */
  readonly carriesSignals: boolean;
  /**
   * Whether this node runs the cluster's periodic SQL checks (the safety look for due work,
   * the cron ticker reload, the nodes-table watch for nodes and leases the coordinator does
   * not know, aggregate compaction): while healthy, only the holder of a lease renewed at each
   * heartbeat; while unhealthy, every node, as without a coordinator.
   */
  readonly sweeps: boolean;
  /**
   * The earliest instant at which Idle work is due, or null for none. The coordinator answers
   * from its index and calls `sql` (the store's jobNextDue) when its index cannot tell: an
   * entry due before `staleBefore` may be work already claimed; an index lost or rebuilding.
   * Only errors of `sql` reach the caller. With `verify`, SQL is asked whatever the index says
   * (the sweeper's safety look: work written by a process without the coordinator), and its
   * answer goes into the index.
   */
  nextDue(params: { staleBefore: Date; sql(): Promise<Date | null>; verify?: boolean }): Promise<Date | null>;
  /**
   * Records this node's heartbeat (after its SQL heartbeat `sqlHeartbeatAt` landed) and returns
   * every node's last recorded beat value, by node id, for dead-node suspicion; null when the
   * server cannot be asked (the engine then watches the SQL nodes table every beat). Takes or
   * renews the sweep lease (see `sweeps`) for `sweepLeaseMs` when free or this node's.
   */
  heartbeat(params: { sqlHeartbeatAt: Date; sweepLeaseMs: number }): Promise<Map<string, string> | null>;
  /** Drops the beat entry of nodes the SQL store no longer knows. */
  forgetNodes(nodeIds: readonly string[]): Promise<void>;
  /**
   * Takes or renews locks for this node, each with a lease of `ttlMs`. Returns the fencing
   * token of each lock this node now holds (absent: another node holds it), or null when the
   * server cannot be asked: the caller then acts as if it held them all (SQL stays correct;
   * the lock only saves duplicate work).
   */
  lockAcquire(params: { names: readonly string[]; ttlMs: number }): Promise<Map<string, number> | null>;
  /**
   * Tells every node (this process's included, this node excepted) of a change found in SQL
   * that no writer announced: the sweeper's cron ticker reload uses it for a `cron` signal.
   * Best effort: lost while unhealthy (every node then reloads on its own).
   */
  announce(signal: StoreSignal): void;
}
