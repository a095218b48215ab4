/**
 * Three nodes on PostgreSQL through the fault proxy: all connections cut, traffic
 * black-holed past the lease, traffic delayed, and a claim whose reply is lost after it
 * committed. Each run is checked for lost, doubled and stuck work, cron seconds and history.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";
import { CLEAN, formatReport, summary } from "./checker.js";
import { runScenario, sleep, viaProxy, type FaultCluster } from "./cluster.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const pgAvailable = (await checkPostgres()).available;
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-pg-"));
afterAll(() =>
  process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
);

const LEASE_MS = 2000;

async function scenario(name: string, inject: (proxy: TcpProxy, cluster: FaultCluster) => Promise<void>) {
  const scratch = await postgresScratch();
  const proxy = await startTcpProxy({ port: Number(new URL(PG_URL).port || 5432) });
  try {
    const report = await runScenario({
      url: viaProxy(PG_URL, proxy.port),
      observeUrl: PG_URL,
      schema: scratch.schema,
      dir: join(root, name.replace(/\W+/g, "-")),
      leaseTimeoutMs: LEASE_MS,
      inject: (cluster) => inject(proxy, cluster),
    });
    console.log(`[postgres via proxy] ${name}\n${formatReport(report)}`);
    expect(summary(report)).toEqual(CLEAN);
  } finally {
    await proxy.close();
    await scratch.drop();
  }
}

describe.runIf(pgAvailable)("PostgreSQL through a faulty network", () => {
  it(
    "all connections cut at once",
    () =>
      scenario("cut", async (proxy, cluster) => {
        await cluster.fault("cut all connections", async () => proxy.cut());
      }),
    90_000,
  );

  it(
    "black-holed for twice the lease, then the traffic flows again",
    () =>
      scenario("blackhole", async (proxy, cluster) => {
        await cluster.fault("black hole 2× lease", async () => {
          proxy.blackhole(true);
          await sleep(2 * LEASE_MS);
          proxy.blackhole(false);
        });
      }),
    90_000,
  );

  it(
    "black-holed past the lease, then every connection cut",
    () =>
      scenario("blackhole-cut", async (proxy, cluster) => {
        await cluster.fault("black hole 2× lease, then cut", async () => {
          proxy.blackhole(true);
          await sleep(2 * LEASE_MS);
          proxy.cut();
          proxy.blackhole(false);
        });
      }),
    90_000,
  );

  it(
    "every byte delayed 300 ms for 4 s",
    () =>
      scenario("delay", async (proxy, cluster) => {
        await cluster.fault("delay 300 ms", async () => {
          proxy.delay(300);
          await sleep(4000);
          proxy.delay(0);
        });
      }),
    90_000,
  );

  it(
    "a claim commits but its reply is lost",
    () =>
      scenario("lost-claim-reply", async (proxy, cluster) => {
        await cluster.fault("lost claim replies", async () => {
          // The claim's reply carries the claimed rows, whose status is Queued or InProgress.
          const dropped = await Promise.race([
            proxy.dropNextReplies({ count: 3, reply: /Queued|InProgress/ }),
            sleep(10_000).then(() => -1),
          ]);
          expect(dropped, "claim replies dropped").toBe(3);
        });
      }),
    90_000,
  );
});
