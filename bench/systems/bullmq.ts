/** BullMQ driven through its public API (Queue, Worker, job schedulers) on the local Redis. */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { REDIS } from "../config.js";
import { packageVersion } from "../db.js";
import type { BenchPayload, Producer, RunningWorker, System } from "./types.js";

const QUEUE = "bench";
const PREFIX = "tqbench";
const SCHEDULER = "w5-every-second";
const connection = { host: REDIS.host, port: REDIS.port };

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

  async reset() {
    const queue = new Queue(QUEUE, { connection, prefix: PREFIX });
    try {
      await queue.removeJobScheduler(SCHEDULER);
      await queue.obliterate({ force: true });
    } finally {
      await queue.close();
    }
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
    await queue.upsertJobScheduler(SCHEDULER, { pattern: "* * * * * *" }, { name: "tick" });
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
