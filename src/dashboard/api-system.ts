/** API routes for the whole scheduler: session info, overview figures, functions and nodes. */

import { Hono, type Context } from "hono";
import type { TickerQ } from "../tickerq.js";
import { VERSION } from "../version.js";
import { PRIORITIES, RUN_CONDITIONS, TICKER_STATUSES } from "../lifecycle.js";
import { notFound } from "./http-errors.js";
import { queryEnum } from "./query.js";
import { WINDOWS, type DashboardQueries, type HistoryWindow } from "./queries.js";
import { jobView, nodeView } from "./views.js";
import type { AuthKind } from "./auth.js";

type AnyTickerQ = TickerQ<any>;

export function systemRoutes(
  tq: AnyTickerQ,
  queries: DashboardQueries,
  settings: { readOnly: boolean; auth: AuthKind; authHeader: string | null },
  onChange: () => void,
): Hono {
  const app = new Hono();
  const now = () => tq.options.clock.now();
  // Several open dashboards share one computation per second and window.
  const overviewCache = new Map<HistoryWindow, { at: number; body: unknown }>();
  const windowOf = (c: Context) => queryEnum(c, "window", Object.keys(WINDOWS) as HistoryWindow[]) ?? "hour";

  app.get("/session", (c) =>
    c.json({
      nodeId: tq.nodeId,
      version: VERSION,
      store: queries.storeName,
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
    const window = windowOf(c);
    const cached = overviewCache.get(window);
    if (cached && now() - cached.at < 1000) return c.json(cached.body);
    const at = now();
    const [counts, nextDue, running, nodes, history] = await Promise.all([
      queries.counts(),
      queries.nextDue(),
      queries.running(10),
      queries.nodes(),
      queries.history(window),
    ]);
    const body = {
      serverTime: new Date(at).toISOString(),
      counts: { time: counts.time, occurrences: counts.occurrences },
      nextDue: nextDue ? jobView(nextDue) : null,
      running: {
        items: running.map(jobView),
        total: counts.time.InProgress + counts.occurrences.InProgress,
      },
      nodes: nodes.map((node) => nodeView(node, at, tq.options.leaseTimeoutMs, tq)),
      activity: history,
    };
    overviewCache.set(window, { at, body });
    return c.json(body);
  });

  app.get("/functions", async (c) => {
    const [counts, history] = await Promise.all([queries.counts(), queries.history(windowOf(c))]);
    const stats = new Map(history.functions.map((f) => [f.function, f]));
    const items = tq.functions.map((fn) => ({
      ...fn,
      counts: counts.byFunction[fn.name] ?? Object.fromEntries(TICKER_STATUSES.map((s) => [s, 0])),
      stats: stats.get(fn.name) ?? null,
    }));
    return c.json({ window: history.window, items });
  });

  app.get("/nodes", async (c) => {
    const at = now();
    const nodes = await queries.nodes();
    return c.json({ items: nodes.map((node) => nodeView(node, at, tq.options.leaseTimeoutMs, tq)) });
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
