/**
 * "Apply to all matching": retry, cancel or delete every job a list filter matches, however
 * many, on the server in batches, with progress the UI polls. The list is walked by keyset on
 * createdAt, so jobs an action moves out of the filter (a retried Failed job) are not met again
 * and the walk ends; jobs added after the start are left alone.
 */

import { randomUUID } from "node:crypto";
import type { TickerQ } from "../tickerq.js";
import type { JobQuery } from "../store/contract.js";
import type { DashboardQueries } from "./queries.js";

type AnyTickerQ = TickerQ<any>;

export type BulkAction = "retry" | "cancel" | "delete";

export interface BulkProgress {
  id: string;
  action: BulkAction;
  /** Matches when the operation started (from the counters or a count). */
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  /** The first few refusals, for the operator. */
  errors: { id: string; message: string }[];
  finished: boolean;
}

const BATCH = 500;
const KEEP = 20;

export class BulkOperations {
  private readonly operations = new Map<string, BulkProgress>();

  constructor(
    private readonly tq: AnyTickerQ,
    private readonly queries: DashboardQueries,
    private readonly onChange: () => void,
  ) {}

  get(id: string): BulkProgress | null {
    const op = this.operations.get(id);
    return op ? { ...op, errors: [...op.errors] } : null;
  }

  /** Starts the operation and returns at once; it runs batch by batch, yielding between batches. */
  async start(action: BulkAction, filter: Omit<JobQuery, "orderBy" | "order" | "after" | "limit" | "offset">) {
    const total = (await this.queries.jobPage({ ...filter, limit: 0 })).total;
    const op: BulkProgress = {
      id: randomUUID(),
      action,
      total,
      done: 0,
      succeeded: 0,
      failed: 0,
      errors: [],
      finished: false,
    };
    this.operations.set(op.id, op);
    while (this.operations.size > KEEP) this.operations.delete(this.operations.keys().next().value!);
    void this.run(op, filter).finally(() => {
      op.finished = true;
      this.onChange();
    });
    return this.get(op.id)!;
  }

  private async run(op: BulkProgress, filter: JobQuery): Promise<void> {
    const startedAt = this.tq.options.clock.now();
    let after: JobQuery["after"];
    for (;;) {
      const page = await this.queries.jobPage({
        ...filter,
        orderBy: "createdAt",
        order: "asc",
        limit: BATCH,
        after,
        withTotal: false,
      } as JobQuery);
      const jobs = page.items.filter((job) => job.createdAt.getTime() <= startedAt);
      if (jobs.length === 0) return;
      const last = page.items[page.items.length - 1]!;
      after = { value: last.createdAt, id: last.id };
      if (op.action === "delete") {
        const deleted = await this.queries.deleteJobs(jobs.map((job) => job.id));
        op.succeeded += deleted;
        op.done += jobs.length;
      } else {
        for (const job of jobs) {
          try {
            if (op.action === "retry") await this.tq.retry(job.id);
            else {
              const result = await this.tq.cancel(job.id);
              if (result === "not-found" || result === "final")
                throw new Error(result === "final" ? "already ended" : "not found");
            }
            op.succeeded++;
          } catch (error) {
            op.failed++;
            if (op.errors.length < 5)
              op.errors.push({ id: job.id, message: error instanceof Error ? error.message : String(error) });
          }
          op.done++;
        }
      }
      this.onChange();
      if (page.items.length < BATCH) return;
      // Let requests and the engine in between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
