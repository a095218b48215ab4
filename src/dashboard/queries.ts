/**
 * The dashboard's reads, named for what its pages and stream need: the one place the dashboard
 * touches the store. Counts come from the store's counters and history from its run rollup,
 * so every answer costs the same at a million jobs as at a thousand; lists page by keyset.
 */

import { FINAL_STATUSES, TICKER_STATUSES, type TickerStatus, type TickerType } from "../lifecycle.js";
import {
  SPAN_MS,
  SUCCEEDED,
  binQuantile,
  functionStats,
  HISTOGRAM_BINS,
  type FunctionStats,
  type RollupSpan,
  type RunRollup,
} from "../store/aggregates.js";
import type { AttemptRecord, CronTickerRecord, JobQuery, JobRecord, NodeRecord, Store } from "../store/contract.js";

export type StatusCounts = Record<TickerStatus, number>;

export interface Counts {
  time: StatusCounts;
  occurrences: StatusCounts;
}

/** The overview's history windows: what each shows and in which buckets. */
export const WINDOWS = {
  hour: { span: "minute", ms: 3_600_000 },
  day: { span: "hour", ms: 86_400_000 },
  week: { span: "hour", ms: 7 * 86_400_000 },
} as const satisfies Record<string, { span: RollupSpan; ms: number }>;

export type HistoryWindow = keyof typeof WINDOWS;

export interface HistoryBucket {
  t: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  skipped: number;
}

export interface History {
  window: HistoryWindow;
  spanMs: number;
  buckets: HistoryBucket[];
  lateness: { samples: number; p50: number | null; p95: number | null };
  functions: FunctionStats[];
}

export interface JobPage {
  /** Each job with its child count and the node of its latest attempt (null: never run). */
  items: (JobRecord & { childCount: number; lastNodeId: string | null })[];
  /** Every match; from the counters when the filter is only type, status and function. */
  total: number;
}

/** Where an attention-ordered page ended: the section and the last job's sort value and id. */
export interface AttentionCursor {
  section: number;
  value: Date | null;
  id: string;
}

const ATTENTION: readonly {
  statuses: TickerStatus[];
  orderBy: "executionTime" | "updatedAt";
  order: "asc" | "desc";
}[] = [
  { statuses: ["InProgress", "Queued"], orderBy: "executionTime", order: "asc" },
  { statuses: ["Idle"], orderBy: "executionTime", order: "asc" },
  { statuses: [...FINAL_STATUSES], orderBy: "updatedAt", order: "desc" },
];

/** How often the dashboard folds the aggregates' increments while it is in use. */
const COMPACT_EVERY_MS = 10_000;

/** A promise read later, maybe never (a page filled by an earlier section): its failure is not unhandled meanwhile. */
function settledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

const zero = (): StatusCounts => Object.fromEntries(TICKER_STATUSES.map((s) => [s, 0])) as StatusCounts;

export class DashboardQueries {
  private lastCompact = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
  ) {}

  get storeName(): string {
    return this.store.name;
  }

  /** Folds the aggregates now and then while the dashboard reads them; a failure is left to the next one. */
  private compactSoon(): void {
    const at = this.now();
    if (at - this.lastCompact < COMPACT_EVERY_MS) return;
    this.lastCompact = at;
    void this.store.aggregateCompact({ now: new Date(at) }).catch(() => {});
  }

  /** Jobs per status for time tickers and for occurrences, and per function. */
  async counts(): Promise<Counts & { byFunction: Record<string, StatusCounts> }> {
    this.compactSoon();
    const rows = await this.store.jobCountList();
    const counts = { time: zero(), occurrences: zero(), byFunction: {} as Record<string, StatusCounts> };
    for (const row of rows) {
      (row.type === "TimeTicker" ? counts.time : counts.occurrences)[row.status] += row.count;
      (counts.byFunction[row.function] ??= zero())[row.status] += row.count;
    }
    return counts;
  }

  nextDue(): Promise<JobRecord | null> {
    return this.store
      .jobList({ status: "Idle", orderBy: "executionTime", order: "asc", limit: 1, withTotal: false })
      .then((page) => page.items[0] ?? null);
  }

  running(limit: number): Promise<JobRecord[]> {
    return this.store
      .jobList({ status: "InProgress", orderBy: "executionTime", order: "asc", limit, withTotal: false })
      .then((page) => page.items);
  }

  nodes(): Promise<NodeRecord[]> {
    return this.store.nodeList();
  }

  /** Finished runs over the window ending now: buckets for the chart, lateness, per-function stats. */
  async history(window: HistoryWindow): Promise<History> {
    this.compactSoon();
    const { span, ms } = WINDOWS[window];
    const spanMs = SPAN_MS[span];
    const end = Math.floor(this.now() / spanMs) * spanMs + spanMs;
    const start = end - ms;
    const rollups: RunRollup[] = await this.store.runRollupList({ span, from: new Date(start), to: new Date(end) });
    const buckets: HistoryBucket[] = Array.from({ length: ms / spanMs }, (_, i) => ({
      t: start + i * spanMs,
      succeeded: 0,
      failed: 0,
      cancelled: 0,
      skipped: 0,
    }));
    const lateness = new Array<number>(HISTOGRAM_BINS).fill(0);
    for (const r of rollups) {
      const bucket = buckets[Math.floor((r.at.getTime() - start) / spanMs)];
      if (!bucket) continue;
      if (SUCCEEDED.includes(r.status)) bucket.succeeded += r.runs;
      else if (r.status === "Failed") bucket.failed += r.runs;
      else if (r.status === "Cancelled") bucket.cancelled += r.runs;
      else bucket.skipped += r.runs;
      for (let k = 0; k < HISTOGRAM_BINS; k++) lateness[k]! += r.latenessBins[k] ?? 0;
    }
    return {
      window,
      spanMs,
      buckets,
      lateness: {
        samples: lateness.reduce((a, b) => a + b, 0),
        p50: binQuantile(lateness, 0.5),
        p95: binQuantile(lateness, 0.95),
      },
      functions: functionStats(rollups),
    };
  }

  /**
   * One page of the list with each job's child count (one query for the page). The total
   * comes from the counters when the filter is at most type, status and function; otherwise
   * the store counts the matches.
   */
  async jobPage(query: JobQuery): Promise<JobPage> {
    const fromCounters =
      query.parentId === undefined &&
      query.cronTickerId === undefined &&
      !query.search &&
      !query.from &&
      !query.to &&
      !query.updatedSince;
    const [page, total] = await Promise.all([
      this.store.jobList({ ...query, withTotal: !fromCounters }),
      fromCounters ? this.countOf(query.type, query.status, query.function) : null,
    ]);
    return { items: await this.decorate(page.items), total: total ?? page.total };
  }

  /**
   * The list in the order an operator wants first: running and queued work, then what is due
   * soonest, then what ended most recently. Each section pages by keyset; an offset (a page
   * jump) skips whole sections by their counts.
   */
  async attentionPage(
    query: Omit<JobQuery, "orderBy" | "order" | "after">,
    limit: number,
    offset: number,
    after: AttentionCursor | null,
  ): Promise<JobPage & { next: AttentionCursor | null }> {
    const wanted = query.status === undefined ? null : typeof query.status === "string" ? [query.status] : query.status;
    const items: JobRecord[] = [];
    let skip = offset;
    let next: AttentionCursor | null = null;
    // One total for the whole filter (from the counters when it can be); section counts only
    // for a page jump, which must skip whole sections.
    const total = settledLater(this.jobPage({ ...query, limit: 0 }).then((page) => page.total));
    const sectionQueryOf = (index: number): JobQuery | null => {
      const section = ATTENTION[index]!;
      const statuses = section.statuses.filter((status) => !wanted || wanted.includes(status));
      if (statuses.length === 0 || (after && index < after.section)) return null;
      return { ...query, status: statuses, orderBy: section.orderBy, order: section.order };
    };
    // A search reads each section through the search index (a walk of every match, where the
    // other lists stop at the page size): on a first page, every section's read and the count
    // run at once, on as many server cores, rather than one after the other.
    const ahead =
      query.search && skip === 0
        ? ATTENTION.map((_, index) => {
            const sectionQuery = sectionQueryOf(index);
            if (!sectionQuery) return null;
            const keyset = after && index === after.section ? { value: after.value, id: after.id } : undefined;
            return settledLater(this.store.jobList({ ...sectionQuery, after: keyset, limit, withTotal: false }));
          })
        : null;
    for (const [index, section] of ATTENTION.entries()) {
      const sectionQuery = sectionQueryOf(index);
      if (!sectionQuery) continue;
      if (items.length >= limit) break;
      const statuses = sectionQuery.status as readonly TickerStatus[];
      if (skip > 0) {
        const count = (await this.jobPage({ ...sectionQuery, limit: 0 })).total;
        if (skip >= count) {
          skip -= count;
          continue;
        }
      }
      const keyset = after && index === after.section ? { value: after.value, id: after.id } : undefined;
      const want = limit - items.length;
      const early = ahead?.[index];
      const found = early
        ? (await early).items.slice(0, want)
        : // A search narrows the section through its own index: one read of the matches, not one per status.
          skip === 0 && statuses.length > 1 && !query.search
          ? await this.mergedByStatus(sectionQuery, statuses, keyset, want)
          : (
              await this.store.jobList({
                ...sectionQuery,
                after: keyset,
                limit: want,
                offset: skip || undefined,
                withTotal: false,
              })
            ).items;
      skip = 0;
      const page = { items: found };
      items.push(...page.items);
      const last = page.items[page.items.length - 1];
      if (last) next = { section: index, value: last[section.orderBy], id: last.id };
    }
    return {
      items: await this.decorate(items),
      total: await total,
      next: items.length === limit ? next : null,
    };
  }

  /** A page's child counts and last nodes: one query each for the whole page. */
  private async decorate(jobs: JobRecord[]): Promise<JobPage["items"]> {
    if (jobs.length === 0) return [];
    const ids = jobs.map((job) => job.id);
    const [childCounts, lastNodes] = await Promise.all([
      this.store.jobChildCounts({ parentIds: ids }),
      this.store.attemptLastNodes({ jobIds: ids }),
    ]);
    return jobs.map((job) => ({ ...job, childCount: childCounts[job.id] ?? 0, lastNodeId: lastNodes[job.id] ?? null }));
  }

  /**
   * One page of a section that spans several statuses, as one read per status merged here:
   * each walks its (type, status, sort key, id) index and stops at the page size, where one
   * read for all of them would walk the sort key's index past every job of other statuses.
   */
  private async mergedByStatus(
    query: JobQuery,
    statuses: readonly TickerStatus[],
    after: JobQuery["after"],
    limit: number,
  ): Promise<JobRecord[]> {
    const key = query.orderBy ?? "executionTime";
    const sign = query.order === "asc" ? 1 : -1;
    const pages = await Promise.all(
      statuses.map((status) => this.store.jobList({ ...query, status, after, limit, withTotal: false })),
    );
    const value = (job: JobRecord) => job[key]?.getTime() ?? Number.POSITIVE_INFINITY * sign;
    return pages
      .flatMap((page) => page.items)
      .sort((a, b) => (value(a) - value(b)) * sign || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) * sign)
      .slice(0, limit);
  }

  private async countOf(
    type: TickerType | undefined,
    status: TickerStatus | readonly TickerStatus[] | undefined,
    fn: string | undefined,
  ): Promise<number> {
    const statuses = status === undefined ? null : typeof status === "string" ? [status] : status;
    let total = 0;
    for (const row of await this.store.jobCountList()) {
      if ((type !== undefined && row.type !== type) || (fn !== undefined && row.function !== fn)) continue;
      if (statuses && !statuses.includes(row.status)) continue;
      total += row.count;
    }
    return total;
  }

  /** Which of these ids name a job that exists: one read by primary key each. */
  async present(ids: readonly string[]): Promise<string[]> {
    const unique = [...new Set(ids)];
    const found = await Promise.all(unique.map((id) => this.store.jobGet({ id })));
    return unique.filter((_, i) => found[i] !== null);
  }

  job(id: string): Promise<JobRecord | null> {
    return this.store.jobGet({ id });
  }

  async jobDetail(id: string): Promise<{
    job: JobRecord;
    attempts: AttemptRecord[];
    children: JobRecord[];
    parent: JobRecord | null;
    cronTicker: CronTickerRecord | null;
  } | null> {
    const job = await this.store.jobGet({ id });
    if (!job) return null;
    const [attempts, children, parent, cronTicker] = await Promise.all([
      this.store.attemptList({ jobId: id }),
      this.store.jobList({ parentId: id, limit: 200, orderBy: "createdAt", order: "asc", withTotal: false }),
      job.parentId ? this.store.jobGet({ id: job.parentId }) : null,
      job.cronTickerId ? this.store.cronTickerGet({ id: job.cronTickerId }) : null,
    ]);
    return { job, attempts, children: children.items, parent, cronTicker };
  }

  /** Deletes jobs with their descendants and history; how many went. */
  deleteJobs(ids: readonly string[]): Promise<number> {
    return this.store.jobDeleteMany({ ids });
  }

  /** Jobs changed after `since` (epoch ms), oldest change first: the live stream's feed. */
  changedSince(since: number, limit: number): Promise<JobRecord[]> {
    return this.store
      .jobList({ updatedSince: new Date(since), orderBy: "updatedAt", order: "asc", limit, withTotal: false })
      .then((page) => page.items);
  }

  /** Of each of these cron tickers, the occurrence that ended last: one read for a page of them. */
  lastEndedOccurrences(cronTickerIds: readonly string[]): Promise<Record<string, JobRecord>> {
    return this.store.occurrenceLastEnded({ cronTickerIds });
  }

  cronCounts(cronTickerId: string): Promise<StatusCounts> {
    return this.store.jobCountByStatus({ cronTickerId });
  }

  cronTickerExists(id: string): Promise<boolean> {
    return this.store.cronTickerGet({ id }).then((cron) => cron !== null);
  }
}
