/** Promises still under way, kept so that shutdown and tests can wait until none is left. */
export class InFlight {
  private readonly pending = new Set<Promise<unknown>>();

  get size(): number {
    return this.pending.size;
  }

  /** Tracks `promise` until it settles, whether it resolves or rejects. */
  add(promise: Promise<unknown>): void {
    this.pending.add(promise);
    const settled = () => this.pending.delete(promise);
    promise.then(settled, settled);
  }

  /** Resolves once every promise added, including those added while waiting, has settled. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
