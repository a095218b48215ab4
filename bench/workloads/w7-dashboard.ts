/**
 * DASHBOARD: the dashboard at a million jobs (tickerq on PostgreSQL and SQLite). Seeds a
 * realistic mix (73 % finished over the last week with their attempts, 27 % due in the coming
 * hours, four functions) by INSERT…SELECT in bounded batches with progress, serves the
 * dashboard from a child process with a per-second cron, then times each API call the pages
 * make (p50/p95) and the server's CPU over 60 s with 0, 1 and 5 live streams open.
 * Targets (issue 13): every call p95 ≤ 100 ms on PostgreSQL, ≤ 200 ms on SQLite; an idle open
 * stream ≤ 1 % of a core.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { pgQuery } from "../db.js";
import { percentile } from "../stats.js";
import { openTickerq, PG_SCHEMA, SQLITE_FILE } from "../systems/tickerq.js";
import type { System } from "../systems/types.js";
import { epochNow } from "./produce.js";
import type { Measurement, RunContext, Workload } from "./types.js";

const JOBS = 1_000_000;
const BATCH = 100_000;
const STREAM_WINDOW_MS = 60_000;
const SAMPLES = 30;
const TARGET_MS = { postgres: 100, sqlite: 200 } as const;
const SERVER = fileURLToPath(new URL("../dashboard-server.ts", import.meta.url));

const FUNCTION_CASE = (g: string) =>
  `case ${g} % 4 when 0 then 'SendEmail' when 1 then 'GenerateInvoice' when 2 then 'SyncInventory' else 'NightlyReport' end`;
const STATUS_CASE = (k: string) =>
  `case when ${k} < 55 then 'DueDone' when ${k} < 65 then 'Done' when ${k} < 70 then 'Failed' ` +
  `when ${k} < 72 then 'Cancelled' when ${k} < 73 then 'Skipped' else 'Idle' end`;

/** Column → expression over the template row `t` and the sequence number `g`. */
function overrides(now: number, sqlite: boolean): Record<string, string> {
  const k = "(g % 100)";
  const finished = `${k} < 73`;
  // Finished jobs spread over the last week; the others due from an hour on (none runs during the bench).
  const exec = `(case when ${finished} then ${now} - g * 600 else ${now} + 3600000 + g * 50 end)`;
  const elapsed = `(20 + g % 2000)`;
  const text = (s: string) => (sqlite ? s : `${s}::text`);
  return {
    id: `'d-' || ${text("g")}`,
    function: FUNCTION_CASE("g"),
    description: `'bench job ' || ${text("g")}`,
    request: `'{"seq":' || ${text("g")} || '}'`,
    status: STATUS_CASE(k),
    execution_time: exec,
    scheduled_for: exec,
    executed_at: `(case when ${finished} then ${exec} + 5 + g % 50 else null end)`,
    elapsed_ms: `(case when ${finished} then ${elapsed} else null end)`,
    exception_message: `(case when ${k} >= 65 and ${k} < 70 then 'Upstream 503' else null end)`,
    created_at: `${exec} - 60000`,
    updated_at: `(case when ${finished} then ${exec} + 5 + g % 50 + ${elapsed} else ${now} - 1000 end)`,
  };
}

const quote = (name: string) => `"${name}"`;

async function seed(system: System, ctx: RunContext): Promise<void> {
  const { core, store, functionName } = await openTickerq(system.id);
  try {
    const tq = core.createTickerQ({
      functions: [core.defineFunction(functionName, {}, () => undefined)],
      store,
      closeStoreOnStop: false,
    });
    await tq.timeTickers.add({ function: functionName, executionTime: new Date(Date.now() + 86_400_000) });
  } finally {
    await store.close();
  }
  const now = Date.now();
  const t0 = epochNow();
  const sqlite = system.backend === "sqlite";
  const set = overrides(now, sqlite);
  const statements = (columns: string[], jobs: string, attempts: string) => ({
    jobs: (from: number, to: number) =>
      `insert into ${jobs} (${columns.map(quote).join(", ")}) select ${columns
        .map((c) => set[c] ?? `t.${quote(c)}`)
        .join(", ")} from ${jobs} t, ${
        sqlite
          ? `(with recursive s(g) as (select ${from} union all select g + 1 from s where g < ${to}) select g from s) s`
          : `generate_series(${from}, ${to}) g`
      } where t.id not like 'd-%' and t.function = '${functionName}'`,
    // Every finished job's attempt: the history the rollup is made of (its trigger fills it).
    attempts: (from: number, to: number) =>
      `insert into ${attempts} (job_id, attempt, status, node_id, started_at, finished_at, elapsed_ms, superseded)
       select id, 0, status, 'bench', executed_at, executed_at + elapsed_ms, elapsed_ms, 0 from ${jobs}
       where id in (select 'd-' || ${sqlite ? "g" : "g::text"} from ${
         sqlite
           ? `(with recursive s(g) as (select ${from} union all select g + 1 from s where g < ${to}) select g from s) s`
           : `generate_series(${from}, ${to}) g`
       }) and status not in ('Idle')`,
  });
  if (sqlite) {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(SQLITE_FILE);
    try {
      db.pragma("busy_timeout = 10000");
      const columns = (db.prepare(`pragma table_info("tickerq_jobs")`).all() as { name: string }[]).map((c) => c.name);
      const sql = statements(columns, quote("tickerq_jobs"), quote("tickerq_attempts"));
      for (let from = 1; from <= JOBS; from += BATCH) {
        const to = Math.min(JOBS, from + BATCH - 1);
        db.exec(sql.jobs(from, to));
        db.exec(sql.attempts(from, to));
        ctx.log(`  ${system.id}: ${to.toLocaleString("en")} jobs seeded (${((epochNow() - t0) / 1000).toFixed(0)} s)`);
      }
      db.exec("analyze");
    } finally {
      db.close();
    }
  } else {
    const jobs = `${quote(PG_SCHEMA)}."tickerq_jobs"`;
    const columns = (
      await pgQuery(
        `select column_name as name from information_schema.columns where table_schema = $1 and table_name = 'tickerq_jobs'
         and is_generated = 'NEVER' order by ordinal_position`,
        [PG_SCHEMA],
      )
    ).rows.map((r: { name: string }) => r.name);
    const sql = statements(columns, jobs, `${quote(PG_SCHEMA)}."tickerq_attempts"`);
    for (let from = 1; from <= JOBS; from += BATCH) {
      const to = Math.min(JOBS, from + BATCH - 1);
      await pgQuery(sql.jobs(from, to));
      await pgQuery(sql.attempts(from, to));
      ctx.log(`  ${system.id}: ${to.toLocaleString("en")} jobs seeded (${((epochNow() - t0) / 1000).toFixed(0)} s)`);
    }
  }
  // Fold what the triggers appended, as a node does every minute, and index the new jobs for
  // the search, as the nodes' heartbeats do a batch at a time (PostgreSQL's backlog).
  const { store: again } = await openTickerq(system.id);
  try {
    const maintained = again as unknown as {
      aggregateCompact(p: { now: Date }): Promise<void>;
      searchCatchUp(p: { limit: number }): Promise<number>;
    };
    await maintained.aggregateCompact({ now: new Date() });
    let indexed = 0;
    for (let batch = -1; batch !== 0; indexed += batch) {
      batch = await maintained.searchCatchUp({ limit: 50_000 });
      if (batch > 0) ctx.log(`  ${system.id}: ${(indexed + batch).toLocaleString("en")} jobs indexed for the search`);
    }
  } finally {
    await again.close();
  }
  // The steady state of a database that has held these jobs for a while: autovacuum has
  // cleared the fold's dead rows and autoanalyze has seen every table (jobs, attempts, rollups);
  // freshly bulk-loaded tables would be read with default estimates and 150,000 dead rows.
  if (sqlite) {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(SQLITE_FILE);
    try {
      db.exec("analyze");
    } finally {
      db.close();
    }
  } else {
    const tables = await pgQuery(`select tablename from pg_tables where schemaname = $1`, [PG_SCHEMA]);
    for (const { tablename } of tables.rows as { tablename: string }[]) {
      await pgQuery(`vacuum analyze ${quote(PG_SCHEMA)}.${quote(tablename)}`);
    }
  }
  ctx.log(`  ${system.id}: ${JOBS.toLocaleString("en")} jobs seeded in ${((epochNow() - t0) / 1000).toFixed(1)} s`);
}

async function startServer(systemId: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER, systemId], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      const match = /ready (\S+)/.exec(buffer);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`dashboard server exited with ${code}`)));
  });
  return { child, url: url.replace(/\/?$/, "/") };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds per PostgreSQL server process (the queries the dashboard makes run there). */
function postgresCpuSeconds(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      if (stat.includes("(postgres)")) byPid.set(Number(pid), cpuSeconds(Number(pid)));
    } catch {
      // gone meanwhile
    }
  }
  return byPid;
}

/** CPU used between two readings by the processes alive at both (one that ended took its counters with it). */
function cpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? seconds);
  return total;
}

async function timeCall(url: string): Promise<number> {
  const t0 = epochNow();
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  await response.arrayBuffer();
  return epochNow() - t0;
}

async function sample(url: string, gapMs = 0): Promise<{ p50: number; p95: number }> {
  for (let i = 0; i < 3; i++) await timeCall(url);
  const times: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (gapMs) await new Promise((resolve) => setTimeout(resolve, gapMs));
    times.push(await timeCall(url));
  }
  return { p50: percentile(times, 50), p95: percentile(times, 95) };
}

/** Opens `count` streams, keeps them read for the window, and returns the server's CPU share (and PostgreSQL's). */
async function streamCpu(
  child: ChildProcess,
  api: string,
  count: number,
  pg: boolean,
): Promise<{ server: number; database: number | null }> {
  const controllers = Array.from({ length: count }, () => new AbortController());
  const readers = controllers.map(async (controller) => {
    try {
      const response = await fetch(`${api}stream`, { signal: controller.signal });
      const reader = response.body!.getReader();
      while (!(await reader.read()).done);
    } catch {
      // aborted at the end of the window
    }
  });
  // Let the streams open and send their first frames before the window starts.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const server0 = cpuSeconds(child.pid!);
  const db0 = pg ? postgresCpuSeconds() : new Map<number, number>();
  await new Promise((resolve) => setTimeout(resolve, STREAM_WINDOW_MS));
  const server = ((cpuSeconds(child.pid!) - server0) / (STREAM_WINDOW_MS / 1000)) * 100;
  const database = pg ? (cpuBetween(db0, postgresCpuSeconds()) / (STREAM_WINDOW_MS / 1000)) * 100 : null;
  for (const controller of controllers) controller.abort();
  await Promise.all(readers);
  return { server, database };
}

export const w7Dashboard: Workload = {
  id: "DASHBOARD",
  title: "dashboard at a million jobs",
  metrics: [
    { key: "p50", label: "p50 ms", digits: 1 },
    { key: "p95", label: "p95 ms", digits: 1 },
    { key: "target", label: "target p95 ms", digits: 0 },
    { key: "cpu", label: "server CPU % of a core", digits: 2 },
    { key: "dbCpu", label: "PostgreSQL CPU %", digits: 2 },
  ],
  settings: () =>
    `${JOBS.toLocaleString("en")} jobs (73 % finished over the last week with their attempts, 27 % due in the coming hours, ` +
    `4 functions) seeded by INSERT…SELECT in batches of ${BATCH.toLocaleString("en")}, plus a per-second cron; the server ` +
    `is a child process; each API call ${SAMPLES} times after 3 warm-ups (the overview 1.05 s apart, past its 1 s cache); ` +
    `CPU over ${STREAM_WINDOW_MS / 1000} s with 0, 1 and 5 streams open (the cron changes a row every second)`,
  once: true,
  applies: (system) => system.family === "tickerq" && (system.backend === "postgres" || system.backend === "sqlite"),
  skipReason: () => "the dashboard workload is tickerq on PostgreSQL and SQLite",
  async run(system, ctx): Promise<Measurement[]> {
    await seed(system, ctx);
    const { child, url } = await startServer(system.id);
    const api = `${url}api/`;
    const pg = system.backend === "postgres";
    const target = TARGET_MS[pg ? "postgres" : "sqlite"];
    const rows: Measurement[] = [];
    try {
      // A cursor half way down the list by due time, as Next would hold it on page 10,001.
      const mid = await (await fetch(`${api}jobs?orderBy=executionTime&order=desc&limit=1&offset=500000`)).json();
      const deep = mid.items[0] as { executionTime: string; id: string };
      const calls: [string, string, number][] = [
        ["overview", "overview", 1050],
        ["overview (week)", "overview?window=week", 1050],
        ["functions (day)", "functions?window=day", 0],
        ["list, first page", "jobs", 0],
        [
          "list, deep page (keyset, page 10,001)",
          `jobs?orderBy=executionTime&order=desc&afterTime=${Date.parse(deep.executionTime)}&afterId=${encodeURIComponent(deep.id)}`,
          0,
        ],
        ["list, page jump (offset 500,000)", "jobs?orderBy=executionTime&order=desc&offset=500000", 0],
        ["list, filtered (Failed, one function)", "jobs?status=Failed&function=SyncInventory", 0],
        ["list, search", "jobs?search=bench%20job%20123456", 0],
        ["job page", "jobs/d-123456", 0],
        ["session", "session", 0],
      ];
      for (const [name, path, gap] of calls) {
        const { p50, p95 } = await sample(`${api}${path}`, gap);
        ctx.log(`${system.id} ${name}: p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms (target ${target})`);
        rows.push({
          system: system.id,
          case: name,
          values: { p50, p95, target, cpu: null, dbCpu: null },
          note: p95 > target ? `${name}: p95 over the ${target} ms target` : undefined,
        });
      }
      for (const streams of [0, 1, 5]) {
        const { server, database } = await streamCpu(child, api, streams, pg);
        ctx.log(
          `${system.id} ${streams} stream(s): server ${server.toFixed(2)} % of a core` +
            (database === null ? "" : `, PostgreSQL ${database.toFixed(2)} %`),
        );
        rows.push({
          system: system.id,
          case: `${streams} stream(s) open, ${STREAM_WINDOW_MS / 1000} s`,
          values: { p50: null, p95: null, target: null, cpu: server, dbCpu: database },
        });
      }
    } finally {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
    }
    return rows;
  },
};
