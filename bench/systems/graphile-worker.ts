/** graphile-worker 0.16 driven through its public API (run, WorkerUtils, SQL add_jobs) on PostgreSQL. */
import { Logger, makeWorkerUtils, run, type WorkerUtils } from "graphile-worker";
import { PG_URL } from "../config.js";
import { packageVersion, pgQuery, pgServerVersion, pgUnavailable } from "../db.js";
import type { BenchPayload, Producer, RunningWorker, System, WorkerSettings } from "./types.js";

const TASK = "bench";
/** graphile-worker logs every job at info level; the bench keeps only errors. */
const quietLogger = new Logger(() => (level, message) => {
  if (level === "error") console.error(`graphile-worker: ${message}`);
});

/** pollInterval only matters for future jobs: new due jobs arrive by LISTEN/NOTIFY. */
const POLL_MS: Record<string, number> = { default: 2_000, "poll-100": 100 };

export const graphileWorker: System = {
  id: "graphile-worker",
  family: "graphile-worker",
  backend: "postgres",
  inProcess: false,
  variants: { drain: ["default"], precision: ["default", "poll-100"] },
  variantNotes: {
    default: "concurrency c = concurrency option, pollInterval 2000 ms (default)",
    "poll-100": "concurrency c, pollInterval 100 ms (the low setting its docs discuss)",
  },
  cronNote: "graphile-worker crontab is minute-granular: no per-second schedule",

  unavailable: pgUnavailable,

  async versions() {
    return { "graphile-worker": await packageVersion("graphile-worker"), server: await pgServerVersion() };
  },

  async reset() {
    await pgQuery("drop schema if exists graphile_worker cascade");
  },

  async producer(): Promise<Producer> {
    const utils: WorkerUtils = await makeWorkerUtils({ connectionString: PG_URL, logger: quietLogger });
    await utils.migrate();
    return {
      async add(item) {
        await utils.addJob(TASK, item.payload, item.runAt === undefined ? {} : { runAt: new Date(item.runAt) });
      },
      async addMany(items) {
        // add_jobs is graphile-worker's documented SQL bulk path; one statement per slice.
        const specs = items.map((item) => ({
          identifier: TASK,
          payload: item.payload,
          run_at: item.runAt === undefined ? null : new Date(item.runAt).toISOString(),
        }));
        await utils.withPgClient((client) =>
          client.query(
            `select count(*) from graphile_worker.add_jobs(array(
               select json_populate_record(null::graphile_worker.job_spec, spec)
               from json_array_elements($1::json) spec))`,
            [JSON.stringify(specs)],
          ),
        );
      },
      async close() {
        await utils.release();
      },
    };
  },

  async worker(settings: WorkerSettings): Promise<RunningWorker> {
    const runner = await run({
      connectionString: PG_URL,
      concurrency: settings.concurrency,
      maxPoolSize: settings.concurrency + 2,
      pollInterval: POLL_MS[settings.variant] ?? 2_000,
      noHandleSignals: true,
      logger: quietLogger,
      taskList: {
        [TASK]: async (payload) => {
          settings.onJob(payload as BenchPayload, performance.timeOrigin + performance.now());
        },
      },
    });
    return {
      async unfinished() {
        // Completed jobs are deleted, so whatever is left is unfinished.
        const result = await pgQuery("select count(*)::int as n from graphile_worker.jobs");
        return Number(result.rows[0]?.n ?? 0);
      },
      async stop() {
        await runner.stop();
      },
    };
  },
};
