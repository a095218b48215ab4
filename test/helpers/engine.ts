/** Helpers for engine tests: nodes on a test clock over a given store. */

import { createTickerQ, type AnyFunctionDefinition, type Store, type TickerQOptions } from "../../src/index.js";
import { TestClock } from "../../src/testing/index.js";

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
