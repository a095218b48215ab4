/**
 * Operator actions in Chromium: "apply to all matching the filter" (cancel, retry, delete run
 * server-side in batches, with progress shown), pausing and resuming a node at 360 and 1440 px,
 * and a list that drops the row of a job another process deleted (no event reaches this node).
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startFixture } from "./browser-fixture.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TAG = "bulk-batch";
const BATCH = 60;

describe.skipIf(!existsSync(CHROMIUM))("dashboard operations in Chromium", () => {
  let fixture: Awaited<ReturnType<typeof startFixture>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const go = (hash: string) => page.evaluate((h) => (location.hash = h), hash);
  const rowIds = () =>
    page
      .locator("[data-testid=jobs-table] [data-job-id]")
      .evaluateAll((els) => els.map((el) => (el as HTMLElement).dataset.jobId));
  const tagged = async (status?: string) =>
    (await fixture.tq.store.jobList({ search: TAG, ...(status ? { status: status as never } : {}) })).total;

  beforeAll(async () => {
    [fixture, browser] = await Promise.all([
      startFixture(),
      chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu"] }),
    ]);
    page = await browser.newPage({ viewport: { width: 360, height: 800 }, colorScheme: "light" });
    page.setDefaultTimeout(10_000);
    page.on("pageerror", (error) => pageErrors.push(error.message));
    // Delete asks for confirmation; the operator says yes.
    page.on("dialog", (dialog) => void dialog.accept());
    await page.goto(fixture.url);
    await page.waitForSelector("[data-testid=login-form]");
    await page.fill("#username", "ops");
    await page.fill("#password", "correct horse");
    await page.click("button[type=submit]");
    await page.waitForSelector("[data-testid=live-status][data-state=live]");
  }, 60_000);

  afterAll(async () => {
    expect(pageErrors).toEqual([]);
    await browser?.close();
    await fixture?.stop();
  });

  /** Selects every job the list's filter matches and runs `action` on them; returns the progress texts shown. */
  async function applyToAllMatching(action: "Retry" | "Cancel" | "Delete"): Promise<string[]> {
    await page.locator("[data-testid=jobs-table] thead input[type=checkbox]").check();
    await page.click("[data-testid=select-all-matching]");
    await expect.poll(() => page.textContent("[data-testid=bulk-count]")).toMatch(/^All \d+ matching$/);
    // Progress can come and go between two looks: record every text it shows.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { __progress: string[] }).__progress = seen;
      new MutationObserver(() => {
        const text = document.querySelector("[data-testid=bulk-progress]")?.textContent?.trim();
        if (text && !seen.includes(text)) seen.push(text);
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.locator("[data-testid=bulk-bar]").getByRole("button", { name: action, exact: true }).click();
    await page.waitForSelector("[data-testid=bulk-bar]", { state: "detached" });
    return page.evaluate(() => (window as unknown as { __progress: string[] }).__progress);
  }

  it("cancels, retries and deletes every job matching the filter, past the page shown, with progress", async () => {
    const later = Date.now() + 86_400_000;
    await fixture.tq.timeTickers.addMany(
      Array.from({ length: BATCH }, (_, i) => ({
        function: "GenerateInvoice" as const,
        request: { invoiceId: 9000 + i },
        description: `${TAG} ${i}`,
        executionTime: new Date(later + i * 60_000),
      })),
    );
    expect(await tagged("Idle")).toBe(BATCH);

    await go(`/time?status=Idle&search=${TAG}`);
    await expect.poll(async () => (await rowIds()).length).toBe(50);
    const cancelled = await applyToAllMatching("Cancel");
    expect(
      cancelled.some((text) => new RegExp(`^cancel: \\d+ / ${BATCH}$`).test(text)),
      cancelled.join("|"),
    ).toBe(true);
    await expect.poll(() => tagged("Cancelled")).toBe(BATCH);
    await expect.poll(async () => (await rowIds()).length).toBe(0);

    await go(`/time?status=Cancelled&search=${TAG}`);
    await expect.poll(async () => (await rowIds()).length).toBe(50);
    const retried = await applyToAllMatching("Retry");
    expect(
      retried.some((text) => new RegExp(`^retry: \\d+ / ${BATCH}$`).test(text)),
      retried.join("|"),
    ).toBe(true);
    await expect.poll(() => tagged("Cancelled")).toBe(0);
    expect(await tagged()).toBe(BATCH);

    await go(`/time?search=${TAG}`);
    await expect.poll(async () => (await rowIds()).length).toBe(50);
    const deleted = await applyToAllMatching("Delete");
    expect(
      deleted.some((text) => new RegExp(`^delete: \\d+ / ${BATCH}$`).test(text)),
      deleted.join("|"),
    ).toBe(true);
    await expect.poll(() => tagged()).toBe(0);
    await expect.poll(async () => (await rowIds()).length).toBe(0);
  });

  it("drops the row of a job another process deleted, and its count", async () => {
    const [job] = await fixture.tq.timeTickers.addMany([
      { function: "GenerateInvoice", request: { invoiceId: 7 }, description: "deleted elsewhere" },
    ]);
    await fixture.tq.timeTickers.addMany([
      {
        function: "GenerateInvoice",
        request: { invoiceId: 8 },
        description: "kept",
        executionTime: new Date(Date.now() + 3_600_000),
      },
    ]);
    const id = job!.id;
    await go("/time?search=elsewhere");
    await expect.poll(rowIds).toEqual([id]);
    // Straight through the store, as another process would: this node emits no change for it.
    expect(await fixture.tq.store.jobDeleteMany({ ids: [id] })).toBe(1);
    await expect.poll(rowIds, { timeout: 15_000 }).toEqual([]);
  });

  it("shows this node paused and running again at once, with no heartbeat or poll to bring it", async () => {
    // Heartbeats and the stream's poll ten minutes apart: only what the action itself does can show it.
    const quiet = await startFixture({
      heartbeatIntervalMs: 600_000,
      leaseTimeoutMs: 1_800_000,
      live: { pollIntervalMs: 600_000 },
    });
    const other = await browser.newPage({ viewport: { width: 1440, height: 800 } });
    try {
      other.setDefaultTimeout(10_000);
      await other.goto(`${quiet.url}#/nodes`);
      await other.fill("#username", "ops");
      await other.fill("#password", "correct horse");
      await other.click("button[type=submit]");
      await other.waitForSelector("[data-testid=live-status][data-state=live]");
      const row = other.locator("[data-testid=nodes-table] [data-node=web-1]");
      await row.getByText("running", { exact: false }).waitFor();
      await row.getByRole("button", { name: "Pause" }).click();
      await row.getByText("● paused").waitFor();
      expect(quiet.tq.paused).toBe(true);
      await row.getByRole("button", { name: "Resume" }).click();
      await row.getByText("● running").waitFor();
      expect(quiet.tq.paused).toBe(false);
    } finally {
      await other.close();
      await quiet.stop();
    }
  });

  for (const width of [360, 1440])
    it(`pauses and resumes a node from the Nodes page at ${width} px`, async () => {
      await page.setViewportSize({ width, height: 800 });
      await go("/nodes");
      const row = page.locator("[data-testid=nodes-table] [data-node=web-1]");
      const pause = row.getByRole("button", { name: "Pause" });
      await pause.scrollIntoViewIfNeeded();
      const box = await pause.boundingBox();
      expect(box && box.x >= 0 && box.x + box.width <= width + 1, `Pause reachable at ${width}`).toBe(true);
      await pause.click();
      await row.getByText("paused").waitFor();
      await expect.poll(() => fixture.tq.paused).toBe(true);
      await row.getByRole("button", { name: "Resume" }).click();
      await row.getByText("running").waitFor();
      expect(fixture.tq.paused).toBe(false);
    });
});
