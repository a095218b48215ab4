/** API routes for the whole scheduler: session info, overview figures, functions and nodes. */

import { Hono } from "hono";
import { VERSION, type TickerQ } from "../tickerq.js";
import { FINAL_STATUSES, PRIORITIES, RUN_CONDITIONS, TICKER_STATUSES } from "../lifecycle.js";
import type { JobRecord } from "../store/contract.js";
import { notFound } from "./http-errors.js";
import { jobView, nodeView } from "./views.js";
import type { AuthKind } from "./auth.js";

type AnyTickerQ = TickerQ<any>;

const MINUTE = 60_000;
const WINDOW_MINUTES = 60;

/** Per-minute completions and failures over the last hour, and how late runs started. */
export function activity(jobs: readonly JobRecord[], now: number) {
  const end = Math.floor(now / MINUTE) * MINUTE + MINUTE;
  const start = end - WINDOW_MINUTES * MINUTE;
  const buckets = Array.from({ length: WINDOW_MINUTES }, (_, i) => ({
    t: start + i * MINUTE,
    succeeded: 0,
    failed: 0,
  }));
  const lateness: number[] = [];
  for (const job of jobs) {
    const t = job.updatedAt.getTime();
    if (t < start || t >= end) continue;
    const bucket = buckets[Math.floor((t - start) / MINUTE)]!;
    if (job.status === "Failed") bucket.failed++;
    else if (job.status === "Done" || job.status === "DueDone") bucket.succeeded++;
    // Only first attempts say how late the scheduler fired; retries are late by design.
    if (job.executedAt && job.scheduledFor && job.retryCount === 0)
      lateness.push(job.executedAt.getTime() - job.scheduledFor.getTime());
  }
  lateness.sort((a, b) => a - b);
  const pick = (q: number) =>
    lateness.length ? lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))]! : null;
  return {
    buckets,
    lateness: {
      samples: lateness.length,
      p50: pick(0.5),
      p95: pick(0.95),
      max: lateness.length ? lateness[lateness.length - 1]! : null,
    },
  };
}

export function systemRoutes(
  tq: AnyTickerQ,
  settings: { readOnly: boolean; auth: AuthKind; authHeader: string | null },
  onChange: () => void,
): Hono {
  const app = new Hono();
  const now = () => tq.options.clock.now();
  let overviewCache: { at: number; body: unknown } | null = null;

  app.get("/session", (c) =>
    c.json({
      nodeId: tq.nodeId,
      version: VERSION,
      store: tq.store.name,
      readOnly: settings.readOnly,
      auth: settings.auth,
      serverTime: new Date(now()).toISOString(),
      statuses: TICKER_STATUSES,
      priorities: PRIORITIES,
      runConditions: RUN_CONDITIONS,
      functions: tq.functions,
    }),
  );

  app.get("/overview", async (c) => {
    // Several open dashboards share one computation per second.
    if (overviewCache && now() - overviewCache.at < 1000) return c.json(overviewCache.body);
    const at = now();
    const [time, occurrences, nextDue, running, nodes, recent] = await Promise.all([
      tq.store.jobCountByStatus({ type: "TimeTicker" }),
      tq.store.jobCountByStatus({ type: "CronTickerOccurrence" }),
      tq.store.jobList({ status: "Idle", orderBy: "executionTime", order: "asc", limit: 1 }),
      tq.store.jobList({ status: "InProgress", orderBy: "executionTime", order: "asc", limit: 10 }),
      tq.store.nodeList(),
      tq.store.jobList({
        status: FINAL_STATUSES,
        updatedSince: new Date(at - WINDOW_MINUTES * MINUTE),
        orderBy: "updatedAt",
        order: "desc",
        limit: 5000,
      }),
    ]);
    const body = {
      serverTime: new Date(at).toISOString(),
      counts: { time, occurrences },
      nextDue: nextDue.items[0] ? jobView(nextDue.items[0]) : null,
      running: { items: running.items.map(jobView), total: running.total },
      nodes: nodes.map((node) => nodeView(node, at, tq.options.leaseTimeoutMs, tq.nodeId)),
      activity: activity(recent.items, at),
    };
    overviewCache = { at, body };
    return c.json(body);
  });

  app.get("/functions", async (c) => {
    const items = await Promise.all(
      tq.functions.map(async (fn) => ({ ...fn, counts: await tq.store.jobCountByStatus({ function: fn.name }) })),
    );
    return c.json({ items });
  });

  app.get("/nodes", async (c) => {
    const at = now();
    const nodes = await tq.store.nodeList();
    return c.json({ items: nodes.map((node) => nodeView(node, at, tq.options.leaseTimeoutMs, tq.nodeId)) });
  });

  for (const action of ["pause", "resume"] as const) {
    app.post(`/nodes/:nodeId/${action}`, async (c) => {
      const nodeId = c.req.param("nodeId");
      const found = await tq.setNodePaused(nodeId, action === "pause");
      if (!found) throw notFound("node", nodeId);
      onChange();
      return c.json({ nodeId, paused: action === "pause" });
    });
  }

  return app;
}
