/**
 * One tickerq node in its own process, for the store-error fault tests: runs "Work" time
 * tickers (workMs each) on PostgreSQL (its connections named `tickerq:<nodeId>`) or MySQL,
 * until SIGTERM. Prints "ready" once started. It polls rarely (pollIntervalMs), so on
 * PostgreSQL work added by another node reaches it through NOTIFY or not soon at all.
 */

import { createTickerQ, defineFunction, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";

const [url, schema, nodeId, workMs, pollIntervalMs] = process.argv.slice(2) as [string, string, string, string, string];

const store: Store = url.startsWith("postgres")
  ? postgresStore({ connectionString: url, schema, applicationName: `tickerq:${nodeId}`, poolSize: 4 })
  : mysqlStore({ uri: url, poolSize: 4 });

const work = defineFunction("Work", async (_ctx, signal) => {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, Number(workMs));
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()));
  });
});

const tq = createTickerQ({
  functions: [work],
  store,
  nodeId,
  maxConcurrency: 8,
  heartbeatIntervalMs: 250,
  leaseTimeoutMs: 10_000,
  pollIntervalMs: Number(pollIntervalMs),
});
// Errors are expected here (connections are killed under it): they are reported, and must not end the process.
tq.events.on("error", ({ error, during }) =>
  console.error(`[${nodeId}] ${during}: ${(error as { code?: string }).code ?? ""} ${(error as Error).message}`),
);
await tq.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => void tq.stop({ timeoutMs: 2000 }).then(() => process.exit(0)));
