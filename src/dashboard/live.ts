/**
 * The live stream: Server-Sent Events of job changes, status counts and node heartbeats.
 * The change feed follows the jobs' indexed updatedAt as its position: each look reads only
 * the rows changed since the last (every 500 ms while someone watches, at once after a change
 * by this node), so a look costs O(changes), and sends them as row deltas the browser patches
 * into what it shows. Counts come from the store's counters, read only after changes (and every
 * few seconds, for deletions by other processes, which leave no row behind).
 *
 * A deletion by another process has no row to send and no tombstone to follow (the stores keep
 * none): the list converges instead. When the counts of its kind shrink, and every 30 s, it asks
 * `GET /jobs-present` which of the jobs it shows still exist (a primary-key read each) and drops
 * the others. A deletion by this process is seen at once (its change event nudges the poll).
 */

import type { TickerQ } from "../tickerq.js";
import type { JobChange } from "../events.js";
import type { JobRecord } from "../store/contract.js";
import type { DashboardQueries } from "./queries.js";
import { nodeView } from "./views.js";

type AnyTickerQ = TickerQ<any>;

export interface LiveOptions {
  /** How often the store is polled while a stream is open. @default 500 */
  pollIntervalMs?: number;
  /** Comment lines that keep proxies from closing an idle stream. @default 15000 */
  keepAliveMs?: number;
}

interface Subscriber {
  send(chunk: string): void;
  close(): void;
}

/** A row changed this long before the newest one seen is looked at again: writers' clocks and commits are not in order. */
const OVERLAP_MS = 2000;
const PAGE = 500;
/** Counts are read again after this long even without a change seen (a deletion leaves no row to see). */
const COUNTS_EVERY_MS = 5000;
const encoder = new TextEncoder();

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class LiveHub {
  private readonly subscribers = new Set<Subscriber>();
  private readonly pollIntervalMs: number;
  private readonly keepAliveMs: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private keepAlive: ReturnType<typeof setInterval> | null = null;
  private offEvents: (() => void)[] = [];
  private cursor = 0;
  private readonly seen = new Map<string, number>();
  private lastCounts = "";
  private lastNodes = "";
  private pending: JobChange[] = [];
  private polling = false;
  /** The last poll filled a page: more changes wait to be read. */
  private behind = false;
  private closed = false;

  private countsAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly tq: AnyTickerQ,
    private readonly queries: DashboardQueries,
    options: LiveOptions = {},
  ) {
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.keepAliveMs = options.keepAliveMs ?? 15_000;
  }

  get size(): number {
    return this.subscribers.size;
  }

  /** A Response streaming events to one client until it disconnects. */
  stream(signal: AbortSignal): Response {
    let subscriber: Subscriber | null = null;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        subscriber = {
          send: (chunk) => {
            try {
              controller.enqueue(encoder.encode(chunk));
            } catch {
              this.remove(subscriber!);
            }
          },
          close: () => {
            try {
              controller.close();
            } catch {
              // already closed by the client
            }
          },
        };
        this.add(subscriber);
        signal.addEventListener("abort", () => subscriber && this.remove(subscriber), { once: true });
      },
      cancel: () => {
        if (subscriber) this.remove(subscriber);
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Looks at the store now (after an action), instead of at the next poll. */
  nudge(): void {
    if (this.subscribers.size === 0 || this.closed) return;
    this.schedule(30);
  }

  close(): void {
    this.closed = true;
    for (const subscriber of [...this.subscribers]) {
      subscriber.close();
      this.remove(subscriber);
    }
  }

  private add(subscriber: Subscriber): void {
    if (this.closed) {
      subscriber.close();
      return;
    }
    this.subscribers.add(subscriber);
    subscriber.send(
      `retry: 2000\n${frame("hello", { nodeId: this.tq.nodeId, serverTime: new Date(this.now()).toISOString() })}`,
    );
    if (this.subscribers.size === 1) this.begin();
    else {
      if (this.lastCounts) subscriber.send(frame("counts", JSON.parse(this.lastCounts)));
      if (this.lastNodes) subscriber.send(frame("nodes", JSON.parse(this.lastNodes)));
    }
  }

  private remove(subscriber: Subscriber): void {
    if (!this.subscribers.delete(subscriber)) return;
    if (this.subscribers.size === 0) this.end();
  }

  private now(): number {
    return this.tq.options.clock.now();
  }

  private begin(): void {
    this.cursor = this.now() - OVERLAP_MS;
    this.seen.clear();
    this.lastCounts = "";
    this.lastNodes = "";
    this.countsAt = Number.NEGATIVE_INFINITY;
    const onChanged = (change: JobChange) => {
      this.pending.push(change);
      this.schedule(30);
    };
    this.offEvents = [
      this.tq.events.on("changed", onChanged),
      this.tq.events.on("cronChanged", () => this.broadcast("cron", {})),
      this.tq.events.on("executed", () => this.schedule(30)),
      this.tq.events.on("paused", () => this.schedule(30)),
    ];
    this.keepAlive = setInterval(() => this.send(": keep-alive\n\n"), this.keepAliveMs);
    this.keepAlive.unref?.();
    this.schedule(0);
  }

  private end(): void {
    for (const off of this.offEvents) off();
    this.offEvents = [];
    if (this.timer) clearTimeout(this.timer);
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.timer = null;
    this.keepAlive = null;
    this.pending = [];
  }

  private schedule(delayMs: number): void {
    if (this.polling || this.subscribers.size === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), delayMs);
    this.timer.unref?.();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    this.polling = true;
    try {
      await this.pollOnce();
    } catch {
      // The store may be briefly unreachable; the next poll tries again and the UI keeps its data.
    } finally {
      this.polling = false;
      if (this.subscribers.size > 0 && !this.closed && !this.timer)
        this.schedule(this.behind ? 0 : this.pollIntervalMs);
    }
  }

  private async pollOnce(): Promise<void> {
    const local = this.pending.splice(0);
    const start = this.now();
    // After a full page, read on strictly after it: re-reading the overlap in a burst would stall.
    const since = this.behind ? this.cursor : this.cursor - OVERLAP_MS;
    const [changed, nodes] = await Promise.all([this.queries.changedSince(since, PAGE), this.queries.nodes()]);
    const rows = [];
    for (const job of changed) {
      const at = job.updatedAt.getTime();
      if (this.seen.get(job.id) === at) continue;
      this.seen.set(job.id, at);
      this.cursor = Math.max(this.cursor, at);
      rows.push(rowView(job));
    }
    this.behind = changed.length === PAGE;
    for (const [id, at] of this.seen) if (at < this.cursor - 2 * OVERLAP_MS) this.seen.delete(id);
    // The position only grows: a browser that reconnects knows how far it had followed.
    if (rows.length > 0) this.broadcast("jobs", { position: this.cursor, rows });
    if (rows.length > 0 || local.length > 0 || start - this.countsAt >= COUNTS_EVERY_MS || !this.lastCounts) {
      this.countsAt = start;
      const { time, occurrences } = await this.queries.counts();
      const counts = JSON.stringify({ time, occurrences });
      if (counts !== this.lastCounts) {
        this.lastCounts = counts;
        this.broadcast("counts", { time, occurrences });
      }
    }
    const now = this.now();
    const nodeViews = nodes.map((node) => nodeView(node, now, this.tq.options.leaseTimeoutMs, this.tq));
    const nodesText = JSON.stringify(nodeViews);
    if (nodesText !== this.lastNodes) {
      this.lastNodes = nodesText;
      this.broadcast("nodes", nodeViews);
    }
  }

  private broadcast(event: string, data: unknown): void {
    this.send(frame(event, data));
  }

  private send(chunk: string): void {
    for (const subscriber of [...this.subscribers]) subscriber.send(chunk);
  }
}

/** What a list row shows of a job: no request or stack, which can be large and are read on the job's page. */
export function rowView(job: JobRecord) {
  return {
    id: job.id,
    type: job.type,
    function: job.function,
    description: job.description,
    status: job.status,
    priority: job.priority,
    executionTime: job.executionTime?.toISOString() ?? null,
    scheduledFor: job.scheduledFor?.toISOString() ?? null,
    retries: job.retries,
    retryCount: job.retryCount,
    lockHolder: job.lockHolder,
    executedAt: job.executedAt?.toISOString() ?? null,
    elapsedMs: job.elapsedMs,
    exceptionMessage: job.exceptionMessage,
    parentId: job.parentId,
    cronTickerId: job.cronTickerId,
    updatedAt: job.updatedAt.toISOString(),
  };
}
