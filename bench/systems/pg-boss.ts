/** pg-boss 10 driven through its public API on the bench PostgreSQL database. */
import PgBoss from "pg-boss";
import { PG_URL } from "../config.js";
import { packageVersion, pgQuery, pgServerVersion, pgUnavailable } from "../db.js";
import type { EnqueueItem, Producer, RunningWorker, System, WorkerSettings } from "./types.js";

const SCHEMA = "pgboss_bench";
const QUEUE = "bench";
/** pg-boss hands each worker loop a batch; without batching one loop runs 1 job per poll. */
const BATCH_SIZE = 100;

/** pg-boss documents a 2 s default and a 0.5 s minimum for pollingIntervalSeconds. */
const POLL_SECONDS: Record<string, number> = { default: 2, "poll-min": 0.5 };

async function started(): Promise<PgBoss> {
  const boss = new PgBoss({ connectionString: PG_URL, schema: SCHEMA });
  boss.on("error", (error: Error) => console.error(`pg-boss: ${error.message}`));
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

function toInsert(item: EnqueueItem): PgBoss.JobInsert {
  return item.runAt === undefined
    ? { name: QUEUE, data: item.payload }
    : { name: QUEUE, data: item.payload, startAfter: new Date(item.runAt) };
}

export const pgBoss: System = {
  id: "pg-boss",
  family: "pg-boss",
  backend: "postgres",
  inProcess: false,
  variants: { drain: ["poll-min"], precision: ["default", "poll-min"] },
  variantNotes: {
    default: `concurrency c = c work() loops, batchSize ${BATCH_SIZE}, pollingIntervalSeconds 2 (default)`,
    "poll-min": `concurrency c = c work() loops, batchSize ${BATCH_SIZE}, pollingIntervalSeconds 0.5 (documented minimum)`,
  },
  cronNote: "pg-boss schedules are minute-granular (5-field cron, 60 s debounce): no per-second schedule",

  unavailable: pgUnavailable,

  async versions() {
    return { "pg-boss": await packageVersion("pg-boss"), server: await pgServerVersion() };
  },

  async reset() {
    await pgQuery(`drop schema if exists ${SCHEMA} cascade`);
  },

  async producer(): Promise<Producer> {
    const boss = await started();
    return {
      async add(item) {
        await boss.send(QUEUE, item.payload, item.runAt === undefined ? {} : { startAfter: new Date(item.runAt) });
      },
      async addMany(items) {
        await boss.insert(items.map(toInsert));
      },
      async close() {
        await boss.stop({ graceful: false, wait: true });
      },
    };
  },

  async worker(settings: WorkerSettings): Promise<RunningWorker> {
    const boss = await started();
    const pollingIntervalSeconds = POLL_SECONDS[settings.variant] ?? 2;
    for (let i = 0; i < settings.concurrency; i += 1) {
      await boss.work<{ seq: number; t: number }>(
        QUEUE,
        { batchSize: BATCH_SIZE, pollingIntervalSeconds },
        async (jobs) => {
          const now = performance.timeOrigin + performance.now();
          for (const job of jobs) settings.onJob(job.data, now);
        },
      );
    }
    return {
      async unfinished() {
        return boss.getQueueSize(QUEUE, { before: "completed" });
      },
      async stop() {
        await boss.stop({ graceful: true, wait: true, timeout: 5_000 });
      },
    };
  },
};
