/** Runs the store contract and the engine suite against SQLite: a fresh database file per test, deleted afterwards. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { sqliteStore } from "../../src/sqlite.js";
import { describeEngineContract } from "./engine-contract.js";
import { describeEngineFaults } from "./engine-faults.js";
import { describeEngineMiddleware } from "./engine-middleware.js";
import { describeStoreContract } from "./store-contract.js";

const dir = mkdtempSync(join(tmpdir(), "tickerq-sqlite-contract-"));
let counter = 0;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freshStore() {
  const filename = join(dir, `store-${++counter}.db`);
  const store = sqliteStore({ filename, tablePrefix: "tq_" });
  return {
    store,
    async cleanup() {
      await store.close();
      for (const suffix of ["", "-wal", "-shm"]) rmSync(`${filename}${suffix}`, { force: true });
    },
  };
}

describeStoreContract("sqlite", freshStore);
describeEngineContract("sqlite", freshStore);
describeEngineFaults("sqlite", freshStore);
describeEngineMiddleware("sqlite", freshStore);
