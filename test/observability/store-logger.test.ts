/**
 * Stores report what they recover from by themselves (a dropped pooled connection, the LISTEN
 * connection lost and back, a signal listener that threw) through the node's logger, given by
 * Store.setLogger when the node is created; a store used alone still writes to console.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import pg from "pg";
import { createTickerQ, defineFunction, type Logger } from "../../src/index.js";
import { postgresStore } from "../../src/postgres.js";
import { sqliteStore } from "../../src/sqlite.js";
import { checkPostgres, PG_URL, postgresScratch, uniqueName } from "../helpers/databases.js";

type Line = { level: string; fields: Record<string, unknown>; message: string };

/** A logger of pino's shape; `next(test)` resolves with the first line, past or future, that passes `test`. */
function capture() {
  const lines: Line[] = [];
  const waiting: { test: (line: Line) => boolean; resolve: (line: Line) => void }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => {
    const line = { level, fields, message };
    lines.push(line);
    for (const w of [...waiting]) {
      if (!w.test(line)) continue;
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(line);
    }
  };
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  const next = (test: (line: Line) => boolean) =>
    new Promise<Line>((resolve) => {
      const seen = lines.find(test);
      if (seen) resolve(seen);
      else waiting.push({ test, resolve });
    });
  return { logger, lines, next };
}

const noop = defineFunction("Noop", async () => {});

afterEach(() => vi.restoreAllMocks());

describe("store logging", () => {
  it("gives a signal listener's error to the node's logger", async () => {
    const store = sqliteStore({ filename: ":memory:" });
    const { logger, next } = capture();
    createTickerQ({ functions: [noop], store, logger });
    await store.init();
    const boom = new Error("listener boom");
    store.signalSubscribe(() => {
      throw boom;
    });
    let heard = false;
    store.signalSubscribe(() => void (heard = true));
    await store.signalPublish({ type: "cron" });
    const line = await next((l) => l.level === "error");
    expect(line.message).toBe("tickerq: a store signal listener threw");
    expect(line.fields).toMatchObject({ store: "sqlite", err: boom });
    expect(heard).toBe(true); // the other listener still got the signal
    await store.close();
  });

  it("writes to console when the store is used alone", async () => {
    const store = sqliteStore({ filename: ":memory:" });
    await store.init();
    const printed = new Promise<unknown[]>((resolve) => {
      vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => resolve(args));
    });
    const boom = new Error("listener boom");
    store.signalSubscribe(() => {
      throw boom;
    });
    await store.signalPublish({ type: "cron" });
    expect(await printed).toEqual(["tickerq: a store signal listener threw", boom]);
    await store.close();
  });
});

const server = await checkPostgres();

describe.runIf(server.available)("PostgreSQL store logging", () => {
  let scratch: Awaited<ReturnType<typeof postgresScratch>>;
  let admin: pg.Client;
  beforeAll(async () => {
    scratch = await postgresScratch();
    admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await scratch?.drop();
  });

  const terminate = (applicationName: string) =>
    admin.query("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [
      applicationName,
    ]);

  it("reports a dropped pooled connection and the LISTEN connection lost and back to the node's logger", async () => {
    const applicationName = uniqueName("tqlog");
    const store = postgresStore({ connectionString: PG_URL, schema: scratch.schema, applicationName });
    const { logger, next } = capture();
    const warn = vi.spyOn(console, "warn");
    createTickerQ({ functions: [noop], store, logger });
    try {
      // Not started: nothing holds a pooled connection, so every one of them is idle when cut.
      await store.init();
      await terminate(applicationName);
      const dropped = await next((l) => l.fields.connection === "dropped");
      expect(dropped.level).toBe("warn");
      expect(dropped.message).toMatch(/^tickerq: PostgreSQL connection to 127\.0\.0\.1:5432 dropped \(/);
      expect(dropped.fields).toMatchObject({ store: "PostgreSQL", host: "127.0.0.1", port: "5432" });

      await terminate(`${applicationName}:listen`);
      const lost = await next((l) => l.fields.listen === "lost");
      expect(lost.level).toBe("warn");
      expect(lost.message).toMatch(/^tickerq: lost the PostgreSQL LISTEN connection to 127\.0\.0\.1:5432/);
      const back = await next((l) => l.fields.listen === "back");
      expect(back.level).toBe("warn");
      expect(back.fields.outageMs).toEqual(expect.any(Number));
      expect(warn).not.toHaveBeenCalled();
    } finally {
      await store.close();
    }
  });
});
