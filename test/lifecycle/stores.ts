/**
 * The four stores for the lifecycle tests, each a fresh scratch (file, schema or database),
 * plus a store wrapper that records calls and can hold one method until the test lets it go.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryStore, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { postgresStore } from "../../src/postgres.js";
import { sqliteStore } from "../../src/sqlite.js";
import { PG_URL, mysqlScratch, postgresScratch } from "../helpers/databases.js";

export type StoreKind = "memory" | "sqlite" | "postgres" | "mysql";

export interface Scratch {
  /** A new handle on the scratch database (for memory, the same store every time). */
  open(): Store;
  /** Drops the scratch database; handles opened by `open()` are closed first. */
  cleanup(): Promise<void>;
}

/** A place for one test's data: `open()` gives handles on it. */
export async function scratch(kind: StoreKind): Promise<Scratch> {
  const opened: Store[] = [];
  const track = (store: Store) => (opened.push(store), store);
  const closeAll = async () => {
    for (const store of opened.splice(0)) await store.close().catch(() => {});
  };
  switch (kind) {
    case "memory": {
      const store = memoryStore();
      return { open: () => store, cleanup: async () => {} };
    }
    case "sqlite": {
      const dir = mkdtempSync(join(tmpdir(), "tickerq-lifecycle-"));
      const filename = join(dir, "store.db");
      return {
        open: () => track(sqliteStore({ filename })),
        async cleanup() {
          await closeAll();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    case "postgres": {
      const pg = await postgresScratch();
      return {
        open: () => track(postgresStore({ connectionString: PG_URL, schema: pg.schema, poolSize: 2 })),
        async cleanup() {
          await closeAll();
          await pg.drop();
        },
      };
    }
    case "mysql": {
      const my = await mysqlScratch();
      return {
        open: () => track(mysqlStore({ uri: my.url, poolSize: 2 })),
        async cleanup() {
          await closeAll();
          await my.drop();
        },
      };
    }
  }
}

export interface Watched {
  store: Store;
  /** Every store call, in order, by method name. */
  calls: string[];
  /** How many times close() was called. */
  closes(): number;
  /** Resolves when `method` is first called; that call waits for `release()` before it runs. */
  reached: Promise<void>;
  release(): void;
}

/** Wraps a store: records calls, and holds the first call of `holdAt` (if given) until released. */
export function watch(inner: Store, holdAt: string | null = null): Watched {
  const calls: string[] = [];
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string") return value;
      return (...args: unknown[]) => {
        calls.push(property);
        const run = () => (value as (...a: unknown[]) => unknown).apply(target, args);
        if (property !== holdAt || held) return run();
        held = true;
        reach();
        return released.then(run);
      };
    },
  });
  return { store, calls, closes: () => calls.filter((c) => c === "close").length, reached, release };
}
