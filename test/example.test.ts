/** The notifications example: registration schedules the welcome email; the crons are seeded. */

import { afterEach, expect, it } from "vitest";
import { memoryStore } from "../src/index.js";
import { startApp } from "../examples/notifications/app.js";

let app: Awaited<ReturnType<typeof startApp>> | null = null;
afterEach(async () => {
  await app?.stop();
  app = null;
});

it("registers a user, schedules the welcome email 5 minutes later, and seeds the daily crons", async () => {
  app = await startApp({ store: memoryStore(), port: 0, nodeId: "example-test" });
  const before = Date.now();
  const response = await fetch(`http://127.0.0.1:${app.port}/api/users/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "user@example.com", name: "John Doe" }),
  });
  expect(response.status).toBe(200);
  const { welcomeJobId } = (await response.json()) as { welcomeJobId: string };
  const job = (await app.tq.timeTickers.get(welcomeJobId))!;
  expect(job).toMatchObject({
    function: "SendWelcomeEmail",
    status: "Idle",
    retries: 3,
    retryIntervals: [60, 300, 900],
  });
  expect(job.request).toMatchObject({ email: "user@example.com", name: "John Doe" });
  const delay = job.executionTime!.getTime() - before;
  expect(delay).toBeGreaterThanOrEqual(5 * 60_000 - 1000);
  expect(delay).toBeLessThanOrEqual(5 * 60_000 + 5000);

  const crons = await app.tq.cronTickers.list();
  expect(crons.items.map((c) => [c.function, c.expression]).sort()).toEqual([
    ["CleanupOldNotifications", "0 0 0 * * *"],
    ["SendDailyDigest", "0 0 9 * * *"],
  ]);

  const bad = await fetch(`http://127.0.0.1:${app.port}/api/users/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "not-an-email", name: "X" }),
  });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toContain("request.email");
});

it("answers its root URL with a page that links the dashboard and shows the curl to try", async () => {
  app = await startApp({ store: memoryStore(), port: 0, nodeId: "example-test" });
  const origin = `http://127.0.0.1:${app.port}`;
  const response = await fetch(`${origin}/`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/html");
  const page = await response.text();
  expect(page).toContain('href="/admin/tickerq/"');
  expect(page).toContain(`curl -X POST ${origin}/api/users/register`);
  // The link leads to the dashboard's page.
  const dashboard = await fetch(new URL("/admin/tickerq/", origin));
  expect(dashboard.status).toBe(200);
  expect(await dashboard.text()).toContain("<html");
});
