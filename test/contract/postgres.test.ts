/** Runs the store contract and the engine suite against PostgreSQL: a fresh schema per test, dropped afterwards. */

import { describe, it } from "vitest";
import { postgresStore } from "../../src/postgres.js";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";
import { describeEngineContract } from "./engine-contract.js";
import { describeEngineFaults } from "./engine-faults.js";
import { describeEngineMiddleware } from "./engine-middleware.js";
import { describeStoreContract } from "./store-contract.js";

const server = await checkPostgres();

if (server.available) {
  const freshStore = async () => {
    const scratch = await postgresScratch();
    const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, poolSize: 4 });
    return {
      store,
      async cleanup() {
        await store.close();
        await scratch.drop();
      },
    };
  };
  describeStoreContract("postgres", freshStore);
  describeEngineContract("postgres", freshStore);
  describeEngineFaults("postgres", freshStore);
  describeEngineMiddleware("postgres", freshStore);
} else {
  describe.skip("store contract: postgres (server unreachable; set TICKERQ_PG_URL)", () =>
    it("needs PostgreSQL", () => {}));
}
