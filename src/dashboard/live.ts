/**
 * The live stream: Server-Sent Events of job changes, status counts and node heartbeats.
 * Changes by this node arrive through tq.events at once; changes by other nodes and processes
 * are found by polling the store for rows updated since the last look (every 500 ms, only
 * while someone watches), so any change shows within a second whatever the store.
 */

import type { TickerQ } from "../tickerq.js";
import type { JobChange } from "../events.js";
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

  constructor(
    private readonly tq: AnyTickerQ,
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
    const { store } = this.tq;
    const local = this.pending.splice(0);
    const [page, time, occurrences, nodes] = await Promise.all([
      // After a full page, read on strictly after it: re-reading the overlap in a burst would stall.
      // Rows sharing the page's last instant may then go unnamed; the UI reloads on any change anyway.
      store.jobList({
        updatedSince: new Date(this.behind ? this.cursor : this.cursor - OVERLAP_MS),
        orderBy: "updatedAt",
        order: "asc",
        limit: PAGE,
      }),
      store.jobCountByStatus({ type: "TimeTicker" }),
      store.jobCountByStatus({ type: "CronTickerOccurrence" }),
      store.nodeList(),
    ]);
    const changes: Record<string, unknown>[] = local.map((c) => ({
      id: c.id,
      type: c.type,
      function: c.function,
      status: c.status,
      cronTickerId: c.cronTickerId,
      parentId: null,
    }));
    for (const job of page.items) {
      const at = job.updatedAt.getTime();
      if (this.seen.get(job.id) === at) continue;
      this.seen.set(job.id, at);
      this.cursor = Math.max(this.cursor, at);
      changes.push({
        id: job.id,
        type: job.type,
        function: job.function,
        status: job.status,
        cronTickerId: job.cronTickerId,
        parentId: job.parentId,
        updatedAt: job.updatedAt.toISOString(),
      });
    }
    this.behind = page.items.length === PAGE;
    for (const [id, at] of this.seen) if (at < this.cursor - 2 * OVERLAP_MS) this.seen.delete(id);
    if (changes.length > 0) this.broadcast("jobs", changes);
    const counts = JSON.stringify({ time, occurrences });
    if (counts !== this.lastCounts) {
      this.lastCounts = counts;
      this.broadcast("counts", { time, occurrences });
    }
    const now = this.now();
    const nodeViews = nodes.map((node) => nodeView(node, now, this.tq.options.leaseTimeoutMs, this.tq.nodeId));
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
