/** Runs the store contract against MySQL/MariaDB: a fresh database per test, dropped afterwards. */

import { describe, it } from "vitest";
import { mysqlStore } from "../../src/mysql.js";
import { checkMysql, mysqlScratch } from "../helpers/databases.js";
import { describeStoreContract } from "./store-contract.js";

const server = await checkMysql();

if (server.available) {
  describeStoreContract("mysql", async () => {
    const scratch = await mysqlScratch();
    const store = mysqlStore({ uri: scratch.url, poolSize: 4 });
    return {
      store,
      async cleanup() {
        await store.close();
        await scratch.drop();
      },
    };
  });
} else {
  describe.skip("store contract: mysql (server unreachable; set TICKERQ_MYSQL_URL)", () => it("needs MySQL", () => {}));
}
