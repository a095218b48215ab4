/**
 * The store conformance suite: one description of what every Store does, run by each
 * backend's test file against a real instance (River's `riverdrivertest.Exercise` habit).
 */

import { afterEach, beforeEach, describe } from "vitest";
import type { Store } from "../../src/store/contract.js";
import { aggregatesContract } from "./contract-aggregates.js";
import { claimContract } from "./contract-claims.js";
import { childrenContract } from "./contract-children.js";
import { cronContract } from "./contract-cron.js";
import { jobsContract } from "./contract-jobs.js";
import { listContract } from "./contract-list.js";
import { nodesContract } from "./contract-nodes.js";
import { recoveryContract } from "./contract-recovery.js";

export interface StoreUnderTest {
  store: Store;
  cleanup(): Promise<void>;
}

export type MakeStore = () => Promise<StoreUnderTest>;

/** Gives each test a fresh, initialised store; `get()` returns the current one. */
export type CurrentStore = () => Store;

export function describeStoreContract(name: string, makeStore: MakeStore): void {
  describe(`store contract: ${name}`, () => {
    let current: StoreUnderTest | undefined;

    beforeEach(async () => {
      current = await makeStore();
      await current.store.init();
    });

    afterEach(async () => {
      const done = current;
      current = undefined;
      await done?.cleanup();
    });

    const get: CurrentStore = () => {
      if (!current) throw new Error("no store: the suite's beforeEach did not run");
      return current.store;
    };

    describe("jobs", () => jobsContract(get));
    describe("claims and completions", () => claimContract(get));
    describe("children", () => childrenContract(get));
    describe("cancel, release and recovery", () => recoveryContract(get));
    describe("cron tickers and occurrences", () => cronContract(get));
    describe("nodes and signals", () => nodesContract(get));
    describe("aggregates", () => aggregatesContract(get));
    describe("list pages", () => listContract(get));
  });
}
