/** W6 scale: claim latency and drain rate of tickerq with few vs very many future jobs pending. */
import { latenessOf } from "../stats.js";
import { openTickerq } from "../systems/tickerq.js";
import { seedPostgres, seedSqlite } from "../systems/tickerq-seed.js";
import type { System } from "../systems/types.js";
import { epochNow } from "./produce.js";
import type { Measurement, RunContext, Workload } from "./types.js";

const CLAIM_LIMIT = 100;
const CONCURRENCY = 50;
const DRAIN_CAP_MS = 60_000;
const DAY_MS = 86_400_000;

async function addDue(systemId: string, count: number): Promise<void> {
  const { core, store, functionName } = await openTickerq(systemId);
  try {
    const tq = core.createTickerQ({
      functions: [core.defineFunction(functionName, {}, () => undefined)],
      store,
      closeStoreOnStop: false,
    });
    for (let from = 0; from < count; from += 1_000) {
      const slice = Array.from({ length: Math.min(1_000, count - from) }, (_, i) => ({
        function: functionName,
        request: { seq: from + i, t: 0 },
      }));
      await tq.timeTickers.addMany(slice);
    }
  } finally {
    await store.close();
  }
}

async function seedPending(system: System, count: number): Promise<void> {
  const { core, store, functionName } = await openTickerq(system.id);
  let templateId: string;
  try {
    const tq = core.createTickerQ({
      functions: [core.defineFunction(functionName, {}, () => undefined)],
      store,
      closeStoreOnStop: false,
    });
    const template = (await tq.timeTickers.add({
      function: functionName,
      executionTime: new Date(Date.now() + DAY_MS),
      request: { seq: -1, t: 0 },
    })) as { id: string };
    templateId = template.id;
  } finally {
    await store.close();
  }
  if (system.backend === "postgres") await seedPostgres(templateId, count - 1);
  else await seedSqlite(templateId, count - 1);
}

async function idleCount(systemId: string): Promise<number> {
  const { store } = await openTickerq(systemId);
  try {
    return (await store.jobCountByStatus({})).Idle ?? 0;
  } finally {
    await store.close();
  }
}

/** Runs the engine in this process until `count` due jobs have started; jobs/s. */
async function drain(systemId: string, count: number): Promise<number> {
  const { core, store, functionName } = await openTickerq(systemId);
  let started = 0;
  let allStarted!: () => void;
  const done = new Promise<void>((resolve) => (allStarted = resolve));
  const tq = core.createTickerQ({
    functions: [
      core.defineFunction(functionName, {}, () => {
        started += 1;
        if (started === count) allStarted();
      }),
    ],
    store,
    maxConcurrency: CONCURRENCY,
    nodeId: "bench-w6",
    closeStoreOnStop: false,
  });
  const t0 = epochNow();
  try {
    await tq.start();
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, DRAIN_CAP_MS).unref())]);
    return (started * 1000) / (epochNow() - t0);
  } finally {
    await tq.stop();
    await store.close();
  }
}

/** Times each store claim of up to CLAIM_LIMIT due jobs until none are left; ms per call. */
async function claimLatencies(systemId: string): Promise<number[]> {
  const { store } = await openTickerq(systemId);
  try {
    const latencies: number[] = [];
    for (;;) {
      const now = new Date();
      const t0 = epochNow();
      const claimed = await store.jobClaimDue({
        nodeId: "bench-w6-claim",
        now,
        until: now,
        limit: CLAIM_LIMIT,
        longRunningLimit: 0,
      });
      if (claimed.length === 0) return latencies;
      latencies.push(epochNow() - t0);
    }
  } finally {
    await store.close();
  }
}

async function atSize(
  system: System,
  pending: number,
  ctx: RunContext,
): Promise<{ claim: number; claimP99: number; rate: number }> {
  await system.reset();
  const t0 = Date.now();
  await seedPending(system, pending);
  const idle = await idleCount(system.id);
  if (idle < pending) throw new Error(`seeding left ${idle} Idle jobs, expected ${pending}`);
  ctx.log(
    `  ${system.id}: ${pending.toLocaleString("en")} future jobs seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const due = ctx.sizes.w6Due;
  await addDue(system.id, due);
  const rate = await drain(system.id, due);
  await addDue(system.id, due);
  const latency = latenessOf(await claimLatencies(system.id));
  ctx.log(
    `${system.id} ${pending.toLocaleString("en")} pending: claim p50 ${latency.p50.toFixed(2)} ms, drain ${rate.toFixed(0)} jobs/s`,
  );
  return { claim: latency.p50, claimP99: latency.p99, rate };
}

function short(n: number): string {
  return n >= 1_000_000 ? `${n / 1_000_000}M` : `${n / 1_000}k`;
}

export const w6Scale: Workload = {
  id: "W6",
  title: "scale",
  metrics: [
    { key: "claim", label: `claim p50 ms (≤${CLAIM_LIMIT} jobs)`, digits: 2 },
    { key: "claimP99", label: "claim p99 ms", digits: 2 },
    { key: "rate", label: "drain jobs/s", digits: 0 },
  ],
  settings: (s) =>
    `${short(s.w6Small)} vs ${short(s.w6Large)} future jobs pending (a template job copied by one INSERT…SELECT), then ` +
    `${s.w6Due.toLocaleString("en")} due jobs drained by the engine in this process (concurrency ${CONCURRENCY}), then ` +
    `${s.w6Due.toLocaleString("en")} more claimed through the store's jobClaimDue (limit ${CLAIM_LIMIT}), each call timed; ` +
    `the growth row is large ÷ small; run once (seeding dominates its time)`,
  // Seeding a million rows dominates; one run holds hundreds of timed claims at each size.
  once: true,
  applies: (system) => system.family === "tickerq" && (system.backend === "postgres" || system.backend === "sqlite"),
  skipReason: () => "W6 is tickerq on PostgreSQL and SQLite only",
  async run(system, ctx): Promise<Measurement[]> {
    const small = await atSize(system, ctx.sizes.w6Small, ctx);
    const large = await atSize(system, ctx.sizes.w6Large, ctx);
    return [
      { system: system.id, case: `${short(ctx.sizes.w6Small)} pending`, values: { ...small } },
      { system: system.id, case: `${short(ctx.sizes.w6Large)} pending`, values: { ...large } },
      {
        system: system.id,
        case: "growth ×",
        digits: 2,
        values: {
          claim: large.claim / small.claim,
          claimP99: large.claimP99 / small.claimP99,
          rate: large.rate / small.rate,
        },
      },
    ];
  },
};
