/**
 * Group commit for store writes: one write in flight at a time, and everything that arrives
 * meanwhile goes into the next one. Idle, a write costs one round trip; under load, batches
 * grow by themselves. A failed write is retried with backoff (the store may be restarting):
 * the jobs stay leased to this node, so nothing is lost while it retries. With a `key`, a batch
 * carries at most one item per key: a later one waits for the next write (a node's old and new
 * run of the same job each get their own answer).
 */

export class WriteBatcher<T, R> {
  private pending: { item: T; resolve: (result: R) => void; reject: (error: unknown) => void }[] = [];
  private running: Promise<void> | null = null;
  private closed = false;

  private readonly maxBatch: number;
  private readonly key: ((item: T) => string) | null;

  constructor(
    private readonly write: (items: T[]) => Promise<R>,
    private readonly onError: (error: unknown) => void,
    options: { maxBatch?: number; key?: (item: T) => string } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
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

  /** Stops retrying: what is still unwritten is rejected. */
  close(reason: unknown): void {
    this.closed = true;
    for (const entry of this.pending.splice(0)) entry.reject(reason);
  }

  /** The next write's entries, taken from `pending` in order (one per key). */
  private nextBatch() {
    const { key } = this;
    if (key === null) return this.pending.splice(0, this.maxBatch);
    const batch: typeof this.pending = [];
    const rest: typeof this.pending = [];
    const keys = new Set<string>();
    for (const entry of this.pending) {
      const k = key(entry.item);
      if (batch.length < this.maxBatch && !keys.has(k)) {
        keys.add(k);
        batch.push(entry);
      } else rest.push(entry);
    }
    this.pending = rest;
    return batch;
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
      } catch (error) {
        this.pending.unshift(...batch);
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    this.running = null;
  }
}
