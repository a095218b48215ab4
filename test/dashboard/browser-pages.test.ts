/**
 * The dashboard's pages in Chromium against the defects issue 13 listed: each test would have
 * caught one (hash changes ignored on the list, ids with "/" or "?", a malformed hash, a stale
 * cron preview, a bad time zone, attempts of jobs never run, the list refetching per change,
 * the password in sessionStorage, a layout wider than a phone), plus every page at 360 and
 * 1440 px in both themes. Screenshots go to test-output/.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { createTickerQ } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite.js";
import { demoFunctions, startFixture } from "./browser-fixture.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = fileURLToPath(new URL("../../test-output/", import.meta.url));

describe.skipIf(!existsSync(CHROMIUM))("dashboard pages in Chromium", () => {
  let fixture: Awaited<ReturnType<typeof startFixture>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);
  const rowIds = () =>
    page
      .locator("[data-testid=jobs-table] [data-job-id]")
      .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.jobId));
  const api = (method: string, path: string, body?: unknown) =>
    page.evaluate(
      async ({ method, path, body }) => {
        const response = await fetch(`${location.pathname}api${path}`, {
          method,
          headers: { "x-tickerq-request": "1", ...(body ? { "content-type": "application/json" } : {}) },
          body: body ? JSON.stringify(body) : undefined,
        });
        return { status: response.status, body: await response.json() };
      },
      { method, path, body },
    );

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    [fixture, browser] = await Promise.all([
      startFixture({
        // Metadata as tracing middleware writes it, on the jobs whose id says so.
        middleware: [
          {
            name: "trace",
            async enqueue(job, next) {
              if (job.id.startsWith("meta-")) {
                job.metadata["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
                job.metadata["tenant"] = "<b>acme</b>";
              }
              await next();
            },
          },
        ],
      }),
      chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] }),
    ]);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: "light" });
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (error) => pageErrors.push(error.message));
    await page.goto(fixture.url);
    await page.waitForSelector("[data-testid=login-form]");
    await page.fill("#username", "ops");
    await page.fill("#password", "correct horse");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=live-status][data-state=live]");
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fixture?.stop();
  });

  it("keeps no password where a script can read it: an HttpOnly session cookie signs the calls", async () => {
    const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage, ...localStorage }) + document.cookie);
    expect(stored).not.toContain("correct horse");
    expect(stored).not.toContain("tickerq_session");
    const cookies = await page.context().cookies();
    expect(cookies.find((c) => c.name === "tickerq_session")).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect((await api("GET", "/session")).status).toBe(200);
  });

  it("counts in the Failed tile what the list it links to shows, with failing cron runs about", async () => {
    // Failed cron occurrences sit in the same table as failed time tickers: the tile must not count them.
    const cron = await fixture.tq.cronTickers.add({ function: "SyncInventory", expression: "0 0 1 1 *" });
    await fixture.tq.cronTickers.trigger(cron.id);
    await fixture.tq.cronTickers.trigger(cron.id);
    await expect
      .poll(async () => (await fixture.tq.cronTickers.occurrences(cron.id, { status: "Failed" })).total)
      .toBe(2);
    await expect.poll(async () => (await api("GET", "/overview")).body.counts.occurrences.Failed).toBeGreaterThan(1);
    const failedTimeTickers = (await api("GET", "/overview")).body.counts.time.Failed as number;
    expect(failedTimeTickers).toBeGreaterThan(0);
    // A fresh overview (the one shown since sign-in predates the cron failures).
    await go("/nodes");
    await page.waitForSelector("[data-testid=nodes-table]");
    const fresh = page.waitForResponse((r) => r.url().includes("/api/overview"));
    await go("/");
    await fresh;
    await expect.poll(() => page.textContent("[data-testid=tile-Failed]")).toBe(String(failedTimeTickers));
    await page.click("[data-testid=tile-Failed]");
    await page.waitForSelector("[data-testid=jobs-table] [data-job-id]");
    expect(page.url()).toContain("status=Failed");
    await expect.poll(() => page.textContent("[data-testid=pager]")).toContain(`of ${failedTimeTickers}`);
    expect(await rowIds()).toHaveLength(failedTimeTickers);
  });

  it("draws every y-axis label of the throughput chart whole and inside the chart", async () => {
    // Big numbers in the buckets: the axis must be wide enough for "9000" and for "120k".
    for (const peak of [9_000, 123_456]) {
      await page.route("**/api/overview?*", async (route) => {
        const response = await route.fetch();
        const body = await response.json();
        body.activity.buckets = body.activity.buckets.map((b: any, i: number) => ({
          ...b,
          succeeded: i % 2 ? peak : Math.round(peak / 3),
          failed: i % 3 ? 0 : Math.round(peak / 10),
        }));
        await route.fulfill({ response, json: body });
      });
      // Every label uPlot draws on its canvas, with where its box ends up.
      await page.evaluate(() => {
        const drawn: {
          text: string;
          left: number;
          right: number;
          top: number;
          bottom: number;
          w: number;
          h: number;
        }[] = [];
        (window as any).__labels = drawn;
        const proto = CanvasRenderingContext2D.prototype as any;
        proto.__fillText ??= proto.fillText;
        proto.fillText = function (this: CanvasRenderingContext2D, text: string, x: number, y: number) {
          const m = this.measureText(text);
          const t = this.getTransform();
          const at = t.a * x + t.e;
          const width = m.width * t.a;
          const left = this.textAlign === "right" ? at - width : this.textAlign === "center" ? at - width / 2 : at;
          const middle = t.d * y + t.f;
          drawn.push({
            text: String(text),
            left,
            right: left + width,
            top: middle - m.actualBoundingBoxAscent * t.d,
            bottom: middle + m.actualBoundingBoxDescent * t.d,
            w: this.canvas.width,
            h: this.canvas.height,
          });
          return proto.__fillText.call(this, text, x, y);
        };
      });
      await go("/nodes");
      await page.waitForSelector("[data-testid=nodes-table]");
      await go("/");
      await page.waitForSelector("[data-testid=throughput-chart] canvas");
      const labels = () =>
        page.evaluate(() =>
          ((window as any).__labels as { text: string }[]).filter((l) => /^\d+k?$/.test(l.text)),
        ) as Promise<
          { text: string; left: number; right: number; top: number; bottom: number; w: number; h: number }[]
        >;
      const value = (text: string) => (text.endsWith("k") ? Number(text.slice(0, -1)) * 1000 : Number(text));
      await expect
        .poll(async () => Math.max(0, ...(await labels()).map((l) => value(l.text))))
        .toBeGreaterThan(peak / 2);
      for (const label of await labels()) {
        expect(label.left, `"${label.text}" starts inside the chart`).toBeGreaterThanOrEqual(0);
        expect(label.right, `"${label.text}" ends inside the chart`).toBeLessThanOrEqual(label.w);
        expect(label.top, `"${label.text}" inside the chart`).toBeGreaterThanOrEqual(0);
        expect(label.bottom, `"${label.text}" inside the chart`).toBeLessThanOrEqual(label.h);
      }
      // The full number: 9000's axis reads "8000", not "000"; 123,456's reads "120k".
      const texts = (await labels()).map((l) => l.text);
      expect(
        texts.some((text) => (peak < 10_000 ? /^\d{4}$/ : /^\d{2,3}k$/).test(text)),
        texts.join(" "),
      ).toBe(true);
      await page.unroute("**/api/overview?*");
      await page.evaluate(() => {
        const proto = CanvasRenderingContext2D.prototype as any;
        proto.fillText = proto.__fillText;
      });
    }
  });

  it("shows a job's metadata and the node of each attempt on the job's page", async () => {
    const id = "meta-two-nodes";
    await fixture.tq.timeTickers.add({ id, function: "SyncInventory", description: "runs on two nodes" });
    await expect.poll(async () => (await api("GET", `/jobs/${id}`)).body.job?.status).toBe("Failed");
    // The second attempt on another node sharing the file, while this one is paused.
    fixture.tq.pause();
    const second = createTickerQ({
      functions: demoFunctions,
      store: sqliteStore({ filename: fixture.filename }),
      nodeId: "web-2",
      heartbeatIntervalMs: 1000,
    });
    await second.start();
    try {
      expect((await api("POST", `/jobs/${id}/retry`)).status).toBe(200);
      await expect
        .poll(async () => (await api("GET", `/jobs/${id}`)).body.attempts?.length, { timeout: 15_000 })
        .toBe(2);
    } finally {
      await second.stop({ timeoutMs: 500 });
      fixture.tq.resume();
    }
    await go(`/jobs/${id}`);
    await expect
      .poll(() => page.locator("[data-testid=attempts] tbody tr:has([data-status]) td:nth-child(3)").allTextContents())
      .toEqual(["web-1", "web-2"]);
    const metadata = await page
      .locator("[data-testid=metadata] dt")
      .evaluateAll((dts) => dts.map((dt) => [dt.textContent?.trim(), dt.nextElementSibling?.textContent?.trim()]));
    expect(metadata).toEqual([
      ["traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
      ["tenant", "<b>acme</b>"],
    ]);
    expect(await page.locator("[data-testid=metadata] b").count()).toBe(0);
  });

  it("follows the hash while on the list (status, offset)", async () => {
    await go("/time?status=Failed");
    await expect.poll(async () => (await rowIds()).length).toBeGreaterThan(0);
    await expect
      .poll(() =>
        page
          .locator("[data-testid=jobs-table] [data-status]")
          .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.status)),
      )
      .toEqual(expect.arrayContaining(["Failed"]));
    // A job that ended names the node that ran it last (it holds no lease any more).
    await expect
      .poll(() => page.locator("[data-testid=jobs-table] [data-job-id=failing-sync] [data-testid=node]").textContent())
      .toBe("web-1");
    // So does its page (the job holds no lease; its attempt names the node).
    await go("/jobs/failing-sync");
    await expect.poll(() => page.locator("dt:text-is('Node') + dd").textContent()).toBe("web-1");
    await go("/time?status=Idle");
    await expect
      .poll(async () => {
        const statuses = await page
          .locator("[data-testid=jobs-table] [data-status]")
          .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.status));
        return statuses.length > 0 && statuses.every((s) => s === "Idle");
      })
      .toBe(true);
    await go("/time?offset=5");
    await expect.poll(() => page.textContent("[data-testid=pager]")).toMatch(/6–/);
  });

  it("opens a job whose id holds / and ?, and survives a malformed hash", async () => {
    const id = "tenant/a?b=1#c";
    const created = await api("POST", "/jobs", {
      id,
      function: "GenerateInvoice",
      request: { invoiceId: 9 },
      executionTime: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect(created.status).toBe(201);
    await go("/time?search=tenant");
    await page.locator(`[data-job-id="${id}"]`).click();
    await page.getByText(id, { exact: false }).first().waitFor();
    expect(decodeURIComponent(page.url())).toContain(id);
    // A job never run has made no attempt yet: 0 of 1, not 1 of 1.
    await go("/time?search=tenant");
    await expect
      .poll(() => page.locator(`[data-job-id="${id}"] [data-testid=attempts]`).textContent())
      .toMatch(/^\s*0\s*\/1/);
    const before = pageErrors.length;
    await go("/jobs/%E0%A4%A");
    await go("/time?status=%ZZ");
    await page.waitForSelector("[data-testid=jobs-table]");
    expect(pageErrors.slice(before)).toEqual([]);
  });

  it("patches changed rows into the list instead of refetching it", async () => {
    await go("/time?orderBy=executionTime&order=asc");
    await page.waitForSelector("[data-testid=jobs-table] [data-job-id]");
    let listCalls = 0;
    const count = (request: { url(): string; method(): string }) => {
      if (request.method() === "GET" && /\/api\/jobs(\?|$)/.test(request.url())) listCalls++;
    };
    page.on("request", count);
    const id = `live-${Date.now()}`;
    await api("POST", "/jobs", {
      id,
      function: "SendWelcomeEmail",
      request: { email: "live@example.com", name: "Live" },
      executionTime: new Date(Date.now() + 60_000).toISOString(),
    });
    await page.waitForSelector(`[data-job-id="${id}"]`);
    await api("POST", `/jobs/${encodeURIComponent(id)}/cancel`);
    await page.waitForSelector(`[data-job-id="${id}"] [data-status=Cancelled]`);
    page.off("request", count);
    expect(listCalls).toBe(0);
  });

  it("refetches a job's page only for changes to that job, the Functions page at most every five seconds", async () => {
    const id = "own-page";
    await api("POST", "/jobs", {
      id,
      function: "GenerateInvoice",
      request: { invoiceId: 5 },
      executionTime: new Date(Date.now() + 86_400_000).toISOString(),
    });
    const calls = { job: 0, functions: 0 };
    const count = (request: { url(): string; method(): string }) => {
      if (request.method() !== "GET") return;
      const path = new URL(request.url()).pathname;
      if (path.endsWith(`/api/jobs/${id}`)) calls.job++;
      if (path.endsWith("/api/functions")) calls.functions++;
    };
    // Other jobs failing, each seen by the page (the header's failed count) before the next.
    const failedShown = async () => Number(/(\d+) failed/.exec((await page.textContent("header")) ?? "")?.[1] ?? NaN);
    const failElsewhere = async (times: number) => {
      for (let i = 0; i < times; i++) {
        const before = await failedShown();
        await api("POST", "/jobs", { function: "SyncInventory", description: `elsewhere ${i}` });
        await expect.poll(failedShown).toBeGreaterThan(before);
      }
    };
    // Its creation reaches the browser before the page opens (events come in order).
    await go("/nodes");
    await expect.poll(failedShown).toBeGreaterThanOrEqual(0);
    await failElsewhere(1);
    await go(`/jobs/${id}`);
    await page.waitForSelector("[data-testid=job-detail]");
    page.on("request", count);
    try {
      await failElsewhere(3);
      await api("PATCH", `/jobs/${id}`, { description: "changed here" });
      await expect.poll(() => page.textContent("[data-testid=job-detail]")).toContain("changed here");
      expect(calls.job).toBe(1);

      await go("/functions");
      await page.waitForSelector("[data-testid=functions-table] tbody tr");
      calls.functions = 0;
      const started = Date.now();
      await failElsewhere(4);
      // The bound grows with the time taken, so a slow machine cannot fail it.
      expect(calls.functions).toBeLessThanOrEqual(1 + Math.floor((Date.now() - started) / 5000));
    } finally {
      page.off("request", count);
    }
  });

  it("shows the stale-free cron preview and tolerates a half-typed time zone", async () => {
    await go("/create");
    await page.click("[data-testid=kind-cron]");
    const expression = page.locator("input.mono").first();
    // The reply for "0 9 * * *" is held until after the error for "61 * * * *" shows.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route("**/cron/preview?*", async (route) => {
      if (route.request().url().includes("0+9") || route.request().url().includes("0%209")) await held;
      await route.continue();
    });
    const slow = page.waitForResponse((r) => r.url().includes("preview") && /0(\+|%20)9/.test(r.url()));
    await expression.fill("0 9 * * *");
    await page.waitForRequest((r) => /0(\+|%20)9/.test(r.url()));
    await expression.fill("61 * * * *");
    await page.locator("[data-testid=cron-preview] .text-red-600").waitFor();
    release();
    await slow;
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve(null))));
    expect(await page.textContent("[data-testid=cron-preview]")).not.toContain("At 09:00");
    await page.unroute("**/cron/preview?*");
    const before = pageErrors.length;
    await expression.fill("0 9 * * *");
    await page.locator("input[list=zones]").fill("Europe/Par");
    await page.locator("input[list=zones]").fill("Europe/Paris");
    await page.getByText("At 09:00").waitFor();
    expect(pageErrors.slice(before)).toEqual([]);
  });

  it("switches the overview between hour, day and week and lists per-function figures", async () => {
    await go("/");
    await page.waitForSelector("[data-testid=function-stats]");
    await page.click("[data-testid=window-day]");
    await page.getByText("Throughput, last 24 hours").waitFor();
    await page.click("[data-testid=window-week]");
    await page.getByText("Throughput, last 7 days").waitFor();
    await expect.poll(() => page.locator("[data-testid=function-stats] tbody tr").count()).toBeGreaterThan(0);
    await page.click("[data-testid=window-hour]");
  });

  for (const width of [360, 1440])
    for (const scheme of ["light", "dark"] as const)
      it(`fits every page at ${width} px in ${scheme}, nav and sign-out on screen`, async () => {
        await page.setViewportSize({ width, height: 800 });
        await page.emulateMedia({ colorScheme: scheme });
        const cron = (await fixture.tq.cronTickers.list({ function: "PurgeSessions" })).items[0]!;
        for (const [name, hash, ready] of [
          ["overview", "/", "[data-testid=status-tiles]"],
          ["time", "/time", "[data-testid=jobs-table]"],
          ["cron", "/cron", "table"],
          ["functions", "/functions", "table"],
          ["nodes", "/nodes", "table"],
          ["create", "/create", "form"],
          ["job", "/jobs/failing-sync", "[data-testid=attempts]"],
          ["cron-detail", `/cron/${encodeURIComponent(cron.id)}`, "[data-testid=next-runs] li"],
        ] as const) {
          await go(hash);
          await page.waitForSelector(ready);
          // The page itself never scrolls sideways; wide tables scroll inside their card.
          expect(
            await page.evaluate(() => document.documentElement.scrollWidth),
            `${name} at ${width}`,
          ).toBeLessThanOrEqual(width);
          for (const selector of ["[data-testid=nav]", "[data-testid=sign-out]"]) {
            const box = await page.locator(selector).boundingBox();
            expect(box && box.x >= 0 && box.x + box.width <= width, `${selector} on ${name} at ${width}`).toBe(true);
          }
          await page.screenshot({ path: `${OUT}pages-${name}-${width}-${scheme}.png`, fullPage: true });
        }
        await page.setViewportSize({ width: 1440, height: 900 });
        // The sign-in page, in a browser not signed in.
        const context = await browser.newContext({ viewport: { width, height: 800 }, colorScheme: scheme });
        try {
          const login = await context.newPage();
          await login.goto(fixture.url);
          await login.waitForSelector("[data-testid=login-form]");
          expect(
            await login.evaluate(() => document.documentElement.scrollWidth),
            `login at ${width}`,
          ).toBeLessThanOrEqual(width);
          const submit = await login.locator("button[type=submit]").boundingBox();
          expect(submit && submit.x >= 0 && submit.x + submit.width <= width, `sign-in button at ${width}`).toBe(true);
          await login.screenshot({ path: `${OUT}pages-login-${width}-${scheme}.png`, fullPage: true });
        } finally {
          await context.close();
        }
      });
});
