/** API routes for cron tickers: list, detail with the next runs, edit, enable, run now, occurrences. */

import { Hono } from "hono";
import type { TickerQ } from "../tickerq.js";
import type { DashboardQueries } from "./queries.js";
import { nextOccurrences } from "../cron.js";
import { CRON_TICKER_PATCH_FIELDS } from "../cron-tickers.js";
import { notFound } from "./http-errors.js";
import { jsonBody, onlyEditable, queryInt, queryStatuses } from "./query.js";
import { cronView, jobView } from "./views.js";
import { describeCron } from "./cron-describe.js";

type AnyTickerQ = TickerQ<any>;

/** The next `count` runs shown in `zone` (the display zone may differ from the ticker's). */
function preview(expression: string, timeZone: string | null, from: Date, count = 5) {
  return {
    summary: describeCron(expression),
    next: nextOccurrences(expression, { from, timeZone: timeZone ?? undefined, count }).map((d) => d.toISOString()),
  };
}

export function cronRoutes(tq: AnyTickerQ, queries: DashboardQueries, onChange: () => void): Hono {
  const app = new Hono();
  const now = () => new Date(tq.options.clock.now());

  app.get("/", async (c) => {
    const page = await tq.cronTickers.list({
      function: c.req.query("function") || undefined,
      limit: queryInt(c, "limit", 100, 1, 1000),
      offset: queryInt(c, "offset", 0, 0, 10_000_000),
    });
    const last = await queries.lastEndedOccurrences(page.items.map((cron) => cron.id));
    const items = page.items.map((cron) => {
      const latest = last[cron.id];
      return {
        ...cronView(cron, describeCron(cron.expression) ?? cron.expression),
        lastRun: latest ? { id: latest.id, status: latest.status, at: latest.updatedAt.toISOString() } : null,
      };
    });
    return c.json({ items, total: page.total });
  });

  /** For forms: describe and preview an expression without saving anything. */
  app.get("/preview", (c) => {
    const expression = c.req.query("expression") ?? "";
    const timeZone = c.req.query("timeZone") || null;
    return c.json(preview(expression, timeZone === "UTC" ? null : timeZone, now()));
  });

  app.get("/:id", async (c) => {
    const id = c.req.param("id");
    const cron = await tq.cronTickers.get(id);
    if (!cron) throw notFound("cron ticker", id);
    const counts = await queries.cronCounts(id);
    const { next, summary } = preview(cron.expression, cron.timeZone, now());
    return c.json({ cron: cronView(cron, summary ?? cron.expression), next: cron.enabled ? next : [], counts });
  });

  app.get("/:id/occurrences", async (c) => {
    const id = c.req.param("id");
    if (!(await queries.cronTickerExists(id))) throw notFound("cron ticker", id);
    const page = await tq.cronTickers.occurrences(id, {
      status: queryStatuses(c),
      limit: queryInt(c, "limit", 25, 1, 500),
      offset: queryInt(c, "offset", 0, 0, 10_000_000),
    });
    return c.json({ items: page.items.map(jobView), total: page.total });
  });

  app.post("/", async (c) => {
    const cron = await tq.cronTickers.add((await jsonBody(c)) as never);
    onChange();
    return c.json({ cron: cronView(cron, describeCron(cron.expression) ?? cron.expression) }, 201);
  });

  app.patch("/:id", async (c) => {
    const id = c.req.param("id");
    const body = await jsonBody(c);
    onlyEditable(body, CRON_TICKER_PATCH_FIELDS);
    if (!(await queries.cronTickerExists(id))) throw notFound("cron ticker", id);
    const cron = await tq.cronTickers.update(id, body);
    onChange();
    return c.json({ cron: cronView(cron, describeCron(cron.expression) ?? cron.expression) });
  });

  app.delete("/:id", async (c) => {
    const id = c.req.param("id");
    if (!(await tq.cronTickers.delete(id))) throw notFound("cron ticker", id);
    onChange();
    return c.json({ deleted: 1 });
  });

  app.post("/:id/trigger", async (c) => {
    const occurrence = await tq.cronTickers.trigger(c.req.param("id"));
    onChange();
    return c.json({ job: jobView(occurrence) }, 201);
  });

  return app;
}
