/**
 * Node A of the Redis wake-up tests, in a process of its own (a node ignores Redis signals
 * from its own process: those reached it through the store already). A paused node on
 * PostgreSQL with a Redis coordinator (a URL, or a Cluster of the given nodes): it claims
 * nothing and only writes. argv[2] is a JSON RemoteNodeConfig. Prints "ready", then for each
 * stdin line "add <executionTime ms>" adds an "Ok" job and prints "added <id>".
 */

import { createInterface } from "node:readline";
import { Cluster } from "ioredis";
import { createTickerQ, defineFunction } from "../../src/index.js";
import { postgresStore } from "../../src/postgres.js";
import { redisCoordinator } from "../../src/redis.js";

export interface RemoteNodeConfig {
  nodeId: string;
  connectionString: string;
  schema: string;
  listen: boolean;
  prefix: string;
  /** The shared Redis, or the nodes of a Redis Cluster. */
  redis: { url: string } | { cluster: { host: string; port: number }[] };
}

const config = JSON.parse(process.argv[2] ?? "{}") as RemoteNodeConfig;
const cluster = "cluster" in config.redis ? new Cluster(config.redis.cluster) : null;
const tq = createTickerQ({
  functions: [defineFunction("Ok", async () => {})],
  store: postgresStore({
    connectionString: config.connectionString,
    schema: config.schema,
    listen: config.listen,
    poolSize: 2,
  }),
  nodeId: config.nodeId,
  heartbeatIntervalMs: 200,
  logger: null,
  coordinator: redisCoordinator({
    ...(cluster ? { client: cluster } : { url: (config.redis as { url: string }).url }),
    prefix: config.prefix,
    pollIntervalMs: 3_600_000,
  }),
});
await tq.start();
tq.pause();
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  const [command, at] = line.split(" ");
  if (command !== "add") continue;
  const job = await tq.timeTickers.add({ function: "Ok", executionTime: new Date(Number(at)) });
  process.stdout.write(`added ${job.id}\n`);
}
await tq.stop({ timeoutMs: 1000 });
cluster?.disconnect();
