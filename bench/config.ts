/** Connection targets and the workload sizes of the full and the quick run. */

export const PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";
/**
 * The PostgreSQL database of the run (created if absent). TICKERQ_BENCH_PG_DATABASE names
 * another, so that two runs at once on one server do not drain each other's queues.
 */
export const PG_DATABASE = process.env.TICKERQ_BENCH_PG_DATABASE ?? "tickerq_bench";
export const PG_URL = `postgres://postgres@127.0.0.1:5432/${PG_DATABASE}`;
export const REDIS = { host: "127.0.0.1", port: 6379 } as const;
export const MYSQL_ADMIN_URI = "mysql://root@127.0.0.1:3306/";
export const MYSQL_DATABASE = "tickerq_bench";
export const MYSQL_URI = `mysql://root@127.0.0.1:3306/${MYSQL_DATABASE}`;
/**
 * Overrides MYSQL_URI for tickerq's MySQL stores: W9 points its node children at a dedicated
 * mariadbd through it (children inherit the runner's environment at fork).
 */
export const MYSQL_URI_ENV = "TICKERQ_BENCH_MYSQL_URI";

export interface Sizes {
  /** W1: jobs per measurement, the batch size, and a time cap for the one-by-one loop. */
  w1Jobs: number;
  w1Batch: number;
  w1CapMs: number;
  /** W2: queued jobs, the concurrencies and a cap on one drain. */
  w2Jobs: number;
  w2Concurrency: number[];
  w2CapMs: number;
  /** W3: jobs the producer adds while the worker runs, and when it stops adding if slower. */
  w3Jobs: number;
  w3ProduceCapMs: number;
  w3CapMs: number;
  /** W4: jobs due between 1 and `w4SpreadMs` ms ahead. */
  w4Jobs: number;
  w4SpreadMs: number;
  /** W5: how long the per-second schedule runs, and on how many nodes. */
  w5Seconds: number;
  w5Nodes: number;
  /** W8: jobs added one at a time on node A, and the range of the gaps between adds (ms). */
  w8Jobs: number;
  w8GapMs: [number, number];
  /** W9: nodes of the idle cluster, and the window over which their SQL statements are counted. */
  w9Nodes: number;
  w9WindowMs: number;
  /** W6: pending future jobs at the small and the large size; due jobs drained at each. */
  w6Small: number;
  w6Large: number;
  w6Due: number;
  /** Reference: pgbench duration and redis-benchmark request count. */
  pgbenchSeconds: number;
  redisRequests: number;
}

export const FULL: Sizes = {
  w1Jobs: 20_000,
  w1Batch: 1_000,
  w1CapMs: 1_500,
  w2Jobs: 20_000,
  w2Concurrency: [10, 50],
  w2CapMs: 3_000,
  w3Jobs: 5_000,
  w3ProduceCapMs: 3_000,
  w3CapMs: 10_000,
  w4Jobs: 500,
  w4SpreadMs: 5_000,
  w5Seconds: 30,
  w5Nodes: 3,
  w8Jobs: 200,
  w8GapMs: [50, 150],
  w9Nodes: 3,
  w9WindowMs: 60_000,
  w6Small: 10_000,
  w6Large: 1_000_000,
  w6Due: 2_000,
  pgbenchSeconds: 10,
  redisRequests: 100_000,
};

export const QUICK: Sizes = {
  w1Jobs: 500,
  w1Batch: 250,
  w1CapMs: 500,
  w2Jobs: 500,
  w2Concurrency: [10],
  w2CapMs: 3_000,
  w3Jobs: 200,
  w3ProduceCapMs: 1_000,
  w3CapMs: 3_000,
  w4Jobs: 50,
  w4SpreadMs: 1_500,
  w5Seconds: 2,
  w5Nodes: 3,
  w8Jobs: 30,
  w8GapMs: [50, 150],
  w9Nodes: 3,
  w9WindowMs: 10_000,
  w6Small: 1_000,
  w6Large: 100_000,
  w6Due: 200,
  pgbenchSeconds: 2,
  redisRequests: 10_000,
};
