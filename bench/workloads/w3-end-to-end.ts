/** W3 end to end: a producer adds jobs one by one while the worker runs; jobs/s and add→start latency. */
import { latenessOf } from "../stats.js";
import { drainRun, timeoutNote } from "./drain-run.js";
import { label, type Measurement, type Workload } from "./types.js";

const CONCURRENCY = 10;

export const w3EndToEnd: Workload = {
  id: "W3",
  title: "end to end",
  metrics: [
    { key: "rate", label: "end-to-end jobs/s", digits: 0 },
    { key: "producer", label: "producer jobs/s", digits: 0 },
    { key: "p50", label: "add→start p50 ms", digits: 1 },
    { key: "p99", label: "add→start p99 ms", digits: 1 },
  ],
  settings: (s) =>
    `a worker child at concurrency ${CONCURRENCY} runs while the producer (this process; the child itself for the memory store) ` +
    `adds ${s.w3Jobs.toLocaleString("en")} jobs one by one (stopping after ${s.w3ProduceCapMs / 1000} s if not done); end-to-end rate from the first add until every job is finished; ` +
    `latency from just before add() to the handler's start (cap ${s.w3CapMs / 1000} s)`,
  applies: () => true,
  async run(system, ctx): Promise<Measurement[]> {
    const variant = system.variants.drain[0] ?? "default";
    const expected = ctx.sizes.w3Jobs;
    const result = await drainRun(
      {
        system,
        variant,
        concurrency: CONCURRENCY,
        expected,
        capMs: ctx.sizes.w3CapMs,
        collect: true,
        live: { kind: "stream", count: expected, capMs: ctx.sizes.w3ProduceCapMs },
        tag: label(system, variant),
      },
      ctx,
    );
    const live = result.live;
    const rate = live ? (result.count * 1000) / (result.finishedAt - live.startedAt) : null;
    const producer = live ? (live.added * 1000) / (live.finishedAt - live.startedAt) : null;
    const latency = latenessOf(result.delays);
    ctx.log(
      `${label(system, variant)}: ${rate?.toFixed(0)} jobs/s end to end, producer ${producer?.toFixed(0)}/s, ` +
        `p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms`,
    );
    const capped =
      live && live.added < expected
        ? `the producer stopped at its ${ctx.sizes.w3ProduceCapMs / 1000} s cap before ${expected.toLocaleString("en")} jobs`
        : undefined;
    const note = [capped, timeoutNote(result, expected, ctx.sizes.w3CapMs)].filter(Boolean).join("; ");
    return [
      {
        system: label(system, variant),
        case: `c=${CONCURRENCY}`,
        values: { rate, producer, p50: latency.p50, p99: latency.p99 },
        ...(note ? { note } : {}),
      },
    ];
  },
};
