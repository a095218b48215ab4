/** Helpers for engine tests: nodes on a test clock over a given store. */

import {
  createTickerQ,
  type AnyFunctionDefinition,
  type Store,
  type TickerQ,
  type TickerQOptions,
} from "../../src/index.js";
import { runDue, TestClock } from "../../src/testing/index.js";

/** Makes a fresh store for one test, and removes what it left behind. */
export type StoreFactory = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

export const T0 = new Date("2026-03-02T08:00:00.000Z");

export function node<const F extends readonly AnyFunctionDefinition[]>(
  store: Store,
  clock: TestClock,
  functions: F,
  options: Partial<TickerQOptions<F>> = {},
) {
  return createTickerQ({
    functions,
    store,
    clock,
    closeStoreOnStop: false,
    shutdownTimeoutMs: 1000,
    logger: null,
    ...options,
  });
}

/** A promise with its resolver outside, for handlers that wait on the test. */
export function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves when `predicate` holds for an event of the node. */
export function waitFor<T>(
  subscribe: (listener: (payload: T) => void) => () => void,
  predicate: (payload: T) => boolean,
) {
  return new Promise<T>((resolve) => {
    const off = subscribe((payload) => {
      if (predicate(payload)) {
        off();
        resolve(payload);
      }
    });
  });
}

/**
 * Adds a job of `fn` on `tq` and resolves with it once a job of the node is InProgress. With
 * `drive`, a claim cycle runs too (for a node no signal would wake).
 */
export async function addRunning(tq: TickerQ<any>, fn: string, drive = false) {
  const running = waitFor<{ status: string }>(
    (l) => tq.events.on("changed", l),
    (c) => c.status === "InProgress",
  );
  const job = await tq.timeTickers.add({ function: fn });
  if (drive) void runDue(tq);
  await running;
  return job;
}

/** Recovers `nodeId`'s leases now, as another node does once it finds it dead (paused past its lease). */
export function recoverLeasesOf(store: Store, clock: TestClock, nodeId: string) {
  return store.jobRecoverLeases({
    now: new Date(clock.now()),
    deadNodes: [{ nodeId, heartbeatAt: null }],
    orphanedBefore: null,
  });
}
