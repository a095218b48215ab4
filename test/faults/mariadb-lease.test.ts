/**
 * Three nodes on MariaDB past the lease: a dedicated mariadbd killed with -9 and kept down
 * for twice the lease, and the shared server through the fault proxy with a claim whose
 * COMMIT succeeded but whose reply was lost (its jobs must not stay leased to a live node
 * that does not know it holds them). The shared server's lifecycle is never touched.
 */

import { describe, expect, it } from "vitest";
import { MYSQL_URL, checkMysql, mysqlScratch } from "../helpers/databases.js";
import { sleep } from "./cluster.js";
import { LEASE_MS, faultyNetworkScenario, restartScenario, scenarioDirs } from "./scenarios.js";
import { checkTools, createMariaDb } from "./servers.js";

const tools = checkTools("mysql");
const mysqlAvailable = (await checkMysql()).available;
const dir = scenarioDirs("mariadb-lease");

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
  const name = "kill -9, down for twice the lease";
  it(
    name,
    () =>
      restartScenario({
        label: "mariadb",
        name,
        dir: dir(name),
        create: createMariaDb,
        mode: "kill",
        downMs: 2 * LEASE_MS,
      }),
    120_000,
  );
});

describe.runIf(mysqlAvailable)("MariaDB through a faulty network", () => {
  const name = "lost claim commit reply";
  it(
    "a claim's COMMIT succeeds but its reply is lost",
    async () =>
      faultyNetworkScenario({
        label: "mariadb",
        name,
        dir: dir(name),
        scratch: await mysqlScratch(),
        upstreamPort: Number(new URL(MYSQL_URL).port || 3306),
        inject: async (proxy) => {
          const dropped = await Promise.race([
            proxy.dropNextReplies({ count: 3, request: isClaimCommit }),
            sleep(10_000).then(() => -1),
          ]);
          expect(dropped, "claim COMMIT replies dropped").toBe(3);
        },
      }),
    120_000,
  );
});
