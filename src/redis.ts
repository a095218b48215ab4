/**
 * `tickerq/redis`: the Redis coordinator (ioredis), beside any SQL store. Wake-ups over
 * pub/sub, a due index, heartbeat entries for dead-node suspicion and cron planning locks;
 * SQL stays the truth and Redis may vanish at any time (see the README, "Redis").
 */

import type { Cluster, Redis, RedisOptions } from "ioredis";
import { TickerQError } from "./errors.js";
import { invalid } from "./errors.js";
import type { Coordinator } from "./coordinator.js";
import { redisKeys } from "./redis/keys.js";
import { RedisCoordinator } from "./redis/coordinator.js";

export type { Coordinator, CoordinatorNode } from "./coordinator.js";

/** Where the coordinator connects: a URL (it owns its connections), or your ioredis client or Cluster. */
export type RedisConnection = { url: string } | { client: Redis | Cluster };

export interface RedisCoordinatorOptions {
  /**
   * Names every key and the channel, inside a hash tag (`{prefix}:due`…): one deployment, one
   * Cluster slot. Nodes sharing a store must share the prefix; deployments must not. @default "tickerq"
   */
  prefix?: string;
  /** The safety poll of SQL while Redis is healthy (without it, `pollIntervalMs` applies). @default 15000 */
  pollIntervalMs?: number;
  /** A command that gets no answer in this many ms fails (and the node falls back to SQL). url only. @default 1000 */
  commandTimeoutMs?: number;
  /** Extra ioredis options (url only). */
  redisOptions?: RedisOptions;
}

/**
 * A coordinator for `createTickerQ({ store, coordinator })`. With `{ client }` your client
 * is duplicated for the subscription and never closed by tickerq.
 */
export function redisCoordinator(connection: RedisConnection & RedisCoordinatorOptions): Coordinator {
  if (typeof connection !== "object" || connection === null) {
    throw new TickerQError("INVALID_ARGUMENT", "redisCoordinator needs { url } or { client }");
  }
  const keys = redisKeys(connection.prefix ?? "tickerq");
  const pollIntervalMs = connection.pollIntervalMs ?? 15_000;
  if (typeof pollIntervalMs !== "number" || !(pollIntervalMs >= 10)) {
    throw invalid("pollIntervalMs", pollIntervalMs, "a number of at least 10");
  }
  const source = connection as { url?: unknown; client?: Redis | Cluster };
  if (source.client) {
    const client = source.client;
    return new RedisCoordinator({ keys, client: async () => client, owned: false, pollIntervalMs });
  }
  if (typeof source.url !== "string" || source.url.length === 0) {
    throw new TickerQError(
      "INVALID_ARGUMENT",
      "redisCoordinator needs url (redis://host:port) or client; got neither",
      {
        field: "url",
      },
    );
  }
  return new RedisCoordinator({
    keys,
    client: () => connect(source.url as string, connection.commandTimeoutMs ?? 1000, connection.redisOptions),
    owned: true,
    pollIntervalMs,
  });
}

/** Fails fast while disconnected (no offline queue): a node never waits on Redis, it asks SQL. */
async function connect(url: string, commandTimeout: number, extra: RedisOptions | undefined): Promise<Redis> {
  let RedisClient: typeof Redis;
  try {
    RedisClient = (await import("ioredis")).Redis;
  } catch (error) {
    throw new TickerQError("INVALID_ARGUMENT", "redisCoordinator needs the ioredis package: npm install ioredis", {
      cause: error,
    });
  }
  return new RedisClient(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout,
    connectTimeout: 2000,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    ...extra,
  });
}
