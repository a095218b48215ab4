/**
 * Node liveness: this node's heartbeat, whether the node may claim, and the reaper that hands
 * the leased work of dead nodes back to Idle so a live node runs it (at least once). Also the
 * periodic chores that ride on the same beat: lease reconciliation, operator pause requests,
 * cancel requests for stores without cross-process signals, retention, and the search's index.
 *
 * Who is dead is decided by what this node saw, never by comparing clocks: another node is
 * dead once its recorded heartbeat has not changed for `leaseTimeoutMs` while this node
 * itself was reaching the store the whole time. An outage that cut everyone off therefore
 * makes nobody look dead: after it, every node first writes its own heartbeat (no claim
 * before that), and the observation starts again.
 *
 * The other side of that promise: a node that cannot heartbeat fences itself before anyone
 * may take its work, at `leaseTimeoutMs - heartbeatIntervalMs` since its last good beat began:
 * it stops claiming and aborts its runs' signals. Leases carry fencing tokens besides, so a
 * node that was paused and missed its own deadline still cannot overwrite the newer run.
 */

import { systemClock, type Clock } from "./clock.js";
import type { NodeInfo, Store } from "./store/contract.js";
import { isUnavailable, type Reporter } from "./reporter.js";
import type { Coordinator } from "./coordinator.js";

export interface HeartbeatOptions {
  nodeId: string;
  clock: Clock;
  store: Store;
  intervalMs: number;
  leaseTimeoutMs: number;
  /** Delete finished jobs older than this many days; null keeps them. */
  retentionDays: number | null;
  reporter: Reporter;
  info(): NodeInfo;
  onPauseRequested(paused: boolean): void;
  /** After each good heartbeat: compare this node's leases with the store's. */
  reconcile(now: Date): Promise<void>;
  /**
   * Jobs whose leases were recovered: those of `deadNodeIds` (this node's own at start, left by
   * a process of the same id that crashed), and those held under node ids with no record.
   */
  onRecovered(ids: string[], from: { deadNodeIds: string[]; orphans: boolean }): void;
  onCancelRequested(ids: string[]): void;
  /** The node could not heartbeat for too long: stop claiming, abort runs. */
  onFenced(sinceMs: number): void;
  /** The store answers again (and this node's leases are reconciled): claims may resume. */
  onHealthy(): void;
  /** Awaited before each store call of a beat: lets a job start due in a moment go first. */
  beforeStoreWork(): Promise<void>;
  /**
   * While it answers, the nodes table is read only when the coordinator's heartbeat entries
   * make a node look dead, or every half lease; who is dead is still decided on SQL.
   */
  coordinator: Coordinator | null;
}

const RETENTION_EVERY_MS = 3_600_000;
const RETENTION_BATCH = 500;
/** How often a node folds the aggregates' increments (reads are exact without it; it keeps them cheap). */
const COMPACT_EVERY_MS = 60_000;
/**
 * Search texts indexed per statement (tens of ms of a server's work, so a job due meanwhile
 * waits at most that long for a core), and at most per beat (about a second's).
 */
const SEARCH_BATCH = 500;
const SEARCH_PER_BEAT = 20_000;
/** The most beats between two looks at an empty search backlog (a minute at the default interval). */
const SEARCH_IDLE_BEATS = 12;
/**
 * With a coordinator: its sweep lease, in heartbeat intervals (the sweeper renews it at each
 * beat; should it die, another node takes over within this many beats).
 */
const SWEEP_LEASE_BEATS = 3;
/**
 * With a coordinator: how often, in lease timeouts, its sweeper reads the nodes table for what
 * the coordinator's entries cannot show (nodes without the coordinator, leases of nodes with
 * no record). Nodes with the coordinator are watched there at every beat.
 */
const SWEEP_LEASES = 3;
/** First retry after a failed beat; doubles up to the heartbeat interval. */
const RETRY_FIRST_MS = 100;

export class NodeHeartbeat {
  private timer: unknown = null;
  private fenceTimer: unknown = null;
  private active = false;
  private lastRetention = Number.NEGATIVE_INFINITY;
  /** Beats to skip before the next search catch-up, and the last such wait (doubling while idle). */
  private searchWait = 0;
  private searchIdle = 0;
  /** Not at the first beat: a node that starts has more urgent work. */
  private lastCompact: number | null = null;
  private beating: Promise<void> | null = null;
  /** The last beat reached the store (and this node may claim, unless fenced). */
  private healthy = false;
  private fenced = false;
  /** When the last good beat began (engine clock). */
  private lastGood = Number.NEGATIVE_INFINITY;
  /** Since when the store has answered every beat (observations count only from then). */
  private healthySince = Number.POSITIVE_INFINITY;
  private failures = 0;
  /** Other nodes' heartbeats as this node saw them: the value, and since when it has not changed. */
  private readonly observed = new Map<string, { heartbeatAt: number; since: number }>();
  /** The coordinator's heartbeat entries as this node saw them (same rule as `observed`). */
  private readonly observedThere = new Map<string, { value: string; since: number }>();
  /** When the nodes table was last read (engine clock). */
  private lastSqlReap = Number.NEGATIVE_INFINITY;
  /** The nodes table, at its last read, held other nodes with no coordinator entry: watched there as without one. */
  private unknownToCoordinator = true;
  /** Self-fencing deadline after the last good beat; 0 when the interval leaves no room for one. */
  private readonly fenceAfterMs: number;

  constructor(private readonly o: HeartbeatOptions) {
    this.fenceAfterMs = Math.max(0, o.leaseTimeoutMs - o.intervalMs);
  }

  /** The store answered the last beat and the node is not fenced: it may claim. */
  get canClaim(): boolean {
    return this.healthy && !this.fenced;
  }

  get isFenced(): boolean {
    return this.fenced;
  }

  /** Beats once, recovers this node's own leases left by a crashed process of the same id, then beats on. */
  async start(): Promise<void> {
    this.active = true;
    const startedAt = this.o.clock.now();
    const now = new Date(startedAt);
    // One after the other, on the one connection a starting node has open: side by side, a
    // pool would open a second (a new server process) for a call that takes a few ms.
    await this.o.store.nodeHeartbeat({ nodeId: this.o.nodeId, at: now, info: this.o.info() });
    const recovered = await this.o.store.jobRecoverLeases({
      now,
      deadNodes: [{ nodeId: this.o.nodeId, heartbeatAt: null }],
      orphanedBefore: null,
    });
    this.good(startedAt);
    if (recovered.length > 0) this.o.onRecovered(recovered, { deadNodeIds: [this.o.nodeId], orphans: false });
    this.schedule(this.o.intervalMs);
  }

  async stop(): Promise<void> {
    this.active = false;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    if (this.fenceTimer !== null) this.o.clock.clearTimeout(this.fenceTimer);
    this.timer = this.fenceTimer = null;
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

  /**
   * Another part of the engine failed to reach the store: no claims until a heartbeat gets
   * through, and the next beat is brought forward.
   */
  suspect(): void {
    if (!this.active || !this.healthy) return;
    this.healthy = false;
    this.observed.clear();
    this.schedule(RETRY_FIRST_MS);
  }

  /** Heartbeat, reconcile leases, follow pause requests, reap dead nodes, purge old history. */
  private async beatOnce(): Promise<void> {
    const { o } = this;
    await o.beforeStoreWork();
    const startedAt = o.clock.now();
    // Past the deadline already (the process was paused, or its event loop blocked): fence
    // before anything else happens, then let this beat find out whether the leases are still
    // ours. (A test clock jumps over beats still in flight: there only failed beats count.)
    if (o.clock === systemClock && this.overdue(startedAt)) this.fence(startedAt);
    this.armFence();
    const now = new Date(startedAt);
    try {
      const { paused } = await o.store.nodeHeartbeat({ nodeId: o.nodeId, at: now, info: o.info() });
      await o.beforeStoreWork();
      await o.reconcile(now);
      this.good(startedAt);
      o.onPauseRequested(paused);
      // When the beat landed: what it saw of others is as of then (a test clock: as of its start).
      const looked = await this.reap(o.clock === systemClock ? o.clock.now() : startedAt, now);
      // Cancels of other processes arrive as signals through a healthy coordinator; SQL is asked
      // only as often as the nodes table, to catch any lost while it was down.
      if (!o.store.capabilities.signalsAcrossProcesses && (looked || !o.coordinator?.carriesSignals)) {
        await o.beforeStoreWork();
        const cancels = await o.store.jobCancelRequested({ nodeId: o.nodeId });
        if (cancels.length > 0) o.onCancelRequested(cancels);
      }
      await this.retention(startedAt);
      await this.compact(startedAt);
      await this.searchCatchUp();
    } catch (error) {
      if (this.healthy && !isUnavailable(error) && this.lastGood === startedAt) {
        o.reporter.error(error, "heartbeat"); // the beat itself got through: a chore failed
      } else {
        this.bad(error);
      }
    }
  }

  /** A beat got through: clear the outage, lift a fence, and let claims resume. */
  private good(startedAt: number): void {
    const now = this.o.clock.now();
    // Contact was broken if this node fenced itself, or if this beat landed too long after the
    // last good one began (it hung in a black-holed or slow connection): what it saw of other
    // nodes' heartbeats meanwhile proves nothing, so observation starts again.
    // (A test clock jumps while real I/O is in flight: there only failures break contact.)
    const late = this.o.clock === systemClock && this.fenceAfterMs > 0 && now - this.lastGood >= this.fenceAfterMs;
    const broken = this.fenced || late;
    this.lastGood = startedAt;
    this.failures = 0;
    if (this.fenceTimer !== null) this.o.clock.clearTimeout(this.fenceTimer);
    this.fenceTimer = null;
    const wasDown = !this.healthy || this.fenced;
    if (!this.healthy || broken) {
      this.healthy = true;
      this.healthySince = now;
      this.observed.clear();
    }
    this.fenced = false;
    if (wasDown) {
      this.o.reporter.reachable();
      this.o.onHealthy();
    }
  }

  private bad(error: unknown): void {
    this.o.reporter.unreachable(error, "heartbeat");
    this.healthy = false;
    this.healthySince = Number.POSITIVE_INFINITY;
    this.observed.clear();
    this.failures++;
    if (this.overdue(this.o.clock.now())) this.fence(this.o.clock.now());
    this.schedule(Math.min(this.o.intervalMs, RETRY_FIRST_MS * 2 ** Math.min(this.failures - 1, 10)));
  }

  private overdue(now: number): boolean {
    return this.fenceAfterMs > 0 && now - this.lastGood >= this.fenceAfterMs;
  }

  /**
   * Fences this node if no beat gets through by the deadline. A beat still in flight then
   * counts as failed on the system clock; a test clock stands still while real I/O runs, so
   * there only failed beats count.
   */
  private armFence(): void {
    if (this.fenceAfterMs <= 0 || this.fenceTimer !== null || !this.active) return;
    const at = this.lastGood + this.fenceAfterMs;
    this.fenceTimer = this.o.clock.setTimeout(
      () => {
        this.fenceTimer = null;
        const now = this.o.clock.now();
        if (!this.overdue(now)) return;
        const inFlight = this.beating !== null && this.o.clock === systemClock;
        if (!this.healthy || inFlight) this.fence(now);
      },
      Math.max(0, at - this.o.clock.now()),
    );
  }

  private fence(now: number): void {
    if (this.fenced || !this.active) return;
    this.fenced = true;
    this.o.onFenced(now - this.lastGood);
  }

  /**
   * Recovers the leases of nodes seen dead: their heartbeat unchanged for `leaseTimeoutMs`
   * of this node's own uninterrupted contact with the store. Leases held under a node id
   * with no record at all are recovered once this node has been in contact that long.
   */
  private async reap(nowMs: number, sqlHeartbeatAt: Date): Promise<boolean> {
    const { o } = this;
    const beats = o.coordinator
      ? await o.coordinator.heartbeat({ sqlHeartbeatAt, sweepLeaseMs: SWEEP_LEASE_BEATS * o.intervalMs })
      : null;
    if (!beats) this.observedThere.clear(); // contact with the coordinator broke: start again
    if (beats && !this.suspicious(nowMs, beats)) return false;
    this.lastSqlReap = nowMs;
    await o.beforeStoreWork();
    const nodes = await o.store.nodeList();
    if (beats) {
      const known = new Set(nodes.map((node) => node.nodeId));
      await o.coordinator!.forgetNodes([...beats.keys()].filter((id) => !known.has(id)));
      this.unknownToCoordinator = nodes.some((node) => node.nodeId !== o.nodeId && !beats.has(node.nodeId));
    }
    const dead: { nodeId: string; heartbeatAt: Date }[] = [];
    const present = new Set<string>();
    for (const node of nodes) {
      if (node.nodeId === o.nodeId) continue;
      present.add(node.nodeId);
      const beat = node.heartbeatAt.getTime();
      const seen = this.observed.get(node.nodeId);
      if (!seen || seen.heartbeatAt !== beat) this.observed.set(node.nodeId, { heartbeatAt: beat, since: nowMs });
      else if (nowMs - seen.since >= o.leaseTimeoutMs)
        dead.push({ nodeId: node.nodeId, heartbeatAt: node.heartbeatAt });
    }
    for (const id of this.observed.keys()) if (!present.has(id)) this.observed.delete(id);
    const inContactLongEnough = nowMs - this.healthySince >= o.leaseTimeoutMs;
    if (dead.length === 0 && !inContactLongEnough) return true;
    await o.beforeStoreWork();
    const recovered = await o.store.jobRecoverLeases({
      now: new Date(nowMs),
      deadNodes: dead,
      orphanedBefore: inContactLongEnough ? new Date(nowMs - o.leaseTimeoutMs) : null,
    });
    if (recovered.length > 0) {
      o.onRecovered(recovered, { deadNodeIds: dead.map((node) => node.nodeId), orphans: inContactLongEnough });
    }
    return true;
  }

  /**
   * Whether the nodes table must be read now: a node's coordinator entry has not changed for
   * a lease (it may be dead: SQL decides); half a lease passed since the last look while the
   * table holds nodes the coordinator has no entry for (nodes without it, or not beating yet:
   * watched as without a coordinator); or, on the coordinator's sweeper only, `SWEEP_LEASES`
   * leases passed (for leases of nodes with no record). Without entries (coordinator down),
   * every beat looks, as without a coordinator.
   */
  private suspicious(nowMs: number, beats: ReadonlyMap<string, string>): boolean {
    let suspect = false;
    for (const [id, value] of beats) {
      if (id === this.o.nodeId) continue;
      const seen = this.observedThere.get(id);
      if (!seen || seen.value !== value) this.observedThere.set(id, { value, since: nowMs });
      else if (nowMs - seen.since >= this.o.leaseTimeoutMs) suspect = true;
    }
    for (const id of this.observedThere.keys()) if (!beats.has(id)) this.observedThere.delete(id);
    const since = nowMs - this.lastSqlReap;
    if (suspect || (this.unknownToCoordinator && since >= this.o.leaseTimeoutMs / 2)) return true;
    return this.o.coordinator!.sweeps && since >= SWEEP_LEASES * this.o.leaseTimeoutMs;
  }

  private async compact(nowMs: number): Promise<void> {
    // A cluster-wide chore: with a healthy coordinator, its sweeper's alone.
    if (this.o.coordinator && !this.o.coordinator.sweeps) return;
    // The first beat folds what accumulated while no node ran, then once a minute.
    if (this.lastCompact !== null && nowMs - this.lastCompact < COMPACT_EVERY_MS) return;
    this.lastCompact = nowMs;
    await this.o.beforeStoreWork();
    await this.o.store.aggregateCompact({ now: new Date(nowMs) });
  }

  /**
   * Indexes the search texts of jobs written since (PostgreSQL's backlog): batches until one
   * comes back short, up to SEARCH_PER_BEAT jobs a beat. Every node does it; they share the
   * work. After a beat that found nothing it looks again 1, 2, 4 … up to SEARCH_IDLE_BEATS
   * beats later, so an idle cluster does not ask every beat.
   */
  private async searchCatchUp(): Promise<void> {
    if (this.searchWait > 0) {
      this.searchWait -= 1;
      return;
    }
    let moved = 0;
    for (let batch = SEARCH_BATCH; batch === SEARCH_BATCH && moved < SEARCH_PER_BEAT && this.active;) {
      await this.o.beforeStoreWork();
      batch = await this.o.store.searchCatchUp({ limit: SEARCH_BATCH });
      moved += batch;
    }
    this.searchIdle = moved > 0 ? 0 : Math.min(SEARCH_IDLE_BEATS, Math.max(1, this.searchIdle * 2));
    this.searchWait = this.searchIdle;
  }

  private async retention(nowMs: number): Promise<void> {
    const { o } = this;
    if (o.retentionDays === null || nowMs - this.lastRetention < RETENTION_EVERY_MS) return;
    this.lastRetention = nowMs;
    const before = new Date(nowMs - o.retentionDays * 86_400_000);
    for (let purged = RETENTION_BATCH; purged === RETENTION_BATCH && this.active;) {
      await o.beforeStoreWork();
      purged = await o.store.jobPurge({ before, limit: RETENTION_BATCH });
    }
  }

  /** The next beat in `ms` (fixed rate while healthy; a beat still running is not doubled). */
  private schedule(ms: number): void {
    if (!this.active) return;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      this.schedule(this.o.intervalMs);
      if (!this.beating) void this.beat();
    }, ms);
  }
}
