/**
 * A scheduler with a SQLite file, a few realistic functions and seeded jobs, served by the
 * dashboard: the browser tests drive it, and `npx tsx test/dashboard/browser-fixture.ts`
 * serves it for a look by hand.
 */

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createTickerQ, defineFunction, type Middleware } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite.js";
import { serveDashboard, type DashboardAuth, type DashboardOptions } from "../../src/dashboard/index.js";

export const demoFunctions = [
  defineFunction<{ email: string; name: string }>(
    "SendWelcomeEmail",
    { retries: 2, retryIntervals: [30, 120] },
    async () => {
      await new Promise((resolve) => setTimeout(resolve, 40));
    },
  ),
  defineFunction<{ invoiceId: number }>("GenerateInvoice", async () => {
    await new Promise((resolve) => setTimeout(resolve, 120));
  }),
  defineFunction("SyncInventory", async () => {
    throw new Error("Upstream 503 from inventory API (https://inventory.internal/v2/stock)");
  }),
  defineFunction("PurgeSessions", { cron: "0 */5 * * * *", description: "drop expired sessions" }, async () => {}),
  defineFunction("NightlyReport", { cron: "0 30 2 * * *", timeZone: "Europe/Paris" }, async () => {}),
] as const;

export async function startFixture(
  options: {
    auth?: DashboardAuth;
    readOnly?: boolean;
    port?: number;
    filename?: string;
    /** The node's heartbeat (and lease timeout): long ones leave only the dashboard's own updates. */
    heartbeatIntervalMs?: number;
    leaseTimeoutMs?: number;
    live?: DashboardOptions["live"];
    middleware?: Middleware[];
  } = {},
) {
  const filename = options.filename ?? join(mkdtempSync(join(tmpdir(), "tickerq-ui-")), "tickerq.db");
  const tq = createTickerQ({
    functions: demoFunctions,
    store: sqliteStore({ filename }),
    nodeId: "web-1",
    maxConcurrency: 8,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1000,
    leaseTimeoutMs: options.leaseTimeoutMs,
    middleware: options.middleware,
  });
  await tq.start();
  const now = Date.now();
  const at = (minutes: number) => new Date(now + minutes * 60_000);
  await tq.timeTickers.addMany([
    { function: "SendWelcomeEmail", request: { email: "ann@example.com", name: "Ann" }, description: "welcome Ann" },
    { function: "SendWelcomeEmail", request: { email: "bo@example.com", name: "Bo" }, description: "welcome Bo" },
    { function: "GenerateInvoice", request: { invoiceId: 1041 }, description: "invoice 1041" },
    { id: "failing-sync", function: "SyncInventory", description: "nightly stock sync" },
    { function: "SyncInventory", description: "stock sync retry" },
    {
      function: "GenerateInvoice",
      request: { invoiceId: 1042 },
      description: "invoice 1042 then mail",
      executionTime: at(45),
      children: [
        {
          function: "SendWelcomeEmail",
          runCondition: "OnSuccess",
          request: { email: "billing@example.com", name: "Billing" },
        },
        { function: "SyncInventory", runCondition: "OnFailure" },
      ],
    },
    {
      function: "SendWelcomeEmail",
      request: { email: "<script>window.__xss = 1</script>", name: "<b>Mallory</b>" },
      description: "<img src=x onerror=alert(1)>",
      executionTime: at(90),
    },
    ...Array.from({ length: 12 }, (_, i) => ({
      function: "GenerateInvoice" as const,
      request: { invoiceId: 2000 + i },
      description: `monthly invoice ${2000 + i}`,
      executionTime: at(120 + i * 15),
    })),
  ]);
  const served = await serveDashboard(tq, {
    port: options.port ?? 0,
    basePath: "/tickerq",
    auth: options.auth ?? { type: "basic", username: "ops", password: "correct horse" },
    readOnly: options.readOnly,
    live: options.live,
  });
  return {
    tq,
    filename,
    url: served.url,
    served,
    async stop() {
      await served.close();
      await tq.stop({ timeoutMs: 500 });
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const fixture = await startFixture({ port: Number(process.env.PORT ?? 4280) });
  console.log(`dashboard at ${fixture.url} (ops / correct horse), database ${fixture.filename}`);
}
