/** Runs the store contract against the in-memory store. */

import { memoryStore } from "../../src/store/memory.js";
import { describeStoreContract } from "./store-contract.js";

describeStoreContract("memory", async () => {
  const store = memoryStore();
  return { store, cleanup: () => store.close() };
});
