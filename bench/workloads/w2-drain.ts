/** W2 drain: a queue of due jobs emptied by one worker process; jobs/s and the worker's RSS. */
import { drainRun, timeoutNote } from "./drain-run.js";
import { label, type Measurement, type Workload } from "./types.js";

export const w2Drain: Workload = {
  id: "W2",
  title: "drain",
  metrics: [
    { key: "rate", label: "jobs/s", digits: 0 },
    { key: "rss", label: "worker RSS MB", digits: 0 },
    { key: "cpu", label: "worker CPU ms per 1k jobs", digits: 0 },
    { key: "start", label: "worker start → first job ms", digits: 0 },
    { key: "load", label: "module load ms", digits: 0 },
  ],
  settings: (s) =>
    `${s.w2Jobs.toLocaleString("en")} due jobs queued in bulk, then one worker child process drains them at ` +
    `concurrency ${s.w2Concurrency.join(" and ")}; timed from the first job's start until every job has started and ` +
    `no job is left unfinished in the store (cap ${s.w2CapMs / 1000} s); RSS of the worker process at that moment, and the CPU time it ` +
    `spent over the same span per 1,000 jobs (less sensitive than the rate to a busy machine; children run on plain Node, ` +
    `each system's code as JavaScript: see "Worker children" above). Start: from the worker's creation on the ` +
    `migrated database (its modules already imported: "module load" is that import, before it) until the first ` +
    `job's handler ran`,
  applies: () => true,
  async run(system, ctx): Promise<Measurement[]> {
    const rows: Measurement[] = [];
    for (const concurrency of ctx.sizes.w2Concurrency) {
      for (const variant of system.variants.drain) {
        if (rows.length > 0) await system.reset();
        const expected = ctx.sizes.w2Jobs;
        const result = await drainRun(
          {
            system,
            variant,
            concurrency,
            expected,
            capMs: ctx.sizes.w2CapMs,
            collect: false,
            seed: { kind: "bulk", count: expected, batch: 1_000 },
            tag: `${label(system, variant)} c=${concurrency}`,
          },
          ctx,
        );
        // From the first job's start: connection set-up and migrations are not the drain.
        const rate = (result.count * 1000) / (result.finishedAt - result.firstJobAt);
        const rss = result.rssBytes / 2 ** 20;
        const cpu = result.count > 0 ? (result.cpuMs * 1000) / result.count : Number.NaN;
        const start = Number.isFinite(result.firstJobAt) ? result.firstJobAt - result.workerStartAt : Number.NaN;
        ctx.log(
          `${label(system, variant)} c=${concurrency}: ${rate.toFixed(0)} jobs/s, RSS ${rss.toFixed(0)} MB, CPU ${cpu.toFixed(0)} ms/1k jobs, start ${start.toFixed(0)} ms (+ load ${result.loadMs.toFixed(0)} ms)`,
        );
        const note = timeoutNote(result, expected, ctx.sizes.w2CapMs);
        rows.push({
          system: label(system, variant),
          case: `c=${concurrency}`,
          values: { rate, rss, cpu, start, load: result.loadMs },
          ...(note ? { note } : {}),
        });
      }
    }
    return rows;
  },
};
