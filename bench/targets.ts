/** The performance targets, read off the medians of one run, as ratios against the peers. */
import type { Reference } from "./reference.js";
import type { WorkloadResult } from "./report.js";
import { median } from "./stats.js";

export interface TargetCheck {
  target: string;
  figure: string;
  met: boolean | null;
}

type Lookup = (workload: string, system: (label: string) => boolean, metric: string, caseName?: string) => number[];

function lookupIn(results: readonly WorkloadResult[]): Lookup {
  return (workload, system, metric, caseName) => {
    const result = results.find((r) => r.id === workload);
    if (!result) return [];
    const bySystem = new Map<string, number[]>();
    for (const m of result.measurements) {
      if (!system(m.system) || (caseName !== undefined && m.case !== caseName)) continue;
      const value = m.values[metric];
      if (value === null || value === undefined || !Number.isFinite(value)) continue;
      bySystem.set(m.system, [...(bySystem.get(m.system) ?? []), value]);
    }
    // One median per system (and setting), so "best peer" compares medians.
    return [...bySystem.values()].map((values) => median(values));
  };
}

const isPeer = (label: string) => !label.startsWith("tickerq-");
const is = (id: string) => (label: string) => label === id || label.startsWith(`${id} [`);
const fmt = (n: number, digits = 2) => n.toFixed(digits);

function ratio(target: string, mine: number[], other: number[], goal: number, unit = "×"): TargetCheck {
  const a = mine[0];
  const b = other.length > 0 ? Math.max(...other) : undefined;
  if (a === undefined || b === undefined || b === 0) return { target, figure: "not measured", met: null };
  return { target, figure: `${fmt(a / b)}${unit} (${fmt(a, 0)} vs ${fmt(b, 0)})`, met: a / b >= goal };
}

/**
 * The throughput with tracing on against the same setting without it, as an overhead in %
 * (the target), with the worker's CPU per job beside it (what tracing adds in the process).
 */
function overhead(
  target: string,
  rates: { traced: number[]; plain: number[] },
  cpu: { traced: number[]; plain: number[] },
  limitPct: number,
): TargetCheck {
  const a = rates.traced[0];
  const b = rates.plain[0];
  if (a === undefined || b === undefined || b === 0) return { target, figure: "not measured", met: null };
  const pct = (1 - a / b) * 100;
  const [ca, cb] = [cpu.traced[0], cpu.plain[0]];
  const cpuNote =
    ca !== undefined && cb !== undefined && cb > 0 ? `; CPU per job +${fmt((ca / cb - 1) * 100, 0)} %` : "";
  return {
    target,
    figure: `${fmt(pct, 1)} % (${fmt(a / b)}×: ${fmt(a, 0)} vs ${fmt(b, 0)} jobs/s${cpuNote})`,
    met: pct <= limitPct,
  };
}

function atMost(target: string, values: number[], limit: number, unit: string): TargetCheck {
  const value = values[0];
  if (value === undefined) return { target, figure: "not measured", met: null };
  return { target, figure: `${fmt(value, 1)} ${unit}`, met: value <= limit };
}

/**
 * Issue 15: what the Redis coordinator gives MariaDB, against the same store without it in
 * the same run. Lines appear only for the workloads run with tickerq-mysql-redis.
 */
function redisTargets(get: Lookup): TargetCheck[] {
  const plain = is("tickerq-mysql");
  const redis = is("tickerq-mysql-redis");
  const checks: TargetCheck[] = [];
  const wake = get("W8", redis, "p99");
  if (wake.length > 0) {
    const check = atMost("W8 MariaDB + Redis: cross-node wake-up p99 ≤ 10 ms", wake, 10, "ms");
    const [p50, before, before50] = [
      get("W8", redis, "p50")[0],
      get("W8", plain, "p99")[0],
      get("W8", plain, "p50")[0],
    ];
    if (p50 !== undefined) check.figure += ` (p50 ${fmt(p50, 1)} ms`;
    if (before !== undefined && before50 !== undefined && wake[0])
      check.figure += `; without Redis p50 ${fmt(before50, 1)} ms, p99 ${fmt(before, 1)} ms; p99 without ÷ with ${fmt(before / wake[0], 1)}×`;
    if (p50 !== undefined) check.figure += ")";
    checks.push(check);
  }
  if (get("W4", redis, "p99").length > 0) {
    const check = atMost("W4 MariaDB + Redis: lateness p99 ≤ 5 ms", get("W4", redis, "p99"), 5, "ms");
    const before = get("W4", plain, "p99")[0];
    if (before !== undefined) check.figure += ` (${fmt(before, 1)} ms without Redis)`;
    checks.push(check);
  }
  if (get("W5", redis, "p99").length > 0) {
    const check = atMost("W5 MariaDB + Redis: lateness p99 ≤ 5 ms", get("W5", redis, "p99"), 5, "ms");
    const before = get("W5", plain, "p99")[0];
    if (before !== undefined) check.figure += ` (${fmt(before, 1)} ms without Redis)`;
    checks.push(check);
  }
  for (const c of ["c=10", "c=50"]) {
    const withRedis = get("W2", (l) => l === "tickerq-mysql-redis", "rate", c);
    if (withRedis.length === 0) continue;
    // "Unchanged or better": within 5 %, the spread of repeats on a quiet machine.
    checks.push(
      ratio(
        `W2 MariaDB ${c}: with Redis ≥ 0.95 × without (unchanged or better)`,
        withRedis,
        get("W2", (l) => l === "tickerq-mysql", "rate", c),
        0.95,
      ),
    );
  }
  const idle = get("W9", redis, "perMin")[0];
  if (idle !== undefined) {
    const beats = get("W9", redis, "heartbeat")[0] ?? 0;
    const before = get("W9", plain, "perMin")[0];
    // "≈ heartbeats only": at most a fifth more statements than the heartbeats' own.
    checks.push({
      target: "W9 idle 3-node cluster, MariaDB + Redis: SQL ≈ heartbeats only (≤ 1.2 × their statements)",
      figure:
        `${fmt(idle, 0)} statements/min, ${fmt(beats, 0)} of them heartbeats (${fmt(beats > 0 ? idle / beats : Number.NaN)}×)` +
        (before !== undefined ? `; without Redis ${fmt(before, 0)}/min (${fmt(before / idle, 1)}× more)` : ""),
      met: beats > 0 && idle <= 1.2 * beats,
    });
  }
  return checks;
}

/** Issue 13's DASHBOARD figures: every API call's p95 against its target, and an idle open stream's CPU. */
const DASHBOARD_P95_MS: Record<string, number> = { "tickerq-pg": 100, "tickerq-sqlite": 200 };
const DASHBOARD_STREAM_CPU_PCT = 1;

function dashboardTargets(results: readonly WorkloadResult[]): TargetCheck[] {
  const result = results.find((r) => r.id === "DASHBOARD");
  if (!result) return [];
  const checks: TargetCheck[] = [];
  for (const [system, limit] of Object.entries(DASHBOARD_P95_MS)) {
    const rows = result.measurements.filter((m) => m.system === system);
    const cases = [...new Set(rows.map((m) => m.case))];
    for (const name of cases) {
      const p95 = median(rows.filter((m) => m.case === name).map((m) => m.values.p95 ?? Number.NaN));
      if (!Number.isFinite(p95)) continue;
      checks.push({
        target: `DASHBOARD ${system} ${name}: p95 ≤ ${limit} ms`,
        figure: `${fmt(p95, 1)} ms (${fmt(p95 / limit)}× the target)`,
        met: p95 <= limit,
      });
    }
    // The stream's own cost: the server's CPU with streams open over the same window with none
    // (the per-second cron's work is in both), per stream.
    const cpu = (streams: number) =>
      median(rows.filter((m) => m.case.startsWith(`${streams} stream(s) open`)).map((m) => m.values.cpu ?? Number.NaN));
    const base = cpu(0);
    for (const streams of [1, 5]) {
      const open = cpu(streams);
      if (!Number.isFinite(open) || !Number.isFinite(base)) continue;
      const each = Math.max(0, open - base) / streams;
      checks.push({
        target: `DASHBOARD ${system}: an idle open stream ≤ ${DASHBOARD_STREAM_CPU_PCT} % of a core (${streams} open)`,
        figure: `${fmt(each)} % each (${fmt(each / DASHBOARD_STREAM_CPU_PCT)}× the target; server ${fmt(open)} % with ${streams}, ${fmt(base)} % with none)`,
        met: each <= DASHBOARD_STREAM_CPU_PCT,
      });
    }
  }
  return checks;
}

/**
 * Issue 16, fast by default: W2 with default options against BullMQ on Redis (SQLite too) and
 * pg-boss (MariaDB), the worker's start to its first job, its RSS against pg-boss's, and the
 * lateness of W4/W5 on PostgreSQL and SQLite. Lines appear for what the run measured.
 */
function fastByDefaultTargets(get: Lookup): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const w2 = (id: string, c: string, metric = "rate") => get("W2", (l) => l === id, metric, c);
  const bullmq = (c: string) => get("W2", is("bullmq"), "rate", c);
  for (const c of ["c=10", "c=50"]) {
    if (w2("tickerq-pg", c).length === 0) continue;
    const check = ratio(`16: W2 PG ${c}, defaults ≥ 1.0 × BullMQ on Redis`, w2("tickerq-pg", c), bullmq(c), 1);
    const [mine, theirs] = [w2("tickerq-pg", c)[0], bullmq(c)[0]];
    if (check.met !== null && mine !== undefined && theirs)
      check.figure += `; stretch 1.5×: ${mine / theirs >= 1.5 ? "met" : "not met"}`;
    checks.push(check);
  }
  if (w2("tickerq-sqlite", "c=10").length > 0)
    checks.push(ratio("16: W2 SQLite c=10 ≥ 1.0 × BullMQ on Redis", w2("tickerq-sqlite", "c=10"), bullmq("c=10"), 1));
  if (w2("tickerq-mysql", "c=10").length > 0)
    checks.push(
      ratio(
        "16: W2 MariaDB c=10 ≥ 2 × pg-boss",
        w2("tickerq-mysql", "c=10"),
        get("W2", is("pg-boss"), "rate", "c=10"),
        2,
      ),
    );
  const start = w2("tickerq-pg", "c=10", "start");
  if (start.length > 0) {
    const check = atMost("16: worker start to first job (PG, migrated) ≤ 50 ms", start, 50, "ms");
    const load = w2("tickerq-pg", "c=10", "load")[0];
    const peers = ["bullmq", "pg-boss", "graphile-worker"]
      .map((id) => [id, get("W2", is(id), "start", "c=10")[0]] as const)
      .filter(([, v]) => v !== undefined)
      .map(([id, v]) => `${id} ${fmt(v!, 0)}`);
    if (load !== undefined) check.figure += ` (its module load before that ${fmt(load, 0)} ms`;
    if (load !== undefined) check.figure += peers.length > 0 ? `; peers ${peers.join(", ")} ms)` : ")";
    checks.push(check);
  }
  const rss = w2("tickerq-pg", "c=10", "rss")[0];
  const pgBoss = get("W2", is("pg-boss"), "rss", "c=10")[0];
  if (rss !== undefined && pgBoss !== undefined)
    checks.push({
      target: "16: W2 worker RSS (PG, defaults) ≤ pg-boss's",
      figure: `${fmt(rss, 0)} MB vs ${fmt(pgBoss, 0)} MB`,
      met: rss <= pgBoss,
    });
  for (const [w, id] of [
    ["W4", "tickerq-pg"],
    ["W4", "tickerq-sqlite"],
    ["W5", "tickerq-pg"],
    ["W5", "tickerq-sqlite"],
  ] as const) {
    const p99 = get(w, is(id), "p99");
    if (p99.length > 0) checks.push(atMost(`16: ${w} ${id} lateness p99 ≤ 2 ms`, p99, 2, "ms"));
  }
  return checks;
}

export function checkTargets(results: readonly WorkloadResult[], reference: Reference | null): TargetCheck[] {
  const get = lookupIn(results);
  const pg = is("tickerq-pg");
  const checks: TargetCheck[] = [];
  // Each tickerq-pg setting on its own line: the default and the tuned one.
  for (const [label, setting] of [
    ["tickerq-pg", "default"],
    ["tickerq-pg [prefetch-100]", "prefetch 100"],
  ] as const) {
    const w2pg = get("W2", (l) => l === label, "rate", "c=10");
    if (w2pg.length === 0) continue;
    const bullmq = get("W2", is("bullmq"), "rate", "c=10");
    checks.push(ratio(`W2 PG c=10 (${setting}) ≥ BullMQ on Redis`, w2pg, bullmq, 1));
    const graphileBest = get("W2", is("graphile-worker"), "rate").map((v) => 2 * v);
    checks.push(ratio(`W2 PG c=10 (${setting}) ≥ 2 × graphile-worker's best`, w2pg, graphileBest, 1));
  }
  // Issue 12: what otelMiddleware (an SDK with no-op exporters) costs the drain, against the
  // same setting without it in the same repeats.
  for (const [plain, traced, setting] of [
    ["tickerq-pg", "tickerq-pg [otel]", "default"],
    ["tickerq-pg [prefetch-100]", "tickerq-pg [prefetch-100-otel]", "prefetch 100"],
  ] as const) {
    for (const c of ["c=10", "c=50"]) {
      const of = (label: string, metric: string) => get("W2", (l) => l === label, metric, c);
      if (of(traced, "rate").length === 0) continue;
      checks.push(
        overhead(
          `W2 PG ${c} (${setting}): otelMiddleware overhead ≤ 10 %`,
          { traced: of(traced, "rate"), plain: of(plain, "rate") },
          { traced: of(traced, "cpu"), plain: of(plain, "cpu") },
          10,
        ),
      );
    }
  }
  // For reference: the same SDK under a middleware doing only what every attempt needs (a span,
  // two histogram records), the floor under otelMiddleware's own figure.
  for (const c of ["c=10", "c=50"]) {
    const of = (label: string, metric: string) => get("W2", (l) => l === label, metric, c);
    if (of("tickerq-pg [otel-floor]", "rate").length === 0) continue;
    checks.push(
      overhead(
        `W2 PG ${c} (default): the SDK's floor (a span, two histogram records) ≤ 10 %, for reference`,
        { traced: of("tickerq-pg [otel-floor]", "rate"), plain: of("tickerq-pg", "rate") },
        { traced: of("tickerq-pg [otel-floor]", "cpu"), plain: of("tickerq-pg", "cpu") },
        10,
      ),
    );
  }
  const w1Peers = get("W1", isPeer, "batch");
  checks.push(
    ratio(
      "W1 PG batched ≥ 1.5 × best peer",
      get("W1", (l) => l === "tickerq-pg", "batch"),
      w1Peers,
      1.5,
    ),
  );
  // For reference: the same insert into a jobs table with only its primary key and claim index.
  const w1Floor = get("W1", (l) => l === "tickerq-pg [floor]", "batch");
  if (w1Floor.length > 0) {
    checks.push(
      ratio(
        "W1 PG batched, jobs table with its primary key and claim index only, ≥ 1.5 × best peer, for reference",
        w1Floor,
        w1Peers,
        1.5,
      ),
    );
  }
  const tps = reference?.pgbenchTps;
  checks.push(ratio("W1 PG one by one ≥ 0.8 × pgbench TPS", get("W1", pg, "single"), tps ? [tps] : [], 0.8));
  checks.push(
    ratio("W3 PG end to end ≥ 0.9 × its producer rate", get("W3", pg, "rate"), get("W3", pg, "producer"), 0.9),
  );
  checks.push(atMost("W4 PG lateness p99 ≤ 10 ms", get("W4", pg, "p99"), 10, "ms"));
  checks.push(atMost("W4 memory lateness p99 ≤ 2 ms", get("W4", is("tickerq-memory"), "p99"), 2, "ms"));
  checks.push(atMost("W4 SQLite lateness p99 ≤ 2 ms", get("W4", is("tickerq-sqlite"), "p99"), 2, "ms"));
  for (const id of ["tickerq-pg", "tickerq-mysql", "tickerq-mysql-redis", "tickerq-sqlite"]) {
    const missed = get("W5", is(id), "missed")[0];
    const doubled = get("W5", is(id), "doubled")[0];
    if (missed === undefined || doubled === undefined) continue;
    checks.push({
      target: `W5 ${id}: no missed or doubled second`,
      figure: `${missed} missed, ${doubled} doubled`,
      met: missed + doubled === 0,
    });
    checks.push(atMost(`W5 ${id}: lateness p99 ≤ 10 ms`, get("W5", is(id), "p99"), 10, "ms"));
  }
  checks.push(...redisTargets(get));
  checks.push(...fastByDefaultTargets(get));
  checks.push(...dashboardTargets(results));
  for (const id of ["tickerq-pg", "tickerq-sqlite"]) {
    checks.push(atMost(`W6 ${id}: claim p50 at large ≤ 1.5 × small`, get("W6", is(id), "claim", "growth ×"), 1.5, "×"));
  }
  const rss = get("W2", (l) => l === "tickerq-pg", "rss", "c=10")[0];
  const leanest = get("W2", isPeer, "rss", "c=10");
  if (rss !== undefined && leanest.length > 0) {
    const min = Math.min(...leanest);
    checks.push({
      target: "W2 worker RSS ≤ leanest peer's",
      figure: `${fmt(rss, 0)} MB vs ${fmt(min, 0)} MB`,
      met: rss <= min,
    });
    // For reference: a process holding only the driver and Kysely, connected, before any work.
    const floor = reference?.rssPgKyselyMb;
    if (floor !== null && floor !== undefined) {
      checks.push({
        target:
          "W2 worker RSS floor (node + pg + Kysely, connected, idle) ≤ leanest peer's after its drain, for reference",
        figure: `${fmt(floor, 0)} MB vs ${fmt(min, 0)} MB (node + pg alone: ${fmt(reference?.rssPgMb ?? Number.NaN, 0)} MB)`,
        met: floor <= min,
      });
    }
  }
  return checks;
}
