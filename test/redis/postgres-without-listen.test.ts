/**
 * PostgreSQL as behind PgBouncer in transaction mode (`listen: false`: no LISTEN connection,
 * so no NOTIFY reaches a node) with a Redis coordinator: a job added on node A, due now, is
 * claimed by node B because Redis woke it. The clock is a test clock and every poll an hour
 * long, so no poll can be what finds the job.
 */

import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { defineFunction, type JobExecuted } from "../../src/index.js";
import { postgresStore } from "../../src/postgres.js";
import { redisCoordinator } from "../../src/redis.js";
import { hearing, startRemoteNode } from "./two-processes.js";
import { TestClock, settle } from "../../src/testing/index.js";
import { node, T0, waitFor } from "../helpers/engine.js";
import {
  PG_URL,
  REDIS_URL,
  checkPostgres,
  checkRedis,
  postgresScratch,
  redisScratch,
  uniqueName,
} from "../helpers/databases.js";

const ready = (await checkRedis()).available && (await checkPostgres()).available;
const HOUR = 3_600_000;

/** The backends of one application_name, as pg_stat_activity shows them. */
async function backends(applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "select count(*) as n from pg_stat_activity where application_name = $1",
      [applicationName],
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

describe.runIf(ready)("PostgreSQL without LISTEN (PgBouncer) + Redis", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("listen must be a boolean", () => {
    expect(() => postgresStore({ connectionString: PG_URL, listen: "no" as never })).toThrow(
      /listen must be true or false; got "no"/,
    );
  });

  it("a job added on A, due now, is claimed by B through a Redis wake-up", async () => {
    const redis = await redisScratch();
    const { schema, drop } = await postgresScratch();
    cleanups.push(async () => {
      await drop();
      await redis.drop();
    });
    const app = uniqueName("tqapp");
    const clock = new TestClock(T0);
    const ok = defineFunction("Ok", async () => {});
    const store = postgresStore({ connectionString: PG_URL, schema, poolSize: 2, listen: false, applicationName: app });
    expect(store.capabilities.signalsAcrossProcesses).toBe(false);
    const { coordinator, heard } = hearing(
      redisCoordinator({ url: REDIS_URL, prefix: redis.prefix, pollIntervalMs: HOUR }),
    );
    // B polls once an hour on a test clock that never moves: only a signal can wake it.
    const b = node(store, clock, [ok], {
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
    // No LISTEN connection: a NOTIFY cannot reach B.
    expect(await backends(app)).toBeGreaterThan(0);
    expect(await backends(`${app}:listen`)).toBe(0);
    // A, in a process of its own, paused: it only writes.
    const a = await startRemoteNode({
      nodeId: "a",
      connectionString: PG_URL,
      schema,
      listen: false,
      prefix: redis.prefix,
      redis: { url: REDIS_URL },
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
  });

  it("a store with LISTEN on (the default) opens its LISTEN connection and says it signals across processes", async () => {
    const { schema, drop } = await postgresScratch();
    const app = uniqueName("tqapp");
    const store = postgresStore({ connectionString: PG_URL, schema, poolSize: 1, applicationName: app });
    cleanups.push(async () => {
      await store.close();
      await drop();
    });
    await store.init();
    expect(store.capabilities.signalsAcrossProcesses).toBe(true);
    expect(await backends(`${app}:listen`)).toBe(1);
  });
});
