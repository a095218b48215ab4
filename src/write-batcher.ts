/**
 * Group commit for store writes: one write in flight at a time, and everything that arrives
 * meanwhile goes into the next one. Idle, a write costs one round trip; under load, batches
 * grow by themselves. A failed write is retried with backoff (the store may be restarting):
 * the jobs stay leased to this node, so nothing is lost while it retries. With a `key`, a batch
 * carries at most one item per key: a later one waits for the next write (a node's old and new
 * run of the same job each get their own answer).
 *
 * A batch the store refuses as a whole (too large for one statement or packet, or one bad row
 * in it) must not hold back the rest: after a failed write the next one takes half as many
 * items, down to one, and after a success the size doubles back towards `maxBatch`. While it
 * shrinks the backoff does not grow, so a batch too large is split within a few round trips;
 * an item refused on its own is retried behind the others. The backoff grows to 5 s; when the
 * node learns the store answers again (a heartbeat got through), retryNow() cuts the wait short.
 */

export class WriteBatcher<T, R> {
  private pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private running: Promise<void> | null = null;
  private closed = false;
  private closeReason: unknown = null;
  /** Ends the backoff a failed write is waiting out, when one is. */
  private endBackoff: (() => void) | null = null;

  private readonly maxBatch: number;
  /** The size of the next write: maxBatch, or less after failures (see the class comment). */
  private limit: number;
  private readonly key: ((item: T) => string) | null;

  constructor(
    private readonly write: (items: T[]) => Promise<R>,
    private readonly onError: (error: unknown) => void,
    options: { maxBatch?: number; key?: (item: T) => string } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
    this.limit = this.maxBatch;
    this.key = options.key ?? null;
  }

  /** Resolves with the result of the write that carried `item`. */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  get size(): number {
    return this.pending.length;
  }

  /** Resolves once everything added so far is written. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The store answers again: a write waiting out its backoff is retried now rather than up to
   * 5 s later, so work finished during an outage is written as soon as the outage ends.
   */
  retryNow(): void {
    this.endBackoff?.();
  }

  /** Stops retrying: what is still unwritten is rejected. */
  close(reason: unknown): void {
    this.closed = true;
    this.closeReason = reason;
    for (const entry of this.pending.splice(0)) entry.reject(reason);
  }

  /** The next write's entries, taken from `pending` in order (one per key). */
  private nextBatch() {
    const { key } = this;
    if (key === null) return this.pending.splice(0, this.limit);
    const batch: typeof this.pending = [];
    const rest: typeof this.pending = [];
    const keys = new Set<string>();
    for (const entry of this.pending) {
      const k = key(entry.item);
      if (batch.length < this.limit && !keys.has(k)) {
        keys.add(k);
        batch.push(entry);
      } else rest.push(entry);
    }
    this.pending = rest;
    return batch;
  }

  /**
   * An item refused on its own goes behind the others, so that one the store will never take
   * does not hold them back; before any later item with its key, which keeps their order.
   */
  private requeue(entry: (typeof this.pending)[number]): void {
    const { key } = this;
    const k = key?.(entry.item);
    const at = key === null ? -1 : this.pending.findIndex((other) => key(other.item) === k);
    if (at < 0) this.pending.push(entry);
    else this.pending.splice(at, 0, entry);
  }

  private async drain(): Promise<void> {
    // Let the synchronous burst that triggered us join the first batch.
    await Promise.resolve();
    let backoff = 50;
    while (this.pending.length > 0 && !this.closed) {
      const batch = this.nextBatch();
      try {
        const result = await this.write(batch.map((entry) => entry.item));
        for (const entry of batch) entry.resolve(result);
        backoff = 50;
        this.limit = Math.min(this.maxBatch, this.limit * 2);
      } catch (error) {
        this.onError(error);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => this.endBackoff?.(), backoff);
          this.endBackoff = () => {
            clearTimeout(timer);
            this.endBackoff = null;
            resolve();
          };
        });
        if (this.closed) {
          // Closed while this write failed: its items are rejected like the rest.
          for (const entry of batch) entry.reject(this.closeReason);
        } else if (batch.length > 1) {
          this.pending.unshift(...batch);
          this.limit = Math.ceil(batch.length / 2);
        } else {
          this.requeue(batch[0]!);
          backoff = Math.min(backoff * 2, 5000);
        }
      }
    }
    this.running = null;
  }
}
