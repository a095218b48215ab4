/**
 * The dashboard workload's server (a child process, so its CPU is its own): a tickerq node on
 * the bench store with a per-second cron, serving the dashboard without auth on 127.0.0.1.
 * Prints "ready <url>" and runs until killed. Usage: dashboard-server.ts <systemId>
 */
import { openTickerq } from "./systems/tickerq.js";

const FUNCTIONS = ["SendEmail", "GenerateInvoice", "SyncInventory", "NightlyReport"];

const systemId = process.argv[2]!;
const { core, store } = await openTickerq(systemId);
const src = core as unknown as {
  createTickerQ(options: object): {
    start(): Promise<void>;
    stop(): Promise<void>;
    serveDashboard(options: object): Promise<{ url: string; close(): Promise<void> }>;
  };
  defineFunction(name: string, options: object, handler: () => unknown): unknown;
};
const tq = src.createTickerQ({
  functions: [
    ...FUNCTIONS.map((name) => src.defineFunction(name, {}, () => undefined)),
    src.defineFunction("Tick", { cron: "* * * * * *" }, () => undefined),
  ],
  store,
  nodeId: "bench-dashboard",
});
await tq.start();
const served = await tq.serveDashboard({ port: 0, hostname: "127.0.0.1", auth: { type: "none" } });
console.log(`ready ${served.url}`);
const stop = async () => {
  await served.close();
  await tq.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
