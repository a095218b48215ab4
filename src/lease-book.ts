/**
 * The leases this node holds, by job: the fencing token each claim returned, from the claim
 * until the job's last write (completion or release) has landed. Heartbeats compare it with
 * what the store says this node holds, which finds both directions of disagreement: leases
 * the store gave this node that it never learnt of (a claim whose reply was lost), and leases
 * this node still acts on that the store gave to someone else (recovered while this node was
 * paused or cut off).
 */

import type { JobLease } from "./store/contract.js";

export class LeaseBook {
  private readonly tokens = new Map<string, number>();
  /** Jobs whose last write is in flight: the store may already have let them go. */
  private readonly closing = new Set<string>();
  private queue: Promise<unknown> = Promise.resolve();
  /** The last comparison found no lease in the store, and no claim ran since. */
  private storeEmpty = false;

  /**
   * Runs `work` when no other exclusive work runs. Claims and reconciliation take turns
   * through it: a claim in flight has leased jobs the book does not show yet, which a
   * comparison meanwhile would take for strays.
   */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.turn(() => {
      // A claim: leases may reach the store that this book does not show (a lost reply).
      this.storeEmpty = false;
      return work();
    });
  }

  /** Runs a comparison with the store (`diff`) in turn with claims; it is not one itself. */
  comparing<T>(work: () => Promise<T>): Promise<T> {
    return this.turn(work);
  }

  /**
   * Nothing to compare: this node holds no lease, and the store held none of its at the last
   * comparison with no claim since (leases reach the store only through this node's claims),
   * so the store's list would be empty. An idle node skips that query.
   */
  get inStep(): boolean {
    return this.storeEmpty && this.tokens.size === 0;
  }

  private turn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }

  get size(): number {
    return this.tokens.size;
  }

  add(leases: readonly JobLease[]): void {
    for (const lease of leases) {
      this.tokens.set(lease.id, lease.leaseToken);
      this.closing.delete(lease.id);
    }
  }

  /** The lease this node holds on `id`; a job it does not hold gets a token no row carries. */
  lease(id: string): JobLease {
    return { id, leaseToken: this.tokens.get(id) ?? -1 };
  }

  has(id: string): boolean {
    return this.tokens.has(id);
  }

  /**
   * The last write under `lease` is under way: a heartbeat meanwhile does not count it as lost.
   * A lease the book no longer holds (this node claimed the job again since) is not touched.
   */
  closingWrite(lease: JobLease): void {
    if (this.tokens.get(lease.id) === lease.leaseToken) this.closing.add(lease.id);
  }

  /** Forgets the job's lease: a `JobLease` only if the book still holds that one. */
  forget(job: string | JobLease): void {
    if (typeof job !== "string" && this.tokens.get(job.id) !== job.leaseToken) return;
    const id = typeof job === "string" ? job : job.id;
    this.tokens.delete(id);
    this.closing.delete(id);
  }

  /** Forgets every lease (this node fenced itself); returns them. */
  clear(): JobLease[] {
    const all = [...this.tokens].map(([id, leaseToken]) => ({ id, leaseToken }));
    this.tokens.clear();
    this.closing.clear();
    return all;
  }

  /**
   * Compares with the leases the store has for this node. `stray`: held in the store, unknown
   * here (or under another token): to be released. `lost`: held here, no longer in the store
   * under this token, with no write of ours under way that would explain it.
   */
  diff(stored: readonly JobLease[]): { stray: JobLease[]; lost: string[] } {
    this.storeEmpty = stored.length === 0;
    const inStore = new Map(stored.map((lease) => [lease.id, lease.leaseToken]));
    const stray = stored.filter((lease) => this.tokens.get(lease.id) !== lease.leaseToken);
    const lost: string[] = [];
    for (const [id, token] of this.tokens) {
      if (inStore.get(id) !== token && !this.closing.has(id)) lost.push(id);
    }
    return { stray, lost };
  }
}
