/**
 * Faults of one node on PostgreSQL: one node's network black-holed past its lease while the
 * other two go on (it must fence itself before they take its work; when its traffic flows
 * again its stale writes must change nothing), and a node killed -9 and restarted with the
 * same nodeId before its lease ran out (the new process takes back what the old one held).
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
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-pgnode-"));
afterAll(() =>
  process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
);

const LEASE_MS = 2000;

/** Polls (bounded) until `check` holds. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let polls = 0; !(await check()); polls++) {
    if (Date.now() > deadline || polls > 10_000) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

async function scenario(
  name: string,
  workMs: number,
  inject: (proxies: TcpProxy[], cluster: FaultCluster) => Promise<void>,
): Promise<void> {
  const scratch = await postgresScratch();
  const port = Number(new URL(PG_URL).port || 5432);
  const proxies = await Promise.all([0, 1, 2].map(() => startTcpProxy({ port })));
  try {
    const report = await runScenario({
      url: (index) => viaProxy(PG_URL, proxies[index]!.port),
      observeUrl: PG_URL,
      schema: scratch.schema,
      dir: join(root, name.replace(/\W+/g, "-")),
      leaseTimeoutMs: LEASE_MS,
      workMs,
      maxConcurrency: 16,
      inject: (cluster) => inject(proxies, cluster),
    });
    console.log(`[postgres, one node] ${name}\n${formatReport(report)}`);
    expect(summary(report)).toEqual(CLEAN);
  } finally {
    for (const proxy of proxies) await proxy.close();
    await scratch.drop();
  }
}

describe.runIf(pgAvailable)("PostgreSQL: faults of one node", () => {
  it(
    "one node's network black-holed for twice the lease, then flowing again",
    () =>
      scenario("one node black-holed", 200, async (proxies, cluster) => {
        await until("node 1 runs work", () => cluster.holdsRunning(1), 15_000);
        await cluster.fault("node 1 black-holed 2× lease", async () => {
          proxies[1]!.blackhole(true);
          await sleep(2 * LEASE_MS);
          proxies[1]!.blackhole(false);
        });
      }),
    120_000,
  );

  it(
    "a node killed -9 and restarted with the same nodeId within its lease",
    () =>
      scenario("kill and restart", 200, async (_proxies, cluster) => {
        await until("node 1 runs work", () => cluster.holdsRunning(1), 15_000);
        await cluster.fault("kill -9 node 1, restart it", async () => {
          await cluster.kill(1);
          await cluster.restart(1);
        });
      }),
    120_000,
  );
});
