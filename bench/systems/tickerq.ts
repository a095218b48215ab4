/**
 * tickerq on each of its stores (memory, SQLite, PostgreSQL, MySQL/MariaDB, and MariaDB with
 * the Redis coordinator), driven through its public API. Modules are imported by path at run time so the bench still runs, and
 * says what is missing, while the engine or a store is not written yet.
 */
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { MYSQL_URI, MYSQL_URI_ENV, PG_URL, REDIS } from "../config.js";
import { mysqlRecreateDatabase, mysqlServerVersion, pgQuery, pgServerVersion, pgUnavailable } from "../db.js";
import { ROOT_DIR, TMP_DIR } from "../paths.js";
import type { Backend, BenchPayload, CronSettings, Producer, RunningWorker, System, WorkerSettings } from "./types.js";

/** The slice of tickerq's public API the bench uses (DESIGN.md), kept structural on purpose. */
interface TickerContextLike {
  request: unknown;
  scheduledFor: Date;
}
interface TickerQLike {
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(): void;
  timeTickers: {
    add(job: { function: string; executionTime?: Date; request?: unknown }): Promise<unknown>;
    addMany(jobs: Array<{ function: string; executionTime?: Date; request?: unknown }>): Promise<unknown>;
  };
}
export interface StoreLike {
  init(): Promise<void>;
  close(): Promise<void>;
  jobCountByStatus(params: Record<string, never>): Promise<Record<string, number>>;
  jobClaimDue(params: {
    nodeId: string;
    now: Date;
    until: Date;
    limit: number;
    longRunningLimit: number;
  }): Promise<unknown[]>;
}
export interface CoreModule {
  createTickerQ(options: {
    functions: unknown[];
    store: StoreLike;
    maxConcurrency?: number;
    prefetch?: number;
    nodeId?: string;
    middleware?: unknown[];
    coordinator?: unknown;
    /** The bench opens and closes stores itself. */
    closeStoreOnStop: false;
  }): TickerQLike;
  defineFunction(name: string, options: object, handler: (ctx: TickerContextLike) => unknown): unknown;
  memoryStore(): StoreLike;
}

/**
 * The engine, next to this module's tree: src/*.ts for the runner (under tsx), and in a worker
 * child the JavaScript transpiled from it under node_modules/.cache/tickerq-bench/src/ (child-build.ts).
 */
const SRC = new URL("../../src/", import.meta.url);
export const PG_SCHEMA = "tickerq_bench";
export const SQLITE_FILE = join(TMP_DIR, "tickerq-bench.db");
/** The Redis coordinator's key prefix on the shared Redis (keys `{tickerq-bench}:…`). */
export const REDIS_PREFIX = "tickerq-bench";
const mysqlUri = () => process.env[MYSQL_URI_ENV] ?? MYSQL_URI;
const FUNCTION = "BenchJob";
const CRON_FUNCTION = "BenchTick";

async function importSrc<T>(file: string): Promise<T> {
  return (await import(new URL(file, SRC).href)) as T;
}

/** Why `file` (and the core) cannot be used yet, or null. */
async function missingModules(file: string | null, exportName: string | null): Promise<string | null> {
  for (const [path, name] of [
    ["index.ts", "createTickerQ"],
    ...(file && exportName ? [[file, exportName]] : []),
  ] as const) {
    if (!existsSync(new URL(path, SRC))) return `src/${path} is not written yet`;
    try {
      const mod = await importSrc<Record<string, unknown>>(path.replace(/\.ts$/, ".js"));
      if (typeof mod[name] !== "function") return `src/${path} does not export ${name} yet`;
    } catch (error) {
      return `src/${path} fails to load (${(error as Error).message.split("\n")[0]})`;
    }
  }
  return null;
}

interface StoreSpec {
  id: string;
  backend: Backend;
  /** The subpath module and its factory; null for the memory store (from index). */
  module: string | null;
  factory: string | null;
  create(core: CoreModule): Promise<StoreLike>;
  reset(): Promise<void>;
  server(): Promise<string>;
  serverUnavailable(): Promise<string | null>;
  /** Every node (and a producer, started but paused, so its writes are announced) has a Redis coordinator. */
  redis?: true;
}

let memory: StoreLike | null = null;

const STORES: StoreSpec[] = [
  {
    id: "tickerq-memory",
    backend: "memory",
    module: null,
    factory: null,
    // One store per process: the producer and the worker of an in-process run share it.
    async create(core) {
      memory ??= core.memoryStore();
      return memory;
    },
    async reset() {
      memory = null;
    },
    server: async () => "in process",
    serverUnavailable: async () => null,
  },
  {
    id: "tickerq-sqlite",
    backend: "sqlite",
    module: "sqlite.ts",
    factory: "sqliteStore",
    async create() {
      await mkdir(TMP_DIR, { recursive: true });
      const mod = await importSrc<{ sqliteStore(options: { filename: string }): StoreLike }>("sqlite.js");
      return mod.sqliteStore({ filename: SQLITE_FILE });
    },
    async reset() {
      for (const suffix of ["", "-wal", "-shm"]) await rm(SQLITE_FILE + suffix, { force: true });
    },
    async server() {
      const { default: Database } = await import("better-sqlite3");
      const db = new Database(":memory:");
      try {
        return `SQLite ${(db.prepare("select sqlite_version() as v").get() as { v: string }).v}`;
      } finally {
        db.close();
      }
    },
    serverUnavailable: async () => null,
  },
  {
    id: "tickerq-pg",
    backend: "postgres",
    module: "postgres.ts",
    factory: "postgresStore",
    async create() {
      const mod = await importSrc<{ postgresStore(options: { connectionString: string; schema?: string }): StoreLike }>(
        "postgres.js",
      );
      return mod.postgresStore({ connectionString: PG_URL, schema: PG_SCHEMA });
    },
    async reset() {
      await pgQuery(`drop schema if exists ${PG_SCHEMA} cascade`);
    },
    server: pgServerVersion,
    serverUnavailable: pgUnavailable,
  },
  {
    id: "tickerq-mysql",
    backend: "mysql",
    module: "mysql.ts",
    factory: "mysqlStore",
    async create() {
      const mod = await importSrc<{ mysqlStore(options: { uri: string }): StoreLike }>("mysql.js");
      return mod.mysqlStore({ uri: mysqlUri() });
    },
    reset: mysqlRecreateDatabase,
    server: mysqlServerVersion,
    serverUnavailable: mysqlUnavailable,
  },
  {
    id: "tickerq-mysql-redis",
    backend: "mysql",
    module: "redis.ts",
    factory: "redisCoordinator",
    redis: true,
    async create() {
      const mod = await importSrc<{ mysqlStore(options: { uri: string }): StoreLike }>("mysql.js");
      return mod.mysqlStore({ uri: mysqlUri() });
    },
    async reset() {
      await mysqlRecreateDatabase();
      await redisDeletePrefix();
    },
    async server() {
      return `${await mysqlServerVersion()}; ${await redisServerVersion()}`;
    },
    async serverUnavailable() {
      return (await mysqlUnavailable()) ?? (await redisUnavailable());
    },
  },
];

async function mysqlUnavailable(): Promise<string | null> {
  try {
    await mysqlServerVersion();
    return null;
  } catch (error) {
    return `MySQL/MariaDB at 127.0.0.1:3306 unreachable (${(error as Error).message})`;
  }
}

async function withRedis<T>(fn: (redis: import("ioredis").Redis) => Promise<T>): Promise<T> {
  const { Redis } = await import("ioredis");
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await redis.connect();
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

async function redisUnavailable(): Promise<string | null> {
  try {
    await withRedis((redis) => redis.ping());
    return null;
  } catch (error) {
    return `Redis at ${REDIS.host}:${REDIS.port} unreachable (${(error as Error).message})`;
  }
}

async function redisServerVersion(): Promise<string> {
  const info = await withRedis((redis) => redis.info("server"));
  return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? "?"}`;
}

/** Deletes the coordinator's keys of earlier runs (its prefix only: the shared Redis holds others'). */
async function redisDeletePrefix(): Promise<void> {
  await withRedis(async (redis) => {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `{${REDIS_PREFIX}}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  });
}

/** A Redis coordinator for one node, or nothing for the stores without one. */
async function coordinatorFor(spec: StoreSpec): Promise<{ coordinator?: unknown }> {
  if (!spec.redis) return {};
  const { redisCoordinator } = await importSrc<{
    redisCoordinator(options: { url: string; prefix: string }): unknown;
  }>("redis.js");
  return { coordinator: redisCoordinator({ url: `redis://${REDIS.host}:${REDIS.port}`, prefix: REDIS_PREFIX }) };
}

/** The commit the engine was measured at, and whether src/ had uncommitted changes. */
async function treeRevision(): Promise<string> {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const run = promisify(execFile);
  const cwd = ROOT_DIR;
  try {
    const { stdout: commit } = await run("git", ["rev-parse", "--short", "HEAD"], { cwd });
    const { stdout: dirty } = await run("git", ["status", "--porcelain", "--", "src"], { cwd });
    return `commit ${commit.trim()}${dirty.trim() ? " with uncommitted changes in src/" : ""}`;
  } catch {
    return "this tree, commit unknown";
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The W2 settings that run with tracing on (issue 12: what otelMiddleware costs). `otel-floor`
 * runs the same SDK under a middleware that does only what the issue asks of every attempt,
 * and nothing else: the SDK's own cost, which otelMiddleware cannot go below.
 */
const isOtel = (variant: string | undefined) => variant?.endsWith("otel") || variant === "otel-floor";

interface Telemetry {
  middleware: unknown;
  shutdown(): Promise<void>;
}

let contextManagerSet = false;

/** The SDK and tickerq/otel, imported once (by `load` in a worker child, before its start is timed). */
function telemetryModules() {
  return Promise.all([
    import("@opentelemetry/api"),
    import("@opentelemetry/context-async-hooks"),
    import("@opentelemetry/sdk-trace-base"),
    import("@opentelemetry/sdk-metrics"),
    importSrc<{ otelMiddleware(options: { tracerProvider: unknown; meterProvider: unknown }): unknown }>("otel.js"),
  ]);
}

/**
 * otelMiddleware on the OpenTelemetry SDK as an application would set it up (an AsyncLocalStorage
 * context manager, a batch span processor, a periodic metric reader at its default 60 s
 * interval), with exporters that drop everything: the cost of tracing and metrics in the
 * process, without the network. Loaded only for the otel settings.
 */
async function telemetry(variant: string | undefined): Promise<Telemetry> {
  const [api, { AsyncLocalStorageContextManager }, { BasicTracerProvider, BatchSpanProcessor }, sdkMetrics, otel] =
    await telemetryModules();
  const { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } = sdkMetrics;
  const { otelMiddleware } = otel;
  if (!contextManagerSet) {
    api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    contextManagerSet = true;
  }
  const ok = { code: 0 } as const; // ExportResultCode.SUCCESS
  const tracerProvider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor({ export: (_spans, done) => done(ok), shutdown: async () => {} })],
  });
  const meterProvider = new MeterProvider({
    readers: [
      new PeriodicExportingMetricReader({
        exporter: {
          export: (_metrics, done) => done(ok),
          forceFlush: async () => {},
          shutdown: async () => {},
          selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
        },
      }),
    ],
  });
  return {
    middleware:
      variant === "otel-floor"
        ? floorMiddleware(api, tracerProvider, meterProvider)
        : otelMiddleware({ tracerProvider, meterProvider }),
    async shutdown() {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/**
 * The least an attempt's telemetry can be on this SDK: a CONSUMER span with no attributes,
 * made active around the handler, and the two histogram records (lateness, duration) with one
 * attribute. No enqueue hook, no metadata, no status or error handling.
 */
function floorMiddleware(
  api: typeof import("@opentelemetry/api"),
  tracerProvider: import("@opentelemetry/api").TracerProvider,
  meterProvider: import("@opentelemetry/api").MeterProvider,
): unknown {
  const tracer = tracerProvider.getTracer("floor");
  const meter = meterProvider.getMeter("floor");
  const [duration, lateness] = [meter.createHistogram("duration"), meter.createHistogram("lateness")];
  const attributes = { "messaging.destination.name": FUNCTION };
  return {
    name: "otel-floor",
    run(_ctx: unknown, next: () => Promise<void>) {
      const span = tracer.startSpan(`process ${FUNCTION}`, { kind: api.SpanKind.CONSUMER });
      lateness.record(0, attributes);
      const began = performance.now();
      return api.context.with(api.trace.setSpan(api.ROOT_CONTEXT, span), next).then(() => {
        span.end();
        duration.record(performance.now() - began, attributes);
      });
    },
  };
}

/**
 * W1's `floor` on PostgreSQL: what the jobs table keeps is what a queue needs to insert and
 * claim (its primary key, the claim index); the dashboard's indexes, the job counters' and the
 * search's triggers go. The run's reset drops the schema after it.
 */
async function stripToFloor(): Promise<void> {
  const jobs = `"${PG_SCHEMA}".tickerq_jobs`;
  const index = (name: string) => `"${PG_SCHEMA}".tickerq_jobs_${name}`;
  await pgQuery(`drop trigger tickerq_jobs_count_ins on ${jobs}; drop trigger tickerq_jobs_search_ins on ${jobs}`);
  await pgQuery(
    `drop index ${["list_ix", "list_status_ix", "changed_ix", "updated_ix", "function_ix", "due_ix"].map(index).join(", ")}`,
  );
}

function systemFor(spec: StoreSpec): System {
  const core = () => importSrc<CoreModule>("index.js");
  return {
    id: spec.id,
    family: "tickerq",
    backend: spec.backend,
    inProcess: spec.backend === "memory",
    // The tuned setting for many short jobs, on the store the W2 targets are about.
    variants: {
      // Each PostgreSQL setting also with otelMiddleware, right after it in the same repeat.
      drain:
        spec.backend === "postgres"
          ? ["default", "otel", "otel-floor", "prefetch-0", "prefetch-100", "prefetch-100-otel"]
          : ["default"],
      precision: ["default"],
      ...(spec.id === "tickerq-pg" ? { enqueue: ["floor"] } : {}),
    },
    variantNotes: {
      default: spec.redis
        ? "MariaDB with redisCoordinator (shared Redis, own key prefix) on every node; the producer is a started, " +
          "paused node so that its adds are announced (a process that never starts announces nothing)"
        : "concurrency c = maxConcurrency option; default timings",
      floor:
        "for reference, not a setting: the jobs table stripped after migration to its primary key and claim " +
        "index (no dashboard indexes, job counters or search table): the least a bulk insert of tickerq's rows costs",
      "prefetch-0":
        "prefetch: 0, the default before adaptive claiming (issue 16): each claim takes the free slots only",
      "prefetch-100":
        "prefetch: 100 (each claim takes up to 100 due jobs beyond the free slots, started by the claim and held for a slot)",
      ...(spec.backend === "postgres"
        ? {
            otel:
              "default, plus otelMiddleware on the OpenTelemetry SDK (AsyncLocalStorage context, batch span " +
              "processor, periodic metric reader) with exporters that drop everything; the jobs were enqueued " +
              "through it too (each carries its send span's traceparent)",
            "otel-floor":
              "default, plus the SDK of otel under a minimal middleware: per attempt one CONSUMER span with no " +
              "attributes, active around the handler, and two histogram records; what the SDK itself costs",
            "prefetch-100-otel": "prefetch-100, plus otelMiddleware as in otel",
          }
        : {}),
    },

    async unavailable() {
      return (
        (await missingModules(spec.module, spec.factory)) ??
        (spec.redis ? await missingModules("mysql.ts", "mysqlStore") : null) ??
        (await spec.serverUnavailable())
      );
    },

    async versions() {
      const { readFile } = await import("node:fs/promises");
      const manifest = JSON.parse(await readFile(join(ROOT_DIR, "package.json"), "utf8")) as {
        version: string;
      };
      return { tickerq: `${manifest.version} (${await treeRevision()})`, server: await spec.server() };
    },

    reset: spec.reset,

    async producer(variant?: string): Promise<Producer> {
      const mod = await core();
      const store = await spec.create(mod);
      // A producer registers the function but never starts: it only writes tickers.
      await store.init();
      if (variant === "floor") await stripToFloor();
      const otel = isOtel(variant) ? await telemetry(variant) : null;
      const tq = mod.createTickerQ({
        functions: [mod.defineFunction(FUNCTION, {}, () => undefined)],
        store,
        ...(otel ? { middleware: [otel.middleware] } : {}),
        ...(await coordinatorFor(spec)),
        closeStoreOnStop: false,
      });
      // Only a started node announces its writes on Redis; paused, it claims nothing itself.
      if (spec.redis) {
        await tq.start();
        tq.pause();
      }
      const toJob = (item: { payload: BenchPayload; runAt?: number }) => ({
        function: FUNCTION,
        request: item.payload,
        ...(item.runAt === undefined ? {} : { executionTime: new Date(item.runAt) }),
      });
      return {
        async add(item) {
          await tq.timeTickers.add(toJob(item));
        },
        async addMany(items) {
          await tq.timeTickers.addMany(items.map(toJob));
        },
        async close() {
          await tq.stop();
          await otel?.shutdown();
          // The memory store lives on for the worker in the same process.
          if (spec.backend !== "memory") await store.close();
        },
      };
    },

    async load(variant) {
      await core();
      if (spec.module) await importSrc(spec.module.replace(/\.ts$/, ".js"));
      if (spec.redis) await importSrc("mysql.js");
      // The otel settings' SDK is a module like the others: imported before the start is timed.
      if (isOtel(variant)) await telemetryModules();
    },

    async worker(settings: WorkerSettings): Promise<RunningWorker> {
      const mod = await core();
      const store = await spec.create(mod);
      const handler = (ctx: TickerContextLike) => {
        settings.onJob(ctx.request as BenchPayload, now());
      };
      const otel = isOtel(settings.variant) ? await telemetry(settings.variant) : null;
      const tq = mod.createTickerQ({
        functions: [mod.defineFunction(FUNCTION, {}, handler)],
        store,
        maxConcurrency: settings.concurrency,
        ...(/^prefetch-\d+/.test(settings.variant)
          ? { prefetch: Number(/^prefetch-(\d+)/.exec(settings.variant)![1]) }
          : {}),
        ...(otel ? { middleware: [otel.middleware] } : {}),
        ...(await coordinatorFor(spec)),
        nodeId: `bench-${process.pid}`,
        closeStoreOnStop: false,
      });
      await tq.start();
      return {
        async unfinished() {
          const counts = await store.jobCountByStatus({});
          return (counts.Idle ?? 0) + (counts.Queued ?? 0) + (counts.InProgress ?? 0);
        },
        async stop() {
          await tq.stop();
          await otel?.shutdown();
          if (spec.backend !== "memory") await store.close();
        },
      };
    },

    async cron(settings: CronSettings): Promise<RunningWorker> {
      const mod = await core();
      const store = await spec.create(mod);
      const tick = mod.defineFunction(CRON_FUNCTION, { cron: "* * * * * *" }, (ctx) => {
        settings.onTick(ctx.scheduledFor.getTime(), now());
      });
      const tq = mod.createTickerQ({
        functions: [tick],
        store,
        maxConcurrency: 10,
        ...(await coordinatorFor(spec)),
        nodeId: `bench-cron-${process.pid}`,
        closeStoreOnStop: false,
      });
      await tq.start();
      return {
        async unfinished() {
          return 0;
        },
        async stop() {
          await tq.stop();
          if (spec.backend !== "memory") await store.close();
        },
      };
    },
  };
}

export const tickerqSystems: System[] = STORES.map(systemFor);

/** The engine module and a fresh store of `systemId`, for workloads that time the store itself (W6). */
export async function openTickerq(
  systemId: string,
): Promise<{ core: CoreModule; store: StoreLike; functionName: string }> {
  const spec = STORES.find((s) => s.id === systemId);
  if (!spec) throw new Error(`no tickerq store ${systemId}`);
  const core = await importSrc<CoreModule>("index.js");
  const store = await spec.create(core);
  await store.init();
  return { core, store, functionName: FUNCTION };
}
