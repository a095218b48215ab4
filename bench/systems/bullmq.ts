/** BullMQ driven through its public API (Queue, Worker, job schedulers) on the local Redis. */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { REDIS } from "../config.js";
import { packageVersion } from "../db.js";
import type { BenchPayload, Producer, RunningWorker, System } from "./types.js";

const QUEUE = "bench";
const PREFIX = "tqbench";
const SCHEDULER = "w5-every-second";
const PATTERN = "* * * * * *";
const connection = { host: REDIS.host, port: REDIS.port };
/** How long reset() waits for the workers of a run that just stopped to leave Redis. */
const WORKERS_GONE_MS = 3_000;
const UPSERT_ATTEMPTS = 5;
const UPSERT_RETRY_MS = 100;

/** Every key under the bench's prefix, deleted with SCAN (all queues, schedulers, leftovers); returns how many. */
async function deletePrefixKeys(): Promise<number> {
  const redis = new Redis(connection);
  try {
    let deleted = 0;
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${PREFIX}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/**
 * Upserts the per-second scheduler. BullMQ 6 refuses an upsert whose next iteration's job id
 * is already taken by a job another node is running: the upsert computed "the next second" a
 * moment before that second's job started elsewhere ("Cannot create job scheduler iteration -
 * job ID already exists"), which happens when nodes start close to a second boundary. The
 * schedule is in place then; a retry a moment later upserts it over the next iteration.
 */
async function upsertScheduler(queue: Queue): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await queue.upsertJobScheduler(SCHEDULER, { pattern: PATTERN }, { name: "tick" });
      return;
    } catch (error) {
      if (attempt >= UPSERT_ATTEMPTS || !/job ID already exists/i.test((error as Error).message)) throw error;
      await new Promise((resolve) => setTimeout(resolve, UPSERT_RETRY_MS));
    }
  }
}

function delayOf(runAt: number | undefined): number {
  return runAt === undefined ? 0 : Math.max(0, Math.round(runAt - Date.now()));
}

async function unfinishedCount(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized", "waiting-children");
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

export const bullmq: System = {
  id: "bullmq",
  family: "bullmq",
  backend: "redis",
  inProcess: false,
  variants: { drain: ["default"], precision: ["default"] },
  variantNotes: {
    default: "concurrency c = Worker concurrency option; delayed jobs are woken by markers, no poll setting",
  },

  async unavailable() {
    const redis = new Redis({ ...connection, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      await redis.connect();
      await redis.ping();
      return null;
    } catch (error) {
      return `Redis at 127.0.0.1:6379 unreachable (${(error as Error).message})`;
    } finally {
      redis.disconnect();
    }
  },

  async versions() {
    const redis = new Redis(connection);
    try {
      const info = await redis.info("server");
      const version = /redis_version:(\S+)/.exec(info)?.[1] ?? "?";
      return { bullmq: await packageVersion("bullmq"), server: `Redis ${version}` };
    } finally {
      redis.disconnect();
    }
  },

  // Nothing of an earlier run may survive: its job scheduler would keep adding iterations
  // (and collide with this run's), its jobs would count as this run's.
  async reset() {
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    try {
      // A worker still attached would re-create what is deleted here (a child of an earlier
      // run that outlived its runner): refuse to measure next to it.
      const deadline = Date.now() + WORKERS_GONE_MS;
      let workers = await queue.getWorkersCount();
      while (workers > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        workers = await queue.getWorkersCount();
      }
      if (workers > 0) {
        throw new Error(
          `${workers} BullMQ worker(s) still attached to ${PREFIX}:${QUEUE} (a worker child of an earlier run?); stop them first`,
        );
      }
      await queue.removeJobScheduler(SCHEDULER);
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
    // Whatever obliterate leaves (other queue names, scheduler keys of older bench versions).
    await deletePrefixKeys();
  },

  async producer(): Promise<Producer> {
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    return {
      async add(item) {
        await queue.add("job", item.payload, { delay: delayOf(item.runAt) });
      },
      async addMany(items) {
        await queue.addBulk(
          items.map((item) => ({ name: "job", data: item.payload, opts: { delay: delayOf(item.runAt) } })),
        );
      },
      async close() {
        await queue.close();
      },
    };
  },

  async worker(settings): Promise<RunningWorker> {
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    const worker = new Worker(
      QUEUE,
      async (job) => {
        settings.onJob(job.data as BenchPayload, performance.timeOrigin + performance.now());
      },
      { connection, prefix: PREFIX, concurrency: settings.concurrency },
    );
    worker.on("error", (error) => console.error(`bullmq: ${error.message}`));
    await worker.waitUntilReady();
    return {
      unfinished: () => unfinishedCount(queue),
      async stop() {
        await worker.close();
        await queue.close();
      },
    };
  },

  async cron(settings): Promise<RunningWorker> {
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    // Every node upserts the same scheduler id: BullMQ keeps one schedule.
    await upsertScheduler(queue);
    const worker = new Worker(
      QUEUE,
      async (job) => {
        const startedAt = performance.timeOrigin + performance.now();
        const intended =
          typeof job.opts.prevMillis === "number" ? job.opts.prevMillis : Math.floor(startedAt / 1000) * 1000;
        settings.onTick(intended, startedAt);
      },
      { connection, prefix: PREFIX, concurrency: 1 },
    );
    worker.on("error", (error) => console.error(`bullmq: ${error.message}`));
    await worker.waitUntilReady();
    return {
      unfinished: () => unfinishedCount(queue),
      async stop() {
        await worker.close();
        await queue.close();
      },
    };
  },
};
