/** What every memory-store module works on (the tables and the signal hub), and the helpers they share. */

import type { CronTickerRecord, NodeRecord, Page, Store } from "../contract.js";
import type { SignalHub } from "../signals.js";
import type { JobTable } from "./job-table.js";

export interface MemoryState {
  readonly jobs: JobTable;
  readonly cronTickers: Map<string, CronTickerRecord>;
  readonly nodes: Map<string, NodeRecord>;
  readonly signals: SignalHub;
}

/** The params object of a Store method, so each module's functions take exactly what the contract passes. */
export type Params<K extends keyof Store> = Store[K] extends (params: infer P) => unknown ? P : never;

/** Records leave the store as copies: a caller mutating one must not change what the store holds. */
export const clone = <T extends object>(value: T): T => ({ ...value });

/** One page of `matches`, copied, with the total before paging. */
export function paged<T extends object>(matches: T[], query: { limit?: number; offset?: number }): Page<T> {
  const offset = query.offset ?? 0;
  const page = matches.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
  return { items: page.map(clone), total: matches.length };
}

/** The earlier of two due times (null: none yet), for the one `due` signal a batch write sends. */
export function earlier(current: Date | null, candidate: Date | null): Date | null {
  return candidate && (!current || candidate < current) ? candidate : current;
}
