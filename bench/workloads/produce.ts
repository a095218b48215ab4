/** How jobs are added in each workload, shared by the parent and (for in-process stores) the worker child. */
import type { EnqueueItem, Producer } from "../systems/types.js";

export type ProducePlan =
  /** W2 and W6: `count` jobs due now, added through the bulk path in slices of `batch`. */
  | { kind: "bulk"; count: number; batch: number }
  /**
   * W3: up to `count` jobs added one by one, as fast as the producer goes, each stamped with
   * its add time; the producer stops early after `capMs`.
   */
  | { kind: "stream"; count: number; capMs: number }
  /** W4: one job per offset, due that many ms after the add, added in one bulk call. */
  | { kind: "due"; offsetsMs: number[] }
  /** W8: one job due now per gap, each stamped with its add time, then a pause of that gap. */
  | { kind: "spaced"; gapsMs: number[] };

export interface ProduceResult {
  added: number;
  startedAt: number;
  finishedAt: number;
  /** W8: how long each add() took (its commit, and the announcement where there is one). */
  addMs?: number[];
}

export function epochNow(): number {
  return performance.timeOrigin + performance.now();
}

export async function produce(producer: Producer, plan: ProducePlan): Promise<ProduceResult> {
  const startedAt = epochNow();
  switch (plan.kind) {
    case "bulk":
      for (let from = 0; from < plan.count; from += plan.batch) {
        const slice: EnqueueItem[] = [];
        for (let seq = from; seq < Math.min(plan.count, from + plan.batch); seq += 1)
          slice.push({ payload: { seq, t: 0 } });
        await producer.addMany(slice);
      }
      return { added: plan.count, startedAt, finishedAt: epochNow() };
    case "stream": {
      const deadline = startedAt + plan.capMs;
      let seq = 0;
      // Checking the clock every 50 adds keeps the loop itself out of the figure.
      while (seq < plan.count && (seq % 50 !== 0 || epochNow() < deadline)) {
        await producer.add({ payload: { seq, t: epochNow() } });
        seq += 1;
      }
      return { added: seq, startedAt, finishedAt: epochNow() };
    }
    case "due": {
      const base = Date.now();
      const items = plan.offsetsMs.map((offset, seq) => ({ payload: { seq, t: base + offset }, runAt: base + offset }));
      await producer.addMany(items);
      return { added: items.length, startedAt, finishedAt: epochNow() };
    }
    case "spaced": {
      let seq = 0;
      const addMs: number[] = [];
      for (const gap of plan.gapsMs) {
        const t = epochNow();
        await producer.add({ payload: { seq, t } });
        addMs.push(epochNow() - t);
        seq += 1;
        await new Promise((resolve) => setTimeout(resolve, gap));
      }
      return { added: seq, startedAt, finishedAt: epochNow(), addMs };
    }
  }
}
