/**
 * Three nodes on MariaDB: a dedicated mariadbd (its own data dir and port) killed with -9
 * and started again at once, and the shared server through the fault proxy with every
 * connection cut. The shared server's lifecycle is never touched.
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
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-mariadb-"));
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

describe.runIf(tools.available)("a dedicated mariadbd killed -9 under load", () => {
  for (const downMs of [0]) {
    const name = "kill -9 and start again";
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

  it("all connections cut at once", () => viaFaultyNetwork("cut", async (proxy) => proxy.cut()), 120_000);
});
