/** Runs the store contract and the engine suite against MySQL/MariaDB: a fresh database per test, dropped afterwards. */

import mysql from "mysql2/promise";
import { describe, it } from "vitest";
import { mysqlStore } from "../../src/mysql.js";
import { checkMysql, mysqlScratch } from "../helpers/databases.js";
import { describeEngineContract } from "./engine-contract.js";
import { describeEngineFaults } from "./engine-faults.js";
import { describeEngineMiddleware } from "./engine-middleware.js";
import { describeStoreContract } from "./store-contract.js";

const server = await checkMysql();

if (server.available) {
  const freshStore = async () => {
    const scratch = await mysqlScratch();
    const store = mysqlStore({ uri: scratch.url, poolSize: 4 });
    return {
      store,
      async cleanup() {
        await store.close();
        await scratch.drop();
      },
    };
  };
  describeStoreContract("mysql", freshStore);
  describeEngineContract("mysql", freshStore);
  describeEngineFaults("mysql", freshStore);
  describeEngineMiddleware("mysql", freshStore);
  // A caller's pool without multipleStatements: the claim sends its statements one by one.
  describeStoreContract("mysql (caller's pool)", async () => {
    const scratch = await mysqlScratch();
    const pool = mysql.createPool({ uri: scratch.url, connectionLimit: 4 });
    const store = mysqlStore({ pool });
    return {
      store,
      async cleanup() {
        await store.close();
        await pool.end();
        await scratch.drop();
      },
    };
  });
} else {
  describe.skip("store contract: mysql (server unreachable; set TICKERQ_MYSQL_URL)", () => it("needs MySQL", () => {}));
}
