/**
 * One tickerq node in its own process, for the crash test: runs "Work" time tickers (workMs
 * each) and the per-second "Tick" cron on the store named by argv, until SIGTERM (graceful)
 * or SIGKILL (the crash). Prints "ready" once it claims. argv: url, schema, nodeId,
 * leaseTimeoutMs, workMs, and optionally a JSON `{ url, prefix }` for a Redis coordinator.
 */

import { createTickerQ, defineFunction } from "../../src/index.js";
import { storeForUrl } from "../../src/cli.js";
import { redisCoordinator } from "../../src/redis.js";

const [url, schema, nodeId, leaseTimeoutMs, workMs, redis] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string | undefined,
];

const work = defineFunction("Work", async (_ctx, signal) => {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Number(workMs));
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()));
  });
});
const tick = defineFunction("Tick", async () => {});

const tq = createTickerQ({
  functions: [work, tick],
  store: await storeForUrl(url, schema ? { schema } : {}),
  nodeId,
  maxConcurrency: 8,
  heartbeatIntervalMs: 250,
  leaseTimeoutMs: Number(leaseTimeoutMs),
  pollIntervalMs: 100,
  coordinator: redis ? redisCoordinator(JSON.parse(redis) as { url: string; prefix: string }) : null,
});
tq.events.on("error", ({ error, during }) => console.error(`[${nodeId}] ${during}:`, error));
await tq.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => void tq.stop({ timeoutMs: 2000 }).then(() => process.exit(0)));
