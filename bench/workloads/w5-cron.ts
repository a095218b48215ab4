/** W5 cron: a per-second schedule on several nodes; lateness and seconds run 0 or 2+ times. */
import { startChild, type WorkerChild } from "../child.js";
import { latenessOf } from "../stats.js";
import type { Measurement, Workload } from "./types.js";

/** Seconds ignored at the start while nodes start and seed the schedule. */
const WARMUP_S = 2;
const QUICK_WARMUP_S = 1;
const TAIL_MS = 500;

export const w5Cron: Workload = {
  id: "W5",
  title: "cron",
  once: true,
  metrics: [
    { key: "p50", label: "lateness p50 ms", digits: 1 },
    { key: "p99", label: "p99 ms", digits: 1 },
    { key: "missed", label: "seconds missed", digits: 0 },
    { key: "doubled", label: "seconds run 2+ times", digits: 0 },
  ],
  settings: (s) =>
    `a per-second schedule ("* * * * * *") served by ${s.w5Nodes} node processes sharing one store for ` +
    `${s.w5Seconds} s after ${WARMUP_S} s of warm-up; every second of the window counted; run once per system ` +
    `(each run already holds ${s.w5Seconds} occurrences)`,
  // Memory cannot be shared by several processes.
  applies: (system) => system.cron !== undefined && system.backend !== "memory",
  skipReason: (system) =>
    system.backend === "memory" ? "memory store: nodes cannot share it" : (system.cronNote ?? "no per-second schedule"),
  // One tickerq store (PostgreSQL when present) and BullMQ: each run is several seconds.
  quickSubset: (systems) => {
    const tickerq = systems.find((s) => s.id === "tickerq-pg") ?? systems.find((s) => s.family === "tickerq");
    return systems.filter((s) => s === tickerq || s.family !== "tickerq");
  },
  async run(system, ctx): Promise<Measurement[]> {
    const ticks: Array<{ scheduledFor: number; startedAt: number }> = [];
    const nodes: WorkerChild[] = [];
    try {
      for (let i = 0; i < ctx.sizes.w5Nodes; i += 1) {
        const node = startChild({ type: "cron", system: system.id });
        node.onTick((scheduledFor, startedAt) => ticks.push({ scheduledFor, startedAt }));
        nodes.push(node);
      }
      await Promise.all(nodes.map((node) => node.ready));
      const windowStart = (Math.floor(Date.now() / 1000) + (ctx.quick ? QUICK_WARMUP_S : WARMUP_S)) * 1000;
      const windowEnd = windowStart + ctx.sizes.w5Seconds * 1000;
      // Wait a little past the window so its last occurrence can land.
      for (let waited = 0; Date.now() < windowEnd + TAIL_MS; waited += 1) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, windowEnd + TAIL_MS - Date.now())));
        if (waited % 10 === 9) ctx.log(`  ${system.id}: ${ticks.length} runs so far`);
      }
      const runsPerSecond = new Map<number, number>();
      const lateness: number[] = [];
      for (const tick of ticks) {
        if (tick.scheduledFor < windowStart || tick.scheduledFor >= windowEnd) continue;
        const second = Math.round(tick.scheduledFor / 1000) * 1000;
        runsPerSecond.set(second, (runsPerSecond.get(second) ?? 0) + 1);
        lateness.push(tick.startedAt - tick.scheduledFor);
      }
      let missed = 0;
      let doubled = 0;
      for (let second = windowStart; second < windowEnd; second += 1000) {
        const runs = runsPerSecond.get(second) ?? 0;
        if (runs === 0) missed += 1;
        if (runs >= 2) doubled += 1;
      }
      const { p50, p99 } = latenessOf(lateness);
      ctx.log(`${system.id}: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, missed ${missed}, doubled ${doubled}`);
      return [{ system: system.id, case: `${ctx.sizes.w5Nodes} nodes`, values: { p50, p99, missed, doubled } }];
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
    }
  },
};
