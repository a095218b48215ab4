/**
 * The engine suite on SQL + Redis: MariaDB and PostgreSQL stores, each node with its own
 * Redis coordinator on the shared Redis under a prefix of the test's own (deleted after).
 */

import { describe, it } from "vitest";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";
import { redisCoordinator } from "../../src/redis.js";
import type { Store } from "../../src/index.js";
import {
  PG_URL,
  REDIS_URL,
  checkMysql,
  checkPostgres,
  checkRedis,
  mysqlScratch,
  postgresScratch,
  redisScratch,
} from "../helpers/databases.js";
import { describeEngineContract } from "./engine-contract.js";

const redis = await checkRedis();
const [mysql, postgres] = await Promise.all([checkMysql(), checkPostgres()]);

/** The prefix of the current test: every node of one test shares it. */
let prefix = "";
const withRedis = (make: () => Promise<{ store: Store; cleanup(): Promise<void> }>) => async () => {
  const scratch = await redisScratch();
  prefix = scratch.prefix;
  const { store, cleanup } = await make();
  return {
    store,
    async cleanup() {
      await cleanup();
      await scratch.drop();
    },
  };
};
const coordinated = () => ({ coordinator: redisCoordinator({ url: REDIS_URL, prefix }) });

if (redis.available && mysql.available) {
  describeEngineContract(
    "mysql + redis",
    withRedis(async () => {
      const scratch = await mysqlScratch();
      const store = mysqlStore({ uri: scratch.url, poolSize: 4 });
      return {
        store,
        async cleanup() {
          await store.close();
          await scratch.drop();
        },
      };
    }),
    coordinated,
  );
} else {
  describe.skip("engine: mysql + redis (a server is unreachable)", () => it("needs MySQL and Redis", () => {}));
}

if (redis.available && postgres.available) {
  describeEngineContract(
    "postgres + redis",
    withRedis(async () => {
      const scratch = await postgresScratch();
      const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize: 4 });
      return {
        store,
        async cleanup() {
          await store.close();
          await scratch.drop();
        },
      };
    }),
    coordinated,
  );
} else {
  describe.skip("engine: postgres + redis (a server is unreachable)", () => it("needs PostgreSQL and Redis", () => {}));
}
