/**
 * Three nodes on MariaDB: a dedicated mariadbd (its own data dir and port) killed with -9
 * and started again at once, and the shared server through the fault proxy with every
 * connection cut. The shared server's lifecycle is never touched.
 */

import { describe, it } from "vitest";
import { MYSQL_URL, checkMysql, mysqlScratch } from "../helpers/databases.js";
import { faultyNetworkScenario, restartScenario, scenarioDirs } from "./scenarios.js";
import { checkTools, createMariaDb } from "./servers.js";

const tools = checkTools("mysql");
const mysqlAvailable = (await checkMysql()).available;
const dir = scenarioDirs("mariadb");

describe.runIf(tools.available)("a dedicated mariadbd killed -9 under load", () => {
  const name = "kill -9 and start again";
  it(
    name,
    () => restartScenario({ label: "mariadb", name, dir: dir(name), create: createMariaDb, mode: "kill", downMs: 0 }),
    120_000,
  );
});

describe.runIf(mysqlAvailable)("MariaDB through a faulty network", () => {
  it(
    "all connections cut at once",
    async () =>
      faultyNetworkScenario({
        label: "mariadb",
        name: "cut",
        dir: dir("cut"),
        scratch: await mysqlScratch(),
        upstreamPort: Number(new URL(MYSQL_URL).port || 3306),
        inject: async (proxy) => proxy.cut(),
      }),
    120_000,
  );
});
