/**
 * The dashboard in a real browser (playwright-core + Debian's chromium): login, live updates
 * from another process sharing the SQLite file, actions, filters, detail with stack, forms.
 * Screenshots go to test-output/ for a human to look at.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { startFixture } from "./browser-fixture.js";
import { serveDashboard } from "../../src/dashboard/index.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUT = fileURLToPath(new URL("../../test-output/", import.meta.url));
const run = promisify(execFile);

describe.skipIf(!existsSync(CHROMIUM))("dashboard in Chromium", () => {
  let fixture: Awaited<ReturnType<typeof startFixture>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const go = async (hash: string) => {
    await page.evaluate((h) => (location.hash = h), hash);
  };
  const statuses = (selector: string) =>
    page.locator(selector).evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.status));
  const shot = (name: string) => page.screenshot({ path: `${OUT}${name}.png` });

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    [fixture, browser] = await Promise.all([
      startFixture(),
      chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--headless",
          "--no-sandbox",
          "--disable-gpu",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
          "--no-first-run",
        ],
      }),
    ]);
    page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: "light" });
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (error) => pageErrors.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await fixture?.stop();
  });

  it("asks for credentials, refuses wrong ones, then shows the overview", async () => {
    await page.goto(fixture.url);
    await page.waitForSelector("[data-testid=login-form]");
    await page.fill("#username", "ops");
    await page.fill("#password", "wrong");
    await page.click("button[type=submit]");
    await page.getByText("Wrong username or password.").waitFor();
    await page.fill("#password", "correct horse");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=status-tiles]");
    await page.waitForSelector("[data-testid=live-status][data-state=live]");
    // Seeded jobs due now have run: two SyncInventory failures show up in the tiles.
    await expect.poll(() => page.textContent("[data-testid=tile-Failed]")).toBe("2");
    expect(page.url()).not.toContain("correct");
    await shot("overview-light");
  });

  it("shows a job another process adds to the shared SQLite file, without a reload", async () => {
    await go("/time");
    await page.waitForSelector("[data-testid=jobs-table] [data-job-id]");
    const id = `from-process-${Date.now()}`;
    await run(process.execPath, [
      "--import",
      "tsx",
      fileURLToPath(new URL("./add-job-process.ts", import.meta.url)),
      fixture.filename,
      id,
    ]);
    const started = Date.now();
    await page.waitForSelector(`[data-job-id="${id}"]`, { timeout: 3000 });
    expect(Date.now() - started).toBeLessThan(1500);
    await shot("time-tickers-light");
  });

  it("filters the list by status and by text", async () => {
    await page.selectOption("[data-testid=filter-status]", "Failed");
    await expect.poll(() => page.locator("[data-testid=jobs-table] [data-job-id]").count()).toBe(2);
    await expect.poll(() => statuses("[data-testid=jobs-table] [data-status]")).toEqual(["Failed", "Failed"]);
    expect(page.url()).toContain("status=Failed");
    await page.selectOption("[data-testid=filter-status]", "");
    await page.fill("[data-testid=filter-search]", "invoice 1042");
    await expect.poll(() => page.locator("[data-testid=jobs-table] [data-job-id]").count()).toBe(1);
    // The tree: expanding the parent shows its two children with their run conditions.
    await page.fill("[data-testid=filter-search]", "");
    await page.locator("[data-testid=expand]").first().click();
    await page.getByText("OnFailure", { exact: true }).waitFor();
  });

  it("opens a failed job's detail with its stack trace, and retries it", async () => {
    await go("/jobs/failing-sync");
    await page.waitForSelector("[data-testid=job-detail]");
    await page.click("[data-testid=toggle-stack]");
    const stack = await page.textContent("[data-testid=stack]");
    expect(stack).toContain("Upstream 503 from inventory API");
    expect(stack).toMatch(/\n\s+at /);
    await shot("job-detail-light");
    await page.getByRole("button", { name: "Retry" }).click();
    // It runs again at once, fails again, and the second attempt appears live.
    await expect
      .poll(() => page.locator("[data-testid=attempts] tbody tr:has([data-status])").count(), { timeout: 5000 })
      .toBe(2);
    // Numbered in run order, though the operator's retry restarted the retry count.
    const numbers = await page
      .locator("[data-testid=attempts] tbody tr:has([data-status]) td:first-child")
      .allTextContents();
    expect(numbers.map((n) => n.trim())).toEqual(["1", "2"]);
  });

  it("renders HTML in payloads as text", async () => {
    await go("/time");
    await page.fill("[data-testid=filter-search]", "onerror");
    await expect.poll(() => page.locator("[data-testid=jobs-table] [data-job-id]").count()).toBe(1);
    await page.locator("[data-testid=jobs-table] [data-job-id]").first().click();
    await page.waitForSelector("[data-testid=request-json]");
    expect(await page.textContent("[data-testid=request-json]")).toContain("<script>window.__xss = 1</script>");
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(await page.locator("[data-testid=job-detail] img").count()).toBe(0);
  });

  it("runs a cron ticker now and shows the run", async () => {
    await go("/cron");
    const row = page.locator("[data-cron-id]", { hasText: "PurgeSessions" });
    await row.getByTestId("cron-run-now").click();
    await expect
      .poll(() => statuses("[data-cron-id]:has-text('PurgeSessions') [data-status]"), { timeout: 5000 })
      .toEqual([expect.stringMatching(/^(Done|DueDone)$/)]);
    await shot("cron-light");
    await row.click();
    await page.waitForSelector("[data-testid=cron-detail]");
    await expect.poll(() => page.locator("[data-testid=next-runs] li").count()).toBe(5);
    await page.waitForSelector("[data-testid=occurrences] :is([data-status=Done], [data-status=DueDone])");
  });

  it("shows the server's validation error next to the field and saves nothing", async () => {
    await go("/create?kind=cron");
    await page.waitForSelector("[data-testid=create-form]");
    await page.fill("#c-expr", "61 * * * *");
    await page.getByText('the minute field "61" is invalid').first().waitFor();
    await page.click("[data-testid=create-submit]");
    await page.waitForSelector("[data-testid=error-expression]");
    expect(await page.textContent("[data-testid=error-expression]")).toContain("minute");
    const count = await fixture.tq.cronTickers.list();
    expect(count.total).toBe(2);
    await page.fill("#c-expr", "*/10 * * * *");
    await page.getByText("Every 10 minutes").waitFor();
    await shot("create-cron-light");
    await page.click("[data-testid=kind-time]");
    await page.fill("#t-req", "{ not json");
    await page.click("[data-testid=create-submit]");
    await page.waitForSelector("[data-testid=error-request]");
  });

  it("says when the live stream drops and reconnects by itself", async () => {
    await go("/");
    await page.waitForSelector("[data-testid=live-status][data-state=live]");
    // Cut the open stream from the server side (as a proxy restart would) and keep new ones failing for a while.
    await page.route("**/api/stream", (route) => route.abort());
    fixture.served.server.closeAllConnections();
    await page.waitForSelector("[data-testid=live-status][data-state=reconnecting]");
    expect(await page.textContent("[data-testid=live-status]")).toContain("Disconnected — reconnecting");
    await page.unroute("**/api/stream");
    await page.waitForSelector("[data-testid=live-status][data-state=live]", { timeout: 8000 });
  });

  it("pauses and resumes a node from the Nodes page", async () => {
    await go("/nodes");
    const row = page.locator("[data-testid=nodes-table] [data-node=web-1]");
    await row.getByRole("button", { name: "Pause" }).click();
    await row.getByText("paused").waitFor();
    await expect.poll(() => fixture.tq.paused).toBe(true);
    await row.getByRole("button", { name: "Resume" }).click();
    await row.getByText("running").waitFor();
    expect(fixture.tq.paused).toBe(false);
  });

  it("hides every action in read-only mode", async () => {
    const readOnly = await serveDashboard(fixture.tq, {
      port: 0,
      basePath: "/ro",
      auth: { type: "none" },
      readOnly: true,
    });
    const other = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      await other.goto(`${readOnly.url}#/jobs/failing-sync`);
      await other.waitForSelector("[data-testid=job-detail]");
      expect(await other.locator("[data-testid=job-actions]").count()).toBe(0);
      expect(await other.locator("[data-testid=nav-create]").count()).toBe(0);
      await other.getByText("Read-only").waitFor();
      await other.evaluate(() => (location.hash = "/cron"));
      await other.waitForSelector("[data-cron-id]");
      expect(await other.locator("[data-testid=cron-run-now]").count()).toBe(0);
    } finally {
      await other.close();
      await readOnly.close();
    }
  });

  it("looks right in dark mode", async () => {
    await page.emulateMedia({ colorScheme: "dark" });
    await go("/");
    await page.waitForSelector("html.dark");
    await page.waitForSelector("[data-testid=throughput-chart] canvas");
    await shot("overview-dark");
    await go("/jobs/failing-sync");
    await page.click("[data-testid=toggle-stack]");
    await shot("job-detail-dark");
    await go("/time");
    await page.waitForSelector("[data-testid=jobs-table] [data-job-id]");
    await shot("time-tickers-dark");
    await go("/cron");
    await page.waitForSelector("[data-cron-id]");
    await shot("cron-dark");
    await go("/functions");
    await page.waitForSelector("[data-testid=functions-table] tbody tr");
    await shot("functions-dark");
    await go("/nodes");
    await page.waitForSelector("[data-node]");
    await shot("nodes-dark");
    await go("/create");
    await page.waitForSelector("[data-testid=create-form]");
    await page.click("[data-testid=add-child]");
    await shot("create-time-dark");
    expect(pageErrors).toEqual([]);
  });
});
