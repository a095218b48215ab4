/** W1 enqueue: jobs added one by one and through each system's bulk path; jobs/s. */
import type { System } from "../systems/types.js";
import { epochNow } from "./produce.js";
import { label, type Measurement, type RunContext, type Workload } from "./types.js";

async function oneByOne(system: System, ctx: RunContext): Promise<{ rate: number; added: number }> {
  const producer = await system.producer();
  try {
    const started = epochNow();
    const deadline = started + ctx.sizes.w1CapMs;
    let added = 0;
    // Checking the clock every 50 adds keeps the loop itself out of the figure.
    while (added < ctx.sizes.w1Jobs && (added % 50 !== 0 || epochNow() < deadline)) {
      await producer.add({ payload: { seq: added, t: 0 } });
      added += 1;
    }
    return { rate: (added * 1000) / (epochNow() - started), added };
  } finally {
    await producer.close();
  }
}

async function batched(system: System, ctx: RunContext, variant?: string): Promise<number> {
  const producer = await system.producer(variant);
  try {
    const { w1Jobs, w1Batch } = ctx.sizes;
    const slices = [];
    for (let from = 0; from < w1Jobs; from += w1Batch) {
      slices.push(
        Array.from({ length: Math.min(w1Batch, w1Jobs - from) }, (_, i) => ({ payload: { seq: from + i, t: 0 } })),
      );
    }
    const started = epochNow();
    for (const slice of slices) await producer.addMany(slice);
    return (w1Jobs * 1000) / (epochNow() - started);
  } finally {
    await producer.close();
  }
}

export const w1Enqueue: Workload = {
  id: "W1",
  title: "enqueue",
  metrics: [
    { key: "single", label: "one by one jobs/s", digits: 0 },
    { key: "batch", label: "batched jobs/s", digits: 0 },
  ],
  settings: (s) =>
    `${s.w1Jobs.toLocaleString("en")} jobs one by one (sequential awaits, stopped after ${s.w1CapMs / 1000} s if not done), ` +
    `then ${s.w1Jobs.toLocaleString("en")} in batches of ${s.w1Batch.toLocaleString("en")} through the bulk path, state cleaned between`,
  applies: () => true,
  async run(system, ctx): Promise<Measurement[]> {
    const single = await oneByOne(system, ctx);
    await system.reset();
    const batch = await batched(system, ctx);
    ctx.log(
      `${system.id}: one by one ${single.rate.toFixed(0)}/s (${single.added} jobs), batched ${batch.toFixed(0)}/s`,
    );
    const rows: Measurement[] = [
      {
        system: system.id,
        case: "",
        values: { single: single.rate, batch },
        ...(single.added < ctx.sizes.w1Jobs
          ? { note: `one by one stopped at the ${ctx.sizes.w1CapMs / 1000} s cap` }
          : {}),
      },
    ];
    for (const variant of system.variants.enqueue ?? []) {
      await system.reset();
      const rate = await batched(system, ctx, variant);
      ctx.log(`${label(system, variant)}: batched ${rate.toFixed(0)}/s`);
      rows.push({ system: label(system, variant), case: "", values: { batch: rate } });
    }
    return rows;
  },
};
