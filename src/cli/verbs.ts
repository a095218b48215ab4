/**
 * The operator's verbs on a database URL: `jobs ls|add|cancel|retry`, `cron ls|add|trigger`,
 * `nodes ls`. Each opens the store through a node that is never started (it runs nothing),
 * prints a table, or JSON with --json, and closes it.
 */

import { TickerQError } from "../errors.js";
import { defineFunction, type AnyFunctionDefinition } from "../functions.js";
import { TICKER_STATUSES, type TickerStatus } from "../lifecycle.js";
import type { CronTicker, TimeTicker } from "../records.js";
import type { NodeRecord } from "../store/contract.js";
import type { SqlStoreHandle } from "../store/sql/sql-store.js";
import { intFlag, listFlag, onlyFlags } from "./args.js";
import { dbOf, missingDriver, openTarget, UsageError, type Target } from "./db-url.js";
import { loadFunctions } from "./functions-module.js";
import type { CliIo } from "./io.js";
import { table } from "./table.js";
import { EXIT } from "./help.js";

const DB_FLAGS = ["db", "prefix", "schema", "json"];

const iso = (date: Date | null | undefined) => (date ? date.toISOString().replace(/\.000Z$/, "Z") : "-");

function parseJsonFlag(name: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`--${name} must be JSON; got ${JSON.stringify(text)} (${(error as Error).message})`);
  }
}

function oneId(args: readonly string[], what: string): string {
  if (args.length === 0) throw new UsageError(`${what} needs an ID`);
  if (args.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args[1])}`);
  return args[0]!;
}

/** The functions a command's node knows: the module's, else a stand-in for the one named (never run). */
async function functionsFor(
  flags: ReadonlyMap<string, string>,
  name: string | undefined,
): Promise<AnyFunctionDefinition[]> {
  if (flags.has("functions")) return loadFunctions(flags.get("functions")!, process.cwd());
  if (name === undefined) return [];
  if (name === "http") {
    // The request's shape is checked here; the serving node's allow-lists decide at run time.
    const { httpFunction } = await import("../http/http-function.js");
    return [httpFunction({ allowHosts: ["*"] })];
  }
  return [
    defineFunction(name, () => {
      throw new Error("the tickerq command line never runs jobs");
    }),
  ];
}

interface Session {
  store: SqlStoreHandle;
  tq: import("../tickerq.js").TickerQ<Record<string, unknown>>;
}

async function open(
  target: Target,
  flags: ReadonlyMap<string, string>,
  functions: AnyFunctionDefinition[],
): Promise<Session> {
  const missing = await missingDriver(target);
  if (missing) throw new TickerQError("STORE_UNAVAILABLE", missing);
  const store = await openTarget(target, { tablePrefix: flags.get("prefix"), schema: flags.get("schema") });
  const { TickerQ } = await import("../tickerq.js");
  const tq = new TickerQ<Record<string, unknown>>({ functions, store, logger: null, nodeId: "tickerq-cli" });
  return { store, tq };
}

function print(io: CliIo, json: boolean, value: unknown, rows: () => string): void {
  io.out(json ? JSON.stringify(value, null, 2) : rows());
}

/** One page of a listing: its items as JSON, or a table followed by how many of how many. */
function printPage<T>(
  io: CliIo,
  json: boolean,
  page: { items: readonly T[]; total: number },
  header: readonly string[],
  row: (item: T) => readonly string[],
): void {
  print(io, json, page.items, () => table(header, page.items.map(row)) + `\n(${page.items.length} of ${page.total})`);
}

const jobRow = (j: TimeTicker) => [
  j.id,
  j.function,
  j.status,
  iso(j.executionTime),
  `${j.retryCount}/${j.retries}`,
  j.exceptionMessage ? j.exceptionMessage.slice(0, 60) : (j.description ?? ""),
];
const JOB_HEADER = ["ID", "FUNCTION", "STATUS", "EXECUTION TIME", "RETRIES", "NOTE"];

/** Runs one verb; returns the exit status. Throws UsageError or TickerQError for the caller to map. */
export async function runVerb(
  noun: "jobs" | "cron" | "nodes",
  args: readonly string[],
  flags: ReadonlyMap<string, string>,
  io: CliIo,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const verb = args[0];
  const rest = args.slice(1);
  const json = flags.has("json");
  const allowed: Record<string, Record<string, string[]>> = {
    jobs: {
      ls: ["status", "function", "limit"],
      add: ["request", "at", "in", "retries", "id", "description", "functions"],
      cancel: [],
      retry: [],
    },
    cron: {
      ls: ["function", "limit"],
      add: ["expression", "time-zone", "request", "description", "functions"],
      trigger: [],
    },
    nodes: { ls: [] },
  };
  if (verb === undefined) throw new UsageError(`${noun} needs a verb: ${Object.keys(allowed[noun]!).join(", ")}`);
  const extra = allowed[noun]![verb];
  if (!extra)
    throw new UsageError(
      `unknown verb ${JSON.stringify(`${noun} ${verb}`)}; use ${Object.keys(allowed[noun]!).join(", ")}`,
    );
  onlyFlags(flags, [...DB_FLAGS, ...extra]);
  if (verb === "ls" && rest.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const { target } = dbOf(flags, env);

  // Everything the command line can check is checked before the database is opened.
  if (noun === "jobs" && verb === "ls") {
    const statuses = listFlag(flags.get("status"));
    for (const s of statuses)
      if (!TICKER_STATUSES.includes(s as TickerStatus))
        throw new UsageError(`--status ${JSON.stringify(s)} is not a status; use ${TICKER_STATUSES.join(", ")}`);
    const limit = intFlag(flags, "limit", 1, 1000, 50);
    const s = await open(target, flags, []);
    try {
      const page = await s.tq.timeTickers.list({
        ...(statuses.length > 0 ? { status: statuses as TickerStatus[] } : {}),
        ...(flags.has("function") ? { function: flags.get("function") } : {}),
        limit,
      });
      printPage(io, json, page, JOB_HEADER, jobRow);
      return EXIT.ok;
    } finally {
      await s.tq.stop();
    }
  }

  if (verb === "add") {
    if (rest.length === 0) throw new UsageError(`${noun} add needs a FUNCTION`);
    if (rest.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(rest[1])}`);
    const fn = rest[0]!;
    const request = parseJsonFlag("request", flags.get("request"));
    const common = {
      function: fn,
      ...(request !== undefined ? { request } : {}),
      ...(flags.has("description") ? { description: flags.get("description") } : {}),
    };
    const functions = await functionsFor(flags, fn);
    if (noun === "jobs") {
      if (flags.has("at") && flags.has("in")) throw new UsageError("--at and --in cannot be used together");
      let executionTime: Date | string | undefined = flags.get("at");
      if (flags.has("in")) {
        const { parseDelay } = await import("../http/job-input.js");
        try {
          executionTime = new Date(Date.now() + parseDelay("--in", flags.get("in")));
        } catch (error) {
          throw new UsageError(`${(error as Error).message}; got ${JSON.stringify(flags.get("in"))}`);
        }
      }
      const input = {
        ...common,
        ...(executionTime !== undefined ? { executionTime } : {}),
        ...(flags.has("retries") ? { retries: intFlag(flags, "retries", 0, 1000, 0) } : {}),
        ...(flags.has("id") ? { id: flags.get("id") } : {}),
      };
      const s = await open(target, flags, functions);
      try {
        const job = await s.tq.timeTickers.add(input as never);
        print(io, json, job, () => table(JOB_HEADER, [jobRow(job)]));
        return EXIT.ok;
      } finally {
        await s.tq.stop();
      }
    }
    if (!flags.has("expression")) throw new UsageError('cron add needs --expression, e.g. --expression "0 0 9 * * *"');
    const input = {
      ...common,
      expression: flags.get("expression"),
      ...(flags.has("time-zone") ? { timeZone: flags.get("time-zone") } : {}),
    };
    const s = await open(target, flags, functions);
    try {
      const cron = await s.tq.cronTickers.add(input as never);
      print(io, json, cron, () => table(CRON_HEADER, [cronRow(cron)]));
      return EXIT.ok;
    } finally {
      await s.tq.stop();
    }
  }

  if (noun === "jobs") {
    const id = oneId(rest, `jobs ${verb}`);
    const s = await open(target, flags, []);
    try {
      if (verb === "cancel") {
        const result = await s.tq.cancel(id);
        if (result === "not-found") throw new TickerQError("NOT_FOUND", `job ${JSON.stringify(id)} does not exist`);
        const job = await s.tq.job(id);
        if (result === "final")
          throw new TickerQError(
            "INVALID_STATE",
            `job ${id} is ${job?.status ?? "finished"}; only a job that has not ended can be cancelled`,
          );
        print(io, json, { id, result, status: job?.status }, () =>
          result === "requested" ? `job ${id} is running: cancellation requested from its node` : `job ${id} cancelled`,
        );
        return EXIT.ok;
      }
      const job = await s.tq.retry(id);
      print(io, json, job, () => table(JOB_HEADER, [jobRow(job)]));
      return EXIT.ok;
    } finally {
      await s.tq.stop();
    }
  }

  if (noun === "cron") {
    const s = await open(target, flags, []);
    try {
      if (verb === "ls") {
        const limit = intFlag(flags, "limit", 1, 1000, 50);
        const page = await s.tq.cronTickers.list({
          ...(flags.has("function") ? { function: flags.get("function") } : {}),
          limit,
        });
        printPage(io, json, page, CRON_HEADER, cronRow);
        return EXIT.ok;
      }
      const occurrence = await s.tq.cronTickers.trigger(oneId(rest, "cron trigger"));
      print(io, json, occurrence, () => table(JOB_HEADER, [jobRow(occurrence)]));
      return EXIT.ok;
    } finally {
      await s.tq.stop();
    }
  }

  const s = await open(target, flags, []);
  try {
    await s.store.init();
    const nodes = await s.store.nodeList();
    print(io, json, nodes, () => table(NODE_HEADER, nodes.map(nodeRow)));
    return EXIT.ok;
  } finally {
    await s.tq.stop();
    await s.store.close().catch(() => {});
  }
}

const CRON_HEADER = ["ID", "FUNCTION", "EXPRESSION", "TIME ZONE", "ENABLED", "NEXT"];
const cronRow = (c: CronTicker) => [
  c.id,
  c.function,
  c.expression,
  c.timeZone ?? "UTC",
  c.enabled ? "yes" : "no",
  iso(c.nextOccurrence),
];

const NODE_HEADER = ["NODE", "STARTED", "HEARTBEAT", "ACTIVE", "PAUSED", "EXECUTED", "FAILED", "VERSION"];
const nodeRow = (n: NodeRecord) => [
  n.nodeId,
  iso(n.startedAt),
  iso(n.heartbeatAt),
  `${n.info.active}/${n.info.maxConcurrency}`,
  n.paused ? "yes" : "no",
  String(n.info.executed),
  String(n.info.failed),
  n.info.version,
];
