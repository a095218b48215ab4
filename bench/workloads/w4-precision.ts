/** W4 fire precision: jobs due at random instants a few seconds ahead; lateness percentiles. */
import { latenessOf } from "../stats.js";
import { drainRun, timeoutNote } from "./drain-run.js";
import { label, type Measurement, type Workload } from "./types.js";

const CONCURRENCY = 10;
const EARLIEST_MS = 1_000;
const GRACE_MS = 12_000;

/** Deterministic offsets so every system and repeat faces the same due times. */
function offsets(count: number, spreadMs: number): number[] {
  let state = 0x2545f491;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return EARLIEST_MS + (state / 2 ** 32) * (spreadMs - EARLIEST_MS);
  });
}

export const w4Precision: Workload = {
  id: "W4",
  title: "fire precision",
  // Each run waits out the 1–5 s spread for every setting; one run holds all its jobs' samples.
  once: true,
  metrics: [
    { key: "p50", label: "lateness p50 ms", digits: 1 },
    { key: "p95", label: "p95 ms", digits: 1 },
    { key: "p99", label: "p99 ms", digits: 1 },
    { key: "max", label: "max ms", digits: 1 },
  ],
  settings: (s) =>
    `a running worker child (concurrency ${CONCURRENCY}); ${s.w4Jobs} jobs added in one bulk call, due at fixed pseudo-random ` +
    `instants ${EARLIEST_MS / 1000}–${s.w4SpreadMs / 1000} s ahead; lateness = handler start − due time; run once ` +
    `(each run holds ${s.w4Jobs} samples)`,
  applies: () => true,
  async run(system, ctx): Promise<Measurement[]> {
    const rows: Measurement[] = [];
    // Quick mode keeps each system's finest setting only, to stay under a minute.
    const variants = ctx.quick ? system.variants.precision.slice(-1) : system.variants.precision;
    for (const variant of variants) {
      if (rows.length > 0) await system.reset();
      const expected = ctx.sizes.w4Jobs;
      const capMs = ctx.sizes.w4SpreadMs + GRACE_MS;
      const result = await drainRun(
        {
          system,
          variant,
          concurrency: CONCURRENCY,
          expected,
          capMs,
          collect: true,
          live: { kind: "due", offsetsMs: offsets(expected, ctx.sizes.w4SpreadMs) },
          tag: label(system, variant),
        },
        ctx,
      );
      const lateness = latenessOf(result.delays);
      ctx.log(
        `${label(system, variant)}: lateness p50 ${lateness.p50.toFixed(1)} ms, p99 ${lateness.p99.toFixed(1)} ms, max ${lateness.max.toFixed(1)} ms`,
      );
      const note = timeoutNote(result, expected, capMs);
      rows.push({ system: label(system, variant), case: "", values: { ...lateness }, ...(note ? { note } : {}) });
    }
    return rows;
  },
};
