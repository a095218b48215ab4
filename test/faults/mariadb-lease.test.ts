/**
 * Three nodes on MariaDB past the lease: a dedicated mariadbd killed with -9 and kept down
 * for twice the lease, and the shared server through the fault proxy with a claim whose
 * COMMIT succeeded but whose reply was lost (its jobs must not stay leased to a live node
 * that does not know it holds them). The shared server's lifecycle is never touched.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MYSQL_URL, checkMysql, mysqlScratch } from "../helpers/databases.js";
import { CLEAN, formatReport, summary, type FaultReport } from "./checker.js";
import { runScenario, sleep, viaProxy, type ScenarioOptions } from "./cluster.js";
import { checkTools, createMariaDb } from "./servers.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

const tools = checkTools("mysql");
const mysqlAvailable = (await checkMysql()).available;
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-mariadb-lease-"));
afterAll(() =>
  process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
);

const LEASE_MS = 2000;

function verdict(name: string, report: FaultReport): void {
  console.log(`[mariadb] ${name}\n${formatReport(report)}`);
  expect(summary(report)).toEqual(CLEAN);
}

const base = (name: string): Pick<ScenarioOptions, "dir" | "leaseTimeoutMs"> => ({
  dir: join(root, name.replace(/\W+/g, "-")),
  leaseTimeoutMs: LEASE_MS,
});

/**
 * The claim's transaction, as the client sent it: the text after its last BEGIN ends with
 * COMMIT and set a job Queued (Kysely's mysql2 driver sends statements as text).
 */
function isClaimCommit(recent: string): boolean {
  if (!/commit$/i.test(recent)) return false;
  const begin = Math.max(
    recent.toLowerCase().lastIndexOf("begin"),
    recent.toLowerCase().lastIndexOf("start transaction"),
  );
  return begin >= 0 && /set `status` = 'Queued'/.test(recent.slice(begin));
}

describe.runIf(tools.available)("a dedicated mariadbd killed -9 under load", () => {
  for (const downMs of [2 * LEASE_MS]) {
    const name = "kill -9, down for twice the lease";
    it(
      name,
      async () => {
        const server = await createMariaDb();
        try {
          const report = await runScenario({
            ...base(name),
            url: server.url,
            inject: async (cluster) => {
              await cluster.fault(name, async () => {
                await server.stop("kill");
                if (downMs > 0) await sleep(downMs);
                await server.start();
              });
            },
          });
          verdict(name, report);
        } finally {
          await server.remove();
        }
      },
      120_000,
    );
  }
});

describe.runIf(mysqlAvailable)("MariaDB through a faulty network", () => {
  async function viaFaultyNetwork(name: string, inject: (proxy: TcpProxy) => Promise<void>): Promise<void> {
    const scratch = await mysqlScratch();
    const proxy = await startTcpProxy({ port: Number(new URL(MYSQL_URL).port || 3306) });
    try {
      const report = await runScenario({
        ...base(name),
        url: viaProxy(scratch.url, proxy.port),
        observeUrl: scratch.url,
        inject: (cluster) => cluster.fault(name, () => inject(proxy)).then(() => {}),
      });
      verdict(name, report);
    } finally {
      await proxy.close();
      await scratch.drop();
    }
  }

  it(
    "a claim's COMMIT succeeds but its reply is lost",
    () =>
      viaFaultyNetwork("lost claim commit reply", async (proxy) => {
        const dropped = await Promise.race([
          proxy.dropNextReplies({ count: 3, request: isClaimCommit }),
          sleep(10_000).then(() => -1),
        ]);
        expect(dropped, "claim COMMIT replies dropped").toBe(3);
      }),
    120_000,
  );
});
