/** The one interface every benchmarked system (tickerq on each store, and each peer) implements. */

/** What every benchmark job carries: a sequence number and a reference instant (epoch ms). */
export interface BenchPayload {
  seq: number;
  /** W3: when the producer added it. W4: when it is due. Otherwise 0. */
  t: number;
}

export interface EnqueueItem {
  payload: BenchPayload;
  /** Epoch ms the job is due; absent means now. */
  runAt?: number;
}

export interface Producer {
  add(item: EnqueueItem): Promise<void>;
  /** The system's own bulk path (one call for the whole slice). */
  addMany(items: readonly EnqueueItem[]): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerSettings {
  concurrency: number;
  /** A named setting from `System.variants` ("default", "poll-min", ...). */
  variant: string;
  /** Called at the start of every handler with the payload and the start instant. */
  onJob(payload: BenchPayload, startedAt: number): void;
}

export interface RunningWorker {
  /** Jobs not yet finished in the store: queued, due, or started without their completion written. */
  unfinished(): Promise<number>;
  stop(): Promise<void>;
}

export interface CronSettings {
  /** Called once per run with the occurrence's intended instant and the start instant. */
  onTick(scheduledFor: number, startedAt: number): void;
}

export type Backend = "memory" | "sqlite" | "postgres" | "mysql" | "redis";

export interface System {
  /** Stable id used on the command line and in tables: "tickerq-pg", "pg-boss", ... */
  readonly id: string;
  /** The family for `--peers`: "tickerq", "pg-boss", "graphile-worker", "bullmq". */
  readonly family: string;
  readonly backend: Backend;
  /** The store lives in the process: producer and worker must share it (no child process). */
  readonly inProcess: boolean;
  /**
   * Worker settings worth comparing: W2 uses `drain`, W4 uses `precision`; W1 runs its bulk
   * path again under each of `enqueue` (reference settings, after the default).
   */
  readonly variants: { drain: readonly string[]; precision: readonly string[]; enqueue?: readonly string[] };
  /** What each variant means, for the report. */
  readonly variantNotes: Readonly<Record<string, string>>;
  /** Null when usable; otherwise why the system is skipped (missing module, server down). */
  unavailable(): Promise<string | null>;
  /** Library and server versions for the report. */
  versions(): Promise<Record<string, string>>;
  /** Removes every job, schedule and table state left by earlier runs. */
  reset(): Promise<void>;
  /** `variant`: the worker setting the jobs are for (W2–W4), when it changes how they are written. */
  producer(variant?: string): Promise<Producer>;
  worker(settings: WorkerSettings): Promise<RunningWorker>;
  /**
   * Loads the modules a worker needs (a worker child calls it before timing the start), where
   * importing the system's module does not: the peers import their package statically.
   */
  load?(variant: string): Promise<void>;
  /** A per-second schedule at the system's finest granularity; absent when it has none. */
  cron?(settings: CronSettings): Promise<RunningWorker>;
  /** Why `cron` is absent, for the report. */
  readonly cronNote?: string;
}
