/**
 * The Redis coordinator on the shared Redis (a prefix of each test's own, its keys deleted
 * after) beside MariaDB: wake-ups published and heard, the due index answering without SQL,
 * locks with fencing tokens, and every key of a deployment in one Cluster slot.
 */

import { afterEach, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import { defineFunction, type Store } from "../../src/index.js";
import { mysqlStore } from "../../src/mysql.js";
import { redisCoordinator } from "../../src/redis.js";
import { encodeSignal } from "../../src/store/sql/signal-bus.js";
import { TestClock, heartbeat, settle } from "../../src/testing/index.js";
import { node, T0, waitFor } from "../helpers/engine.js";
import { REDIS_URL, checkMysql, checkRedis, mysqlScratch, redisScratch } from "../helpers/databases.js";
import { keySlot } from "./key-slot.js";
import { redisKeys } from "../../src/redis/keys.js";

const ready = (await checkRedis()).available && (await checkMysql()).available;

describe.runIf(ready)("redis coordinator beside MariaDB", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup() {
    const redis = await redisScratch();
    const db = await mysqlScratch();
    const store = mysqlStore({ uri: db.url, poolSize: 4 });
    const raw = new Redis(REDIS_URL);
    cleanups.push(async () => {
      raw.disconnect();
      await store.close();
      await db.drop();
      await redis.drop();
    });
    return { prefix: redis.prefix, store, raw, url: db.url };
  }

  /** Counts the store's calls by method. */
  function counting(store: Store) {
    const calls = new Map<string, number>();
    const counted = new Proxy(store, {
      get(target, name, receiver) {
        const value = Reflect.get(target, name, receiver) as unknown;
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          calls.set(String(name), (calls.get(String(name)) ?? 0) + 1);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return { counted, calls };
  }

  const ok = defineFunction("Ok", async () => {});

  it("publishes a wake-up and indexes the instant for a write that makes work due", async () => {
    const { prefix, store, raw } = await setup();
    const listener = raw.duplicate();
    cleanups.push(async () => listener.disconnect());
    await listener.subscribe(`{${prefix}}:signals`);
    const heard = new Promise<string>((resolve) => listener.once("message", (_c, payload: string) => resolve(payload)));
    const tq = node(store, new TestClock(T0), [ok], { coordinator: redisCoordinator({ url: REDIS_URL, prefix }) });
    cleanups.push(() => tq.stop({ timeoutMs: 0 }));
    await tq.start();
    const at = new Date(T0.getTime() + 60_000);
    await tq.timeTickers.add({ function: "Ok", executionTime: at });
    expect(JSON.parse(await heard)).toMatchObject({ s: { type: "due", at: at.getTime() } });
    expect(await raw.zscore(`{${prefix}}:due`, String(at.getTime()))).toBe(String(at.getTime()));
  });

  it("claims at once on a wake-up heard from Redis, which nothing else would have told it", async () => {
    const { prefix, store, raw, url } = await setup();
    const clock = new TestClock(T0);
    const tq = node(store, clock, [ok], {
      pollIntervalMs: 3_600_000,
      heartbeatIntervalMs: 3_600_000,
      coordinator: redisCoordinator({ url: REDIS_URL, prefix, pollIntervalMs: 3_600_000 }),
    });
    cleanups.push(() => tq.stop({ timeoutMs: 0 }));
    await tq.start();
    await settle(tq);
    // Another process's write: a store on another in-process bus (localhost, not 127.0.0.1).
    const other = mysqlStore({ uri: url.replace("127.0.0.1", "localhost"), poolSize: 1 });
    cleanups.push(() => other.close());
    const producer = node(other, clock, [ok]);
    const job = await producer.timeTickers.add({ function: "Ok" });
    await settle(tq);
    expect((await tq.timeTickers.get(job.id))!.status).toBe("Idle");
    const done = waitFor<{ id: string; status: string }>(
      (l) => tq.events.on("changed", l),
      (c) => c.id === job.id && c.status === "DueDone",
    );
    await raw.publish(`{${prefix}}:signals`, encodeSignal({ type: "due", at: T0 }, "another-process"));
    await done;
  });

  it("an idle cluster claims nothing: only the sweeper asks SQL, and finds what a writer without the coordinator added", async () => {
    const { prefix, store, url } = await setup();
    const clock = new TestClock(T0);
    const nodes = [];
    for (const nodeId of ["a", "b"]) {
      const { counted, calls } = counting(store);
      const coordinator = redisCoordinator({ url: REDIS_URL, prefix, pollIntervalMs: 10_000 });
      const tq = node(counted, clock, [ok], { nodeId, heartbeatIntervalMs: 5_000, pollIntervalMs: 1000, coordinator });
      cleanups.push(() => tq.stop({ timeoutMs: 0 }));
      await tq.start();
      await settle(tq);
      await heartbeat(tq); // a's first beat takes the sweep lease; b finds it held
      nodes.push({ tq, calls, coordinator });
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    expect([a.coordinator.healthy, b.coordinator.healthy]).toEqual([true, true]);
    expect([a.coordinator.sweeps, b.coordinator.sweeps]).toEqual([true, false]);
    await a.tq.timeTickers.add({ function: "Ok", executionTime: new Date(T0.getTime() + 3_600_000) });
    a.calls.clear();
    b.calls.clear();
    for (let i = 1; i <= 3; i++) {
      await clock.set(T0.getTime() + i * 10_000); // three safety polls, at the coordinator's cadence
      await settle(a.tq);
      await settle(b.tq);
    }
    const sql = (calls: Map<string, number>) =>
      ["jobClaimDue", "jobNextDue", "cronTickerList"].map((name) => calls.get(name) ?? 0);
    const [claims, looks, reloads] = sql(a.calls);
    expect(claims).toBe(0);
    expect(looks).toBeGreaterThanOrEqual(1);
    expect(looks).toBeLessThanOrEqual(3);
    expect(reloads).toBeGreaterThanOrEqual(1);
    expect(reloads).toBeLessThanOrEqual(3);
    expect(sql(b.calls)).toEqual([0, 0, 0]);
    // A process without the coordinator adds work due now: no announcement, but the sweeper's next look finds it.
    const other = mysqlStore({ uri: url.replace("127.0.0.1", "localhost"), poolSize: 1 });
    cleanups.push(() => other.close());
    const job = await node(other, clock, [ok]).timeTickers.add({ function: "Ok", executionTime: clock.date });
    const done = waitFor<{ id: string; status: string }>(
      (l) => {
        const off = [a.tq.events.on("changed", l), b.tq.events.on("changed", l)];
        return () => off.forEach((undo) => undo());
      },
      (c) => c.id === job.id && c.status === "Done", // run late: at the look, not at its instant
    );
    await clock.set(T0.getTime() + 40_000);
    await settle(a.tq);
    await settle(b.tq);
    await done;
  });

  it("locks carry a lease and a fencing token: one holder at a time, a new token after it lapses", async () => {
    const { prefix, store, raw } = await setup();
    const started = [];
    for (const nodeId of ["a", "b"]) {
      const c = redisCoordinator({ url: REDIS_URL, prefix });
      const tq = node(store, new TestClock(T0), [ok], { nodeId, coordinator: c, heartbeatIntervalMs: 3_600_000 });
      cleanups.push(() => tq.stop({ timeoutMs: 0 }));
      await tq.start();
      await settle(tq);
      started.push(c);
    }
    const [a, b] = started as [ReturnType<typeof redisCoordinator>, ReturnType<typeof redisCoordinator>];
    const first = await a.lockAcquire({ names: ["cron:x"], ttlMs: 60_000 });
    expect(first!.get("cron:x")).toBeGreaterThan(0);
    expect((await b.lockAcquire({ names: ["cron:x"], ttlMs: 60_000 }))!.has("cron:x")).toBe(false);
    expect((await a.lockAcquire({ names: ["cron:x"], ttlMs: 60_000 }))!.get("cron:x")).toBe(first!.get("cron:x"));
    await raw.del(`{${prefix}}:lock:cron:x`); // the lease lapsed
    const second = await b.lockAcquire({ names: ["cron:x"], ttlMs: 60_000 });
    expect(second!.get("cron:x")).toBeGreaterThan(first!.get("cron:x")!);
  });

  it("a Redis beat that stops changing only makes a node read SQL: the SQL heartbeat decides who is dead", async () => {
    const { prefix, store, raw } = await setup();
    const { counted, calls } = counting(store);
    const clock = new TestClock(T0);
    const lease = 5000;
    const b = node(counted, clock, [ok], {
      nodeId: "b",
      leaseTimeoutMs: lease,
      heartbeatIntervalMs: 3_600_000, // beats only when the test says
      pollIntervalMs: 3_600_000,
      coordinator: redisCoordinator({ url: REDIS_URL, prefix, pollIntervalMs: 3_600_000 }),
    });
    cleanups.push(() => b.stop({ timeoutMs: 0 }));
    await b.start();
    b.pause(); // b claims nothing: the job below stays x's until b recovers it
    // Node x exists only as what it wrote: a SQL heartbeat, a Redis beat entry and a lease.
    const info = { maxConcurrency: 1, active: 1, longRunning: 0, paused: false, version: "0", executed: 0, failed: 0 };
    const sqlBeat = () => store.nodeHeartbeat({ nodeId: "x", at: clock.date, info });
    const redisBeat = (value: number) => raw.hset(`{${prefix}}:beats`, "x", String(value));
    await sqlBeat();
    await redisBeat(0);
    const job = await b.timeTickers.add({ function: "Ok" });
    const [claimed] = await store.jobClaimDue({
      nodeId: "x",
      now: clock.date,
      until: clock.date,
      limit: 1,
      longRunningLimit: 1,
    });
    expect(claimed?.id).toBe(job.id);
    const holder = async () => (await store.jobGet({ id: job.id }))!.lockHolder;
    await heartbeat(b); // the first beat reads the nodes table: x has no entry b has seen yet
    const step = async (beats: { sql: boolean; redis: number | null }) => {
      await clock.set(clock.now() + lease / 2);
      if (beats.sql) await sqlBeat();
      if (beats.redis !== null) await redisBeat(beats.redis);
      await heartbeat(b);
    };

    // x beats in Redis and SQL: b never reads the nodes table.
    calls.clear();
    for (let i = 1; i <= 4; i++) await step({ sql: true, redis: i });
    expect(calls.get("nodeList") ?? 0).toBe(0);

    // x's Redis beat stops changing, its SQL heartbeat goes on: b reads SQL, which says x lives.
    for (let i = 0; i < 4; i++) await step({ sql: true, redis: null });
    expect(calls.get("nodeList") ?? 0).toBeGreaterThan(0);
    expect(await holder()).toBe("x");

    // Its SQL heartbeat stops too: after a lease of b's own watching, b recovers x's job.
    for (let i = 0; i < 4; i++) await step({ sql: false, redis: null });
    expect(await holder()).toBeNull();
    expect((await store.jobGet({ id: job.id }))!.status).toBe("Idle");
  });

  it("keeps every key of a deployment in one Redis Cluster slot (hash tag)", async () => {
    const { prefix, store, raw } = await setup();
    const clock = new TestClock(T0);
    const tick = defineFunction("Tick", { cron: "* * * * * *" }, async () => {});
    const tq = node(store, clock, [ok, tick], { coordinator: redisCoordinator({ url: REDIS_URL, prefix }) });
    cleanups.push(() => tq.stop({ timeoutMs: 0 }));
    await tq.start();
    await tq.timeTickers.add({ function: "Ok", executionTime: new Date(T0.getTime() + 5000) });
    await clock.set(T0.getTime() + 1000);
    await settle(tq);
    await heartbeat(tq);
    const stored = await raw.keys(`\\{${prefix}\\}:*`);
    // The index, its sequences and marker, the heartbeats and the sweep lease: all there after a run.
    for (const name of ["index", "due", "due:seq", "seq", "beats", "sweep"])
      expect(stored).toContain(`{${prefix}}:${name}`);
    const named = redisKeys(prefix);
    const keys = [...stored, named.lock("cron:any"), named.lockSeq, named.channel];
    const slots = new Set(keys.map(keySlot));
    expect(slots.size).toBe(1);
    expect([...slots][0]).toBe(keySlot(`{${prefix}}`));
    // The CRC16 is the Cluster spec's: its reference value, and Redis's own answer for a key.
    expect(keySlot("123456789")).toBe(0x31c3 % 16384);
    expect(keySlot("foo{bar}baz")).toBe(keySlot("bar"));
  });
});
