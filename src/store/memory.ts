/**
 * The in-memory store: tickerq's default. It keeps the whole contract in one process, so
 * several TickerQ instances sharing one memoryStore() behave like nodes sharing a database.
 * Nothing survives a restart; use a SQL store for that.
 */

import {
  childRuns,
  isFinal,
  PRIORITIES,
  PRIORITY_RANK,
  type FinalStatus,
  type TickerStatus,
  TICKER_STATUSES,
} from "../lifecycle.js";
import { TickerQError } from "../errors.js";
import { SignalHub } from "./signals.js";
import { newJobRecord } from "./new-record.js";
import { DueHeap, type DueEntry } from "./due-heap.js";
import type {
  AttemptRecord,
  CancelResult,
  CronTickerQuery,
  CronTickerRecord,
  JobCompletion,
  JobQuery,
  JobRecord,
  NewCronTicker,
  NewJob,
  NodeInfo,
  NodeRecord,
  Page,
  Store,
  StoreSignal,
  UpdateResult,
} from "./contract.js";

export interface MemoryStoreOptions {
  /** Name shown in logs and the dashboard. @default "memory" */
  name?: string;
}

export function memoryStore(options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options.name ?? "memory");
}

const clone = <T extends object>(value: T): T => ({ ...value });

class MemoryStore implements Store {
  readonly capabilities = { signalsAcrossProcesses: false, callerTransactions: false, shared: false };
  private readonly jobs = new Map<string, JobRecord>();
  private readonly attempts = new Map<string, AttemptRecord[]>();
  private readonly cronTickers = new Map<string, CronTickerRecord>();
  /** `${cronTickerId}|${epoch ms}` of every occurrence, for the uniqueness rule. */
  private readonly occurrenceKeys = new Set<string>();
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly signals = new SignalHub();
  /** Idle jobs with a due time, one heap per priority rank: claims and next-due in O(log n). */
  private readonly due = [new DueHeap(), new DueHeap(), new DueHeap(), new DueHeap()];
  /** parent id → child ids, so children are found without a scan. */
  private readonly childrenOf = new Map<string, Set<string>>();
  /** Jobs leased to a node (Queued or InProgress): what recovery and cancel polls look at. */
  private readonly held = new Set<string>();

  constructor(readonly name: string) {}

  async init(): Promise<void> {}

  async close(): Promise<void> {}

  async jobInsertMany({ jobs }: { jobs: readonly NewJob[] }): Promise<void> {
    const seen = new Set<string>();
    for (const job of jobs) {
      if (this.jobs.has(job.id) || seen.has(job.id)) {
        throw new TickerQError("INVALID_ARGUMENT", `id ${JSON.stringify(job.id)} already exists`);
      }
      seen.add(job.id);
    }
    let earliest: Date | null = null;
    for (const job of jobs) {
      this.jobs.set(job.id, this.newRecord(job));
      if (job.executionTime && (!earliest || job.executionTime < earliest)) earliest = job.executionTime;
    }
    if (earliest) this.signals.emit({ type: "due", at: earliest });
  }

  async jobGet({ id }: { id: string }): Promise<JobRecord | null> {
    const job = this.jobs.get(id);
    return job ? clone(job) : null;
  }

  async jobList(query: JobQuery): Promise<Page<JobRecord>> {
    const matches = [...this.jobs.values()].filter((job) => matchesQuery(job, query));
    const key = query.orderBy ?? "executionTime";
    const sign = query.order === "asc" ? 1 : -1;
    matches.sort((a, b) => {
      const x = a[key]?.getTime() ?? Number.POSITIVE_INFINITY * sign;
      const y = b[key]?.getTime() ?? Number.POSITIVE_INFINITY * sign;
      return x === y ? a.id.localeCompare(b.id) : (x - y) * sign;
    });
    const offset = query.offset ?? 0;
    const page = matches.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
    return { items: page.map(clone), total: matches.length };
  }

  async jobCountByStatus(query: Pick<JobQuery, "type" | "cronTickerId" | "function">) {
    const counts = Object.fromEntries(TICKER_STATUSES.map((s) => [s, 0])) as Record<TickerStatus, number>;
    for (const job of this.jobs.values()) if (matchesQuery(job, query)) counts[job.status]++;
    return counts;
  }

  async jobUpdateIdle({ id, patch, now }: { id: string; patch: Partial<JobRecord>; now: Date }): Promise<UpdateResult> {
    const job = this.jobs.get(id);
    if (!job) return { ok: false, reason: "not-found" };
    if (job.status !== "Idle") return { ok: false, reason: "wrong-status", status: job.status };
    Object.assign(job, patch, { updatedAt: now });
    if (patch.executionTime && !job.cronTickerId) job.scheduledFor = patch.executionTime;
    this.schedule(job);
    if (patch.executionTime) this.signals.emit({ type: "due", at: patch.executionTime });
    return { ok: true, job: clone(job) };
  }

  async jobRequeue({ id, now }: { id: string; now: Date }): Promise<UpdateResult> {
    const job = this.jobs.get(id);
    if (!job) return { ok: false, reason: "not-found" };
    if (job.status !== "Failed" && job.status !== "Cancelled" && job.status !== "Skipped") {
      return { ok: false, reason: "wrong-status", status: job.status };
    }
    Object.assign(job, {
      status: "Idle",
      executionTime: now,
      retryCount: 0,
      lockHolder: null,
      lockedAt: null,
      cancelRequested: false,
      updatedAt: now,
    });
    this.schedule(job);
    this.signals.emit({ type: "due", at: now });
    return { ok: true, job: clone(job) };
  }

  async jobDeleteMany({ ids }: { ids: readonly string[] }): Promise<number> {
    let deleted = 0;
    const queue = [...ids];
    while (queue.length > 0) {
      const id = queue.pop()!;
      const job = this.jobs.get(id);
      if (!job) continue;
      queue.push(...(this.childrenOf.get(id) ?? []));
      this.removeJob(job);
      deleted++;
    }
    return deleted;
  }

  async jobNextDue(): Promise<Date | null> {
    let next: number | null = null;
    for (const [rank, heap] of this.due.entries()) {
      const top = heap.peek(this.isDue[rank]!);
      if (top && (next === null || top.at < next)) next = top.at;
    }
    return next === null ? null : new Date(next);
  }

  async jobClaimDue(params: {
    nodeId: string;
    now: Date;
    until: Date;
    limit: number;
    longRunningLimit: number;
    startLimit?: number;
  }) {
    const until = params.until.getTime();
    // Pick first, then lease: children started by these starts wait for the next claim.
    const picked: JobRecord[] = [];
    let slotted = 0;
    for (let rank = 0; rank < this.due.length; rank++) {
      const heap = this.due[rank]!;
      const longRunning = rank === 3;
      let room = longRunning ? params.longRunningLimit : params.limit - slotted;
      while (room-- > 0) {
        const top = heap.peek(this.isDue[rank]!);
        if (!top || top.at > until) break;
        heap.pop();
        const job = this.jobs.get(top.id)!;
        job.status = "Queued"; // at once: a duplicate heap entry for it is now stale
        picked.push(job);
        if (!longRunning) slotted++;
      }
    }
    const claimed: JobRecord[] = [];
    let starts = params.startLimit ?? 0;
    for (const job of picked) {
      Object.assign(job, { status: "Queued", lockHolder: params.nodeId, lockedAt: params.now, updatedAt: params.now });
      this.held.add(job.id);
      const dueNow = job.executionTime! <= params.now;
      if (dueNow && (job.priority === "LongRunning" || starts-- > 0)) this.start(job, params.now);
      claimed.push(clone(job));
    }
    return claimed;
  }

  async jobStartMany({ ids, nodeId, at }: { ids: readonly string[]; nodeId: string; at: Date }): Promise<string[]> {
    const started: string[] = [];
    for (const id of ids) {
      const job = this.jobs.get(id);
      if (!job || job.status !== "Queued" || job.lockHolder !== nodeId) continue;
      this.start(job, at);
      started.push(id);
    }
    return started;
  }

  /** Queued → InProgress, and the children that run with it become due. */
  private start(job: JobRecord, at: Date): void {
    Object.assign(job, { status: "InProgress", executedAt: at, updatedAt: at });
    for (const child of this.children(job.id)) {
      if (child.status === "Idle" && child.runCondition === "InProgress") this.activate(child, at);
    }
  }

  async jobCompleteMany({ completions }: { completions: readonly JobCompletion[] }): Promise<void> {
    for (const done of completions) {
      const job = this.jobs.get(done.id);
      if (!job || job.lockHolder !== done.nodeId || (job.status !== "InProgress" && job.status !== "Queued")) continue;
      this.appendAttempt(done.attempt);
      this.held.delete(job.id);
      Object.assign(job, {
        elapsedMs: done.elapsedMs,
        exceptionMessage: done.exceptionMessage,
        exceptionDetails: done.exceptionDetails,
        lockHolder: null,
        lockedAt: null,
        cancelRequested: false,
        updatedAt: done.finishedAt,
      });
      if (done.status === "Idle") {
        job.status = "Idle";
        job.retryCount++;
        job.executionTime = done.retryAt ?? done.finishedAt;
        this.schedule(job);
        this.signals.emit({ type: "due", at: job.executionTime });
      } else {
        this.finish(job, done.status, done.finishedAt);
      }
    }
  }

  async jobRelease({ ids, nodeId, now }: { ids: readonly string[]; nodeId: string; now: Date }): Promise<void> {
    let earliest: Date | null = null;
    for (const id of ids) {
      const job = this.jobs.get(id);
      if (!job || job.lockHolder !== nodeId || isFinal(job.status)) continue;
      Object.assign(job, { status: "Idle", lockHolder: null, lockedAt: null, updatedAt: now });
      this.held.delete(id);
      this.schedule(job);
      if (job.executionTime && (!earliest || job.executionTime < earliest)) earliest = job.executionTime;
    }
    if (earliest) this.signals.emit({ type: "due", at: earliest });
  }

  async jobCancel({ id, now }: { id: string; now: Date }): Promise<CancelResult> {
    const job = this.jobs.get(id);
    if (!job) return "not-found";
    if (isFinal(job.status)) return "final";
    if (job.status === "InProgress") {
      Object.assign(job, { cancelRequested: true, updatedAt: now });
      this.signals.emit({ type: "cancel", id });
      return "requested";
    }
    const held = job.status === "Queued";
    Object.assign(job, { lockHolder: null, lockedAt: null });
    this.held.delete(id);
    this.finish(job, "Cancelled", now);
    if (held) this.signals.emit({ type: "cancel", id }); // its holder drops it
    return "cancelled";
  }

  async jobCancelRequested({ nodeId }: { nodeId: string }): Promise<string[]> {
    const ids: string[] = [];
    for (const id of this.held) {
      const job = this.jobs.get(id)!;
      if (job.cancelRequested && job.lockHolder === nodeId && job.status === "InProgress") ids.push(job.id);
    }
    return ids;
  }

  async jobRunningCount(params: {
    cronTickerId: string | null;
    function: string;
    excludeId: string;
    startedBefore?: { at: Date; id: string };
  }) {
    let count = 0;
    const before = params.startedBefore;
    for (const id of this.held) {
      const job = this.jobs.get(id)!;
      if (job.status !== "InProgress" || job.id === params.excludeId) continue;
      if (before && job.executedAt) {
        const delta = job.executedAt.getTime() - before.at.getTime();
        if (delta > 0 || (delta === 0 && job.id >= before.id)) continue;
      }
      const same = params.cronTickerId ? job.cronTickerId === params.cronTickerId : job.function === params.function;
      if (same) count++;
    }
    return count;
  }

  async jobRecoverLeases(params: { now: Date; staleBefore: Date; deadNodeIds?: readonly string[] }) {
    const dead = new Set(params.deadNodeIds ?? []);
    const isDead = (nodeId: string) => {
      if (dead.has(nodeId)) return true;
      const node = this.nodes.get(nodeId);
      return !node || node.heartbeatAt < params.staleBefore;
    };
    const recovered: string[] = [];
    for (const id of [...this.held]) {
      const job = this.jobs.get(id)!;
      if ((job.status !== "Queued" && job.status !== "InProgress") || !job.lockHolder || !isDead(job.lockHolder)) {
        continue;
      }
      if (job.status === "InProgress") {
        const startedAt = job.executedAt ?? job.lockedAt ?? params.now;
        this.appendAttempt({
          jobId: job.id,
          attempt: job.retryCount,
          status: "Failed",
          nodeId: job.lockHolder,
          startedAt,
          finishedAt: params.now,
          elapsedMs: params.now.getTime() - startedAt.getTime(),
          exceptionMessage: `node ${job.lockHolder} stopped heartbeating during this attempt`,
          exceptionDetails: null,
        });
        job.retryCount++;
        job.exceptionMessage = `node ${job.lockHolder} stopped heartbeating during this attempt`;
      }
      Object.assign(job, { status: "Idle", lockHolder: null, lockedAt: null, updatedAt: params.now });
      this.held.delete(job.id);
      this.schedule(job);
      recovered.push(job.id);
    }
    if (recovered.length > 0) this.signals.emit({ type: "due", at: params.now });
    return recovered;
  }

  async jobPurge({ before, limit }: { before: Date; limit: number }): Promise<number> {
    const old = [...this.jobs.values()].filter(
      (job) => isFinal(job.status) && job.updatedAt < before && !this.hasPendingChildren(job.id),
    );
    for (const job of old.slice(0, limit)) this.removeJob(job);
    return Math.min(old.length, limit);
  }

  async attemptList({ jobId }: { jobId: string }): Promise<AttemptRecord[]> {
    return (this.attempts.get(jobId) ?? []).map(clone);
  }

  async cronTickerInsert({ cronTicker }: { cronTicker: NewCronTicker }): Promise<void> {
    if (this.cronTickers.has(cronTicker.id)) {
      throw new TickerQError("INVALID_ARGUMENT", `id ${JSON.stringify(cronTicker.id)} already exists`);
    }
    this.cronTickers.set(cronTicker.id, { ...cronTicker, updatedAt: cronTicker.createdAt });
    this.signals.emit({ type: "cron" });
  }

  async cronTickerGet({ id }: { id: string }): Promise<CronTickerRecord | null> {
    const ticker = this.cronTickers.get(id);
    return ticker ? clone(ticker) : null;
  }

  async cronTickerList(query: CronTickerQuery): Promise<Page<CronTickerRecord>> {
    const matches = [...this.cronTickers.values()]
      .filter(
        (t) =>
          (query.function === undefined || t.function === query.function) &&
          (query.enabled === undefined || t.enabled === query.enabled),
      )
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
    const offset = query.offset ?? 0;
    const page = matches.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
    return { items: page.map(clone), total: matches.length };
  }

  async cronTickerUpdate({ id, patch, now }: { id: string; patch: Partial<CronTickerRecord>; now: Date }) {
    const ticker = this.cronTickers.get(id);
    if (!ticker) return null;
    Object.assign(ticker, patch, { updatedAt: now });
    this.deleteIdleOccurrences(id);
    this.signals.emit({ type: "cron" });
    return clone(ticker);
  }

  async cronTickerDelete({ id }: { id: string }): Promise<boolean> {
    if (!this.cronTickers.delete(id)) return false;
    for (const job of [...this.jobs.values()]) if (job.cronTickerId === id) this.removeJob(job);
    this.signals.emit({ type: "cron" });
    return true;
  }

  async cronTickerSeed({ cronTickers, now }: { cronTickers: readonly NewCronTicker[]; now: Date }) {
    const result: CronTickerRecord[] = [];
    let changed = false;
    for (const seed of cronTickers) {
      const existing = [...this.cronTickers.values()].find((t) => t.seededBy === seed.seededBy);
      if (!existing) {
        const record = { ...seed, updatedAt: now };
        this.cronTickers.set(seed.id, record);
        result.push(clone(record));
        changed = true;
        continue;
      }
      if (existing.expression !== seed.expression || existing.timeZone !== seed.timeZone) {
        Object.assign(existing, { expression: seed.expression, timeZone: seed.timeZone, updatedAt: now });
        this.deleteIdleOccurrences(existing.id);
        changed = true;
      }
      result.push(clone(existing));
    }
    if (changed) this.signals.emit({ type: "cron" });
    return result;
  }

  async occurrenceInsertMany({ occurrences }: { occurrences: readonly NewJob[] }): Promise<number> {
    let inserted = 0;
    let earliest: Date | null = null;
    for (const occurrence of occurrences) {
      const key = `${occurrence.cronTickerId}|${occurrence.executionTime?.getTime()}`;
      if (this.occurrenceKeys.has(key) || this.jobs.has(occurrence.id)) continue;
      this.jobs.set(occurrence.id, this.newRecord(occurrence));
      inserted++;
      if (occurrence.executionTime && (!earliest || occurrence.executionTime < earliest)) {
        earliest = occurrence.executionTime;
      }
    }
    if (earliest) this.signals.emit({ type: "due", at: earliest });
    return inserted;
  }

  async nodeHeartbeat({ nodeId, at, info }: { nodeId: string; at: Date; info: NodeInfo }) {
    const node = this.nodes.get(nodeId);
    if (node) {
      Object.assign(node, { heartbeatAt: at, info: { ...info } });
      return { paused: node.paused };
    }
    this.nodes.set(nodeId, { nodeId, startedAt: at, heartbeatAt: at, paused: false, info: { ...info } });
    return { paused: false };
  }

  async nodeList(): Promise<NodeRecord[]> {
    return [...this.nodes.values()].map((node) => ({ ...node, info: { ...node.info } }));
  }

  async nodeSetPaused({ nodeId, paused }: { nodeId: string; paused: boolean }): Promise<boolean> {
    const node = this.nodes.get(nodeId);
    if (!node) return false;
    node.paused = paused;
    this.signals.emit({ type: "node", nodeId });
    return true;
  }

  async nodeRemove({ nodeId }: { nodeId: string }): Promise<void> {
    this.nodes.delete(nodeId);
  }

  async signalPublish(signal: StoreSignal): Promise<void> {
    this.signals.emit(signal);
  }

  signalSubscribe(listener: (signal: StoreSignal) => void): () => void {
    return this.signals.subscribe(listener);
  }

  private newRecord(job: NewJob): JobRecord {
    if (job.cronTickerId) this.occurrenceKeys.add(`${job.cronTickerId}|${job.executionTime?.getTime()}`);
    if (job.parentId) {
      const siblings = this.childrenOf.get(job.parentId) ?? new Set<string>();
      this.childrenOf.set(job.parentId, siblings.add(job.id));
    }
    const record = newJobRecord(job);
    this.schedule(record);
    return record;
  }

  /** An Idle job with a due time enters its priority's heap (older entries go stale). */
  private schedule(job: JobRecord): void {
    if (job.status === "Idle" && job.executionTime) {
      this.due[PRIORITY_RANK[job.priority]]!.push({ at: job.executionTime.getTime(), id: job.id });
    }
  }

  /** Per priority rank: whether a heap entry still stands for an Idle job of that rank due at that time. */
  private readonly isDue = PRIORITIES.map((_, rank) => (entry: DueEntry): boolean => {
    const job = this.jobs.get(entry.id);
    return (
      !!job &&
      job.status === "Idle" &&
      job.executionTime?.getTime() === entry.at &&
      PRIORITY_RANK[job.priority] === rank
    );
  });

  private children(parentId: string): JobRecord[] {
    const ids = this.childrenOf.get(parentId);
    return ids ? [...ids].map((id) => this.jobs.get(id)!).filter(Boolean) : [];
  }

  private removeJob(job: JobRecord): void {
    this.jobs.delete(job.id);
    this.held.delete(job.id);
    this.childrenOf.delete(job.id);
    if (job.parentId) this.childrenOf.get(job.parentId)?.delete(job.id);
    this.attempts.delete(job.id);
    if (job.cronTickerId && job.scheduledFor)
      this.occurrenceKeys.delete(`${job.cronTickerId}|${job.scheduledFor.getTime()}`);
  }

  private appendAttempt(attempt: AttemptRecord): void {
    const list = this.attempts.get(attempt.jobId) ?? [];
    list.push({ ...attempt });
    this.attempts.set(attempt.jobId, list);
  }

  /** Ends a job and lets each waiting child run or be skipped, by its run condition. */
  private finish(job: JobRecord, status: FinalStatus, at: Date): void {
    Object.assign(job, { status, updatedAt: at });
    for (const child of this.children(job.id)) {
      if (child.status !== "Idle" || child.executionTime !== null) continue;
      if (child.runCondition && childRuns(child.runCondition, status)) this.activate(child, at);
      else this.skipSubtree(child, at);
    }
  }

  /** A child whose condition is not met never runs, so neither does anything below it. */
  private skipSubtree(job: JobRecord, at: Date): void {
    Object.assign(job, { status: "Skipped", updatedAt: at });
    for (const child of this.children(job.id)) if (child.status === "Idle") this.skipSubtree(child, at);
  }

  private activate(child: JobRecord, at: Date): void {
    Object.assign(child, { executionTime: at, scheduledFor: at, updatedAt: at });
    this.schedule(child);
    this.signals.emit({ type: "due", at });
  }

  private deleteIdleOccurrences(cronTickerId: string): void {
    for (const job of [...this.jobs.values()]) {
      if (job.cronTickerId === cronTickerId && job.status === "Idle") this.removeJob(job);
    }
  }

  private hasPendingChildren(id: string): boolean {
    return this.children(id).some((child) => !isFinal(child.status));
  }
}

function matchesQuery(job: JobRecord, query: JobQuery): boolean {
  if (query.type !== undefined && job.type !== query.type) return false;
  if (query.status !== undefined) {
    const statuses: readonly TickerStatus[] = typeof query.status === "string" ? [query.status] : query.status;
    if (!statuses.includes(job.status)) return false;
  }
  if (query.function !== undefined && job.function !== query.function) return false;
  if (query.cronTickerId !== undefined && job.cronTickerId !== query.cronTickerId) return false;
  if (query.parentId !== undefined && job.parentId !== query.parentId) return false;
  if (query.from && (!job.executionTime || job.executionTime < query.from)) return false;
  if (query.to && (!job.executionTime || job.executionTime >= query.to)) return false;
  if (query.updatedSince && job.updatedAt <= query.updatedSince) return false;
  if (query.search) {
    const needle = query.search.toLowerCase();
    const haystack = `${job.id} ${job.function} ${job.description ?? ""}`.toLowerCase();
    if (!haystack.includes(needle)) return false;
  }
  return true;
}
