/**
 * W8 cross-node wake-up: a job added on one node (this process), due now, run on another (a
 * worker child); add→start latency. On MariaDB nothing but a poll tells the other node, unless
 * the Redis coordinator announces the add (issue 15).
 */
import { latenessOf } from "../stats.js";
import { drainRun, timeoutNote } from "./drain-run.js";
import { label, type Measurement, type Workload } from "./types.js";

const CONCURRENCY = 10;
/** Past the last add: longer than the coordinator's 15 s safety poll, so a lost wake-up still counts (late). */
const GRACE_MS = 20_000;

/**
 * Deterministic gaps of `min`–`max` ms: wide enough that each add is its own wake-up where
 * wake-ups are fast, and irregular so that a poll's phase does not line up with the adds.
 */
function gaps(count: number, minMs: number, maxMs: number): number[] {
  let state = 0x1b873593;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return minMs + (state / 2 ** 32) * (maxMs - minMs);
  });
}

export const w8Wake: Workload = {
  id: "W8",
  title: "cross-node wake-up",
  once: true,
  metrics: [
    { key: "p50", label: "add→start p50 ms", digits: 1 },
    { key: "p95", label: "p95 ms", digits: 1 },
    { key: "p99", label: "p99 ms", digits: 1 },
    { key: "max", label: "max ms", digits: 1 },
    { key: "add", label: "node A's add() p50 ms", digits: 1 },
  ],
  settings: (s) =>
    `node A (this process; with Redis a started node, paused so it claims nothing) adds ${s.w8Jobs} jobs due now ` +
    `one at a time, ${s.w8GapMs[0]}–${s.w8GapMs[1]} ms apart (fixed pseudo-random gaps); node B, a worker child at ` +
    `concurrency ${CONCURRENCY}, runs them; latency from just before add() to the handler's start on node B ` +
    `(same machine clock), which includes node A's add() (its commit), also given alone; run once (each run holds ${s.w8Jobs} samples)`,
  // A question about tickerq's stores that need a signal across processes; peers are not asked it.
  applies: (system) => system.family === "tickerq" && !system.inProcess,
  skipReason: (system) => (system.inProcess ? "memory store: nodes cannot share it" : "tickerq only"),
  // The question is MariaDB's (its 1 s poll, and Redis): the others are left out of --quick.
  quickSubset: (systems) => systems.filter((s) => s.backend === "mysql"),
  async run(system, ctx): Promise<Measurement[]> {
    const variant = "default";
    const plan = gaps(ctx.sizes.w8Jobs, ...ctx.sizes.w8GapMs);
    const capMs = Math.ceil(plan.reduce((a, b) => a + b, 0)) + GRACE_MS;
    const result = await drainRun(
      {
        system,
        variant,
        concurrency: CONCURRENCY,
        expected: plan.length,
        capMs,
        collect: true,
        live: { kind: "spaced", gapsMs: plan },
        tag: label(system, variant),
      },
      ctx,
    );
    const latency = latenessOf(result.delays);
    const add = latenessOf(result.live?.addMs ?? []).p50;
    ctx.log(
      `${label(system, variant)}: add→start p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms, ` +
        `max ${latency.max.toFixed(1)} ms; add() p50 ${add.toFixed(1)} ms`,
    );
    const note = timeoutNote(result, plan.length, capMs);
    return [{ system: label(system, variant), case: "", values: { ...latency, add }, ...(note ? { note } : {}) }];
  },
};
