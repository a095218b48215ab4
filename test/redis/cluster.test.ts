/**
 * The Redis coordinator on a real Redis Cluster of three masters (started by the test, removed
 * after): the server puts every key of a deployment in one slot (CLUSTER KEYSLOT), and
 * coordinators on an ioredis Cluster client wake each other (a job added on node A, in another
 * process, runs on node B at once) and record their heartbeats. PostgreSQL without LISTEN, a
 * test clock and hour-long polls: only the Redis wake-up can tell B of the job.
 */

import { afterEach, describe, expect, it } from "vitest";
import { Cluster, Redis } from "ioredis";
import { defineFunction, type JobExecuted } from "../../src/index.js";
import { postgresStore } from "../../src/postgres.js";
import { redisCoordinator } from "../../src/redis.js";
import { redisKeys } from "../../src/redis/keys.js";
import { TestClock, heartbeat, settle } from "../../src/testing/index.js";
import { node, T0, waitFor } from "../helpers/engine.js";
import { PG_URL, checkPostgres, postgresScratch, uniqueName } from "../helpers/databases.js";
import { clusterToolsInstalled, createRedisCluster } from "./redis-cluster.js";
import { hearing, startRemoteNode } from "./two-processes.js";

const ready = (await checkPostgres()).available && clusterToolsInstalled();
const HOUR = 3_600_000;

describe.runIf(ready)("redis coordinator on a Redis Cluster", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("keeps a deployment's keys in one slot; a job added on A runs on B through a wake-up; heartbeats recorded", async () => {
    const cluster = await createRedisCluster();
    cleanups.push(() => cluster.remove());
    const { schema, drop } = await postgresScratch();
    cleanups.push(drop);
    const prefix = uniqueName("tq");
    const slotOf = async (key: string) => Number(await cluster.admin.cluster("KEYSLOT", key));

    // Every key and the channel the coordinator names, by the server's own hash.
    const named = redisKeys(prefix);
    const names = [
      ...Object.values(named).filter((value): value is string => typeof value === "string" && value !== named.tag),
      named.lock("cron:any"),
    ];
    expect(names).toHaveLength(9);
    const slot = await slotOf(named.tag);
    for (const name of names) expect([name, await slotOf(name)]).toEqual([name, slot]);

    const client = new Cluster(cluster.nodes);
    cleanups.push(async () => client.disconnect());
    const clock = new TestClock(T0);
    const store = postgresStore({ connectionString: PG_URL, schema, poolSize: 2, listen: false });
    const { coordinator, heard } = hearing(redisCoordinator({ client, prefix, pollIntervalMs: HOUR }));
    const b = node(store, clock, [defineFunction("Ok", async () => {})], {
      nodeId: "b",
      closeStoreOnStop: true,
      pollIntervalMs: HOUR,
      heartbeatIntervalMs: HOUR,
      coordinator,
    });
    cleanups.push(() => b.stop({ timeoutMs: 0 }));
    await b.start();
    await settle(b);
    expect(coordinator.healthy).toBe(true);
    const a = await startRemoteNode({
      nodeId: "a",
      connectionString: PG_URL,
      schema,
      listen: false,
      prefix,
      redis: { cluster: cluster.nodes },
    });
    cleanups.push(() => a.stop());

    const executed = waitFor<JobExecuted>(
      (l) => b.events.on("executed", l),
      () => true,
    );
    heard.length = 0;
    const id = await a.add(clock.date);
    expect(await executed).toMatchObject({ id, nodeId: "b", status: "DueDone" });
    expect(heard).toContainEqual({ type: "due", at: clock.date });

    // Both nodes' beats are in the beats hash: A beats every 200 ms, B now.
    await heartbeat(b);
    const beats = async () => Object.keys(await client.hgetall(named.beats)).sort();
    for (let tries = 0; tries < 100 && (await beats()).length < 2; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await beats()).toEqual(["a", "b"]);

    // The keys stored on the cluster (the due index is empty again: its job ran): all on the
    // master that owns the slot, none elsewhere.
    const stored: string[][] = [];
    for (const { host, port } of cluster.nodes) {
      const master = new Redis({ host, port });
      try {
        stored.push(await master.keys(`\\{${prefix}\\}:*`));
      } finally {
        master.disconnect();
      }
    }
    expect(stored.filter((keys) => keys.length > 0)).toHaveLength(1);
    for (const key of stored.flat()) expect([key, await slotOf(key)]).toEqual([key, slot]);
    for (const key of [named.index, named.seq, named.beats, named.sweep]) expect(stored.flat()).toContain(key);
  }, 60_000);
});
