/**
 * The fault suite's judge: reads a run's jobs and history from the store and its side
 * effects from the nodes' files, and reports what broke (lost, doubled, stuck, missing or
 * duplicate cron seconds, history that does not match the side effects, node processes that
 * died). Tests assert on the report; the chaos runner prints it.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AttemptRecord, JobRecord, Store, TickerStatus } from "../../src/index.js";
import type { EffectLine } from "./fault-node.js";

/** A span when the store or a node was in trouble; cron seconds inside it may be missed. */
export interface FaultWindow {
  name: string;
  from: number;
  to: number;
  /** From the end of the fault until every job due before that end was final; null: not within the wait. */
  recoveryMs?: number | null;
  /** Jobs still Queued/InProgress under a lease taken before the fault ended, 2× the lease after it. */
  stuckAfterLease?: string[];
}

/** What was done to a node process, for the killed/stopped exemption. */
export type ProcessEvent =
  | { kind: "kill"; nodeId: string; pid: number; at: number }
  | { kind: "stop"; nodeId: string; pid: number; from: number; to: number };

export interface UnexpectedExit {
  nodeId: string;
  pid: number;
  code: number | null;
  signal: string | null;
  at: number;
  stderrTail: string;
}

export interface RunFacts {
  store: Store;
  effectsDir: string;
  /** Ids of the Work tickers the run added. */
  workIds: readonly string[];
  cronTickerId: string | null;
  /** Cron seconds (epoch s) that must each have run: from the first to the last, inclusive. */
  cronRange: { from: number; to: number } | null;
  windows: readonly FaultWindow[];
  processEvents: readonly ProcessEvent[];
  exits: readonly UnexpectedExit[];
}

export interface DoubledJob {
  id: string;
  /** Every start: node, pid, retryCount, and why it was exempt (if it was). */
  runs: Array<{ nodeId: string; pid: number; retryCount: number; at: number; exempt: string | null }>;
}

export interface FaultReport {
  ok: boolean;
  tickers: number;
  statuses: Partial<Record<TickerStatus, number>>;
  /** Jobs with no completed side effect (missing, or final without one). */
  lost: string[];
  /** Jobs whose side effect happened more than once outside the killed/stopped/fenced exemption. */
  doubled: DoubledJob[];
  /** Jobs run twice under the exemption (a killed, stopped or fenced first run). */
  exemptRepeats: number;
  /** Jobs not final at the end. */
  stuck: string[];
  /** Jobs final but not Done/DueDone (the handler never fails). */
  wrongFinal: string[];
  /** Jobs whose attempt rows do not match their handler starts. */
  historyMismatch: Array<{ id: string; starts: number; attempts: number; succeeded: number }>;
  cron: { checked: number; missing: number[]; duplicate: number[]; missedInOutage: number[]; notFinal: number[] };
  exits: UnexpectedExit[];
  faults: FaultWindow[];
}

const FINAL = new Set<TickerStatus>(["Done", "DueDone", "Failed", "Cancelled", "Skipped"]);
const SUCCESS = new Set<string>(["Done", "DueDone"]);
/**
 * A handler that ended this shortly before its node was killed or stopped may still count as
 * unfinished: its completion write (one round trip, more under lock contention) had not landed.
 */
const COMPLETION_GRACE_MS = 500;
/** Cron seconds this close to a fault count as inside it. */
const CRON_GRACE_MS = 1000;

export function readEffects(dir: string): EffectLine[] {
  const lines: EffectLine[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jsonl"))) {
    for (const text of readFileSync(join(dir, file), "utf8").split("\n")) {
      // A SIGKILL can cut the last line short: it never completed, so it never counted.
      if (!text) continue;
      try {
        lines.push(JSON.parse(text) as EffectLine);
      } catch {
        // torn last line
      }
    }
  }
  return lines;
}

interface Run {
  start: EffectLine;
  end: EffectLine | null;
  aborted: boolean;
  exempt: string | null;
}

/** Pairs each start with its end or abort, and says whether the run is exempt from "once". */
function runsByJob(effects: readonly EffectLine[], events: readonly ProcessEvent[]): Map<string, Run[]> {
  const byJob = new Map<string, Run[]>();
  const open = new Map<string, Run>();
  const key = (e: EffectLine) => `${e.pid}|${e.jobId}|${e.retryCount}`;
  for (const e of [...effects].sort((a, b) => a.at - b.at)) {
    if (e.event === "start") {
      const run: Run = { start: e, end: null, aborted: false, exempt: null };
      open.set(key(e), run);
      byJob.set(e.jobId, [...(byJob.get(e.jobId) ?? []), run]);
    } else {
      const run = open.get(key(e));
      if (!run) continue;
      open.delete(key(e));
      run.end = e;
      run.aborted = e.event === "abort";
    }
  }
  for (const runs of byJob.values()) {
    for (const run of runs) {
      const { pid, at } = run.start;
      const finished = run.end?.at ?? Infinity;
      if (run.aborted) run.exempt = `aborted: ${run.end?.reason ?? ""}`;
      // A run that ended just before the kill or stop may not have had its completion written yet.
      const unrecorded = (from: number) => finished >= from - COMPLETION_GRACE_MS;
      for (const event of events) {
        if (event.pid !== pid || run.exempt) continue;
        if (event.kind === "kill" && at <= event.at && unrecorded(event.at)) run.exempt = "killed";
        if (event.kind === "stop" && at <= event.to && unrecorded(event.from)) run.exempt = "stopped";
      }
    }
  }
  return byJob;
}

/** Up to `limit` calls at once. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!);
      }
    }),
  );
  return results;
}

export async function checkRun(facts: RunFacts): Promise<FaultReport> {
  const { store } = facts;
  const effects = readEffects(facts.effectsDir);
  const runs = runsByJob(effects, facts.processEvents);
  const work = (await store.jobList({ function: "Work", limit: 1_000_000 })).items;
  const byId = new Map(work.map((job) => [job.id, job]));
  const statuses: Partial<Record<TickerStatus, number>> = {};
  for (const job of work) statuses[job.status] = (statuses[job.status] ?? 0) + 1;

  const report: FaultReport = {
    ok: false,
    tickers: facts.workIds.length,
    statuses,
    lost: [],
    doubled: [],
    exemptRepeats: 0,
    stuck: [],
    wrongFinal: [],
    historyMismatch: [],
    cron: { checked: 0, missing: [], duplicate: [], missedInOutage: [], notFinal: [] },
    exits: [...facts.exits],
    faults: [...facts.windows],
  };

  /**
   * A run the store kept as superseded ran on a node that was cut off or paused past its
   * lease (it fenced itself, or learnt at its next write): the history shows both attempts,
   * which is the at-least-once the README allows for such a node.
   */
  const exemptSuperseded = (jobRuns: Run[], attempts: readonly AttemptRecord[]) => {
    for (const run of jobRuns) {
      const kept = attempts.some(
        (a) => a.superseded && a.nodeId === run.start.nodeId && a.attempt === run.start.retryCount,
      );
      if (kept && run.exempt === null) run.exempt = "superseded (its node lost its lease)";
    }
  };
  const judgeRuns = (id: string, attempts: readonly AttemptRecord[] = []): Run[] => {
    const jobRuns = runs.get(id) ?? [];
    exemptSuperseded(jobRuns, attempts);
    const counted = jobRuns.filter((run) => run.exempt === null);
    if (counted.length > 1) {
      report.doubled.push({
        id,
        runs: jobRuns.map((r) => ({
          nodeId: r.start.nodeId,
          pid: r.start.pid,
          retryCount: r.start.retryCount,
          at: r.start.at,
          exempt: r.exempt,
        })),
      });
    } else if (jobRuns.length > 1) report.exemptRepeats++;
    return jobRuns;
  };
  const judgeHistory = (job: JobRecord, jobRuns: Run[], attempts: AttemptRecord[]) => {
    // A superseded attempt (its lease was taken over; its write changed nothing) is history, not the outcome.
    const succeeded = attempts.filter((a) => SUCCESS.has(a.status) && a.superseded !== true).length;
    // Every handler start has an attempt row, and a successful job has exactly one success.
    if (attempts.length < jobRuns.length || (SUCCESS.has(job.status) && succeeded !== 1)) {
      report.historyMismatch.push({ id: job.id, starts: jobRuns.length, attempts: attempts.length, succeeded });
    }
  };

  const attemptsOf = async (ids: readonly string[]) =>
    new Map(await mapLimit(ids, 8, async (id) => [id, await store.attemptList({ jobId: id })] as const));
  const workAttempts = await attemptsOf(facts.workIds.filter((id) => byId.has(id)));

  for (const id of facts.workIds) {
    const job = byId.get(id);
    const jobRuns = judgeRuns(id, workAttempts.get(id) ?? []);
    if (!job) {
      report.lost.push(id);
      continue;
    }
    if (!FINAL.has(job.status)) report.stuck.push(id);
    else if (!jobRuns.some((run) => run.end !== null && !run.aborted)) report.lost.push(id);
    if (FINAL.has(job.status) && !SUCCESS.has(job.status)) report.wrongFinal.push(id);
    judgeHistory(job, jobRuns, workAttempts.get(id) ?? []);
  }

  if (facts.cronTickerId && facts.cronRange) {
    const occurrences = (await store.jobList({ cronTickerId: facts.cronTickerId, limit: 1_000_000 })).items;
    const bySecond = new Map<number, JobRecord>();
    for (const o of occurrences) if (o.scheduledFor) bySecond.set(Math.round(o.scheduledFor.getTime() / 1000), o);
    const inRange = [...bySecond.entries()].filter(([s]) => s >= facts.cronRange!.from && s <= facts.cronRange!.to);
    const cronAttempts = await attemptsOf(inRange.map(([, o]) => o.id));
    const inOutage = (second: number) =>
      facts.windows.some((w) => second * 1000 >= w.from - CRON_GRACE_MS && second * 1000 <= w.to + CRON_GRACE_MS);
    for (let second = facts.cronRange.from; second <= facts.cronRange.to; second++) {
      report.cron.checked++;
      const occurrence = bySecond.get(second);
      const jobRuns = occurrence ? (runs.get(occurrence.id) ?? []) : [];
      if (occurrence) exemptSuperseded(jobRuns, cronAttempts.get(occurrence.id) ?? []);
      const counted = jobRuns.filter((run) => run.exempt === null).length;
      if (counted > 1) {
        report.cron.duplicate.push(second);
        judgeRuns(occurrence!.id);
      }
      const ran = jobRuns.some((run) => run.end !== null && !run.aborted);
      if (!ran) (inOutage(second) ? report.cron.missedInOutage : report.cron.missing).push(second);
      if (occurrence && !FINAL.has(occurrence.status)) report.cron.notFinal.push(second);
      if (occurrence && jobRuns.length > 0) judgeHistory(occurrence, jobRuns, cronAttempts.get(occurrence.id) ?? []);
    }
  }

  const allRecovered = report.faults.every((w) => w.recoveryMs !== null);
  const noneStuckAfterLease = report.faults.every((w) => (w.stuckAfterLease ?? []).length === 0);
  report.ok =
    report.exits.length === 0 &&
    report.lost.length === 0 &&
    report.doubled.length === 0 &&
    report.stuck.length === 0 &&
    report.wrongFinal.length === 0 &&
    report.historyMismatch.length === 0 &&
    report.cron.missing.length === 0 &&
    report.cron.duplicate.length === 0 &&
    report.cron.notFinal.length === 0 &&
    allRecovered &&
    noneStuckAfterLease;
  return report;
}

/** The report as counts, all 0 when nothing broke: what a test compares, so a failure shows every count. */
/** The counts of a report, each named (the chaos run prints them, tests compare them with CLEAN). */
export interface ReportCounts {
  nodeExits: number;
  lost: number;
  doubled: number;
  stuck: number;
  stuckAfterLease: number;
  unrecoveredFaults: number;
  wrongFinal: number;
  historyMismatch: number;
  cronMissing: number;
  cronDuplicate: number;
  cronNotFinal: number;
}

export function summary(report: FaultReport): ReportCounts {
  return {
    nodeExits: report.exits.length,
    lost: report.lost.length,
    doubled: report.doubled.length,
    stuck: report.stuck.length,
    stuckAfterLease: report.faults.reduce((n, w) => n + (w.stuckAfterLease?.length ?? 0), 0),
    unrecoveredFaults: report.faults.filter((w) => w.recoveryMs === null).length,
    wrongFinal: report.wrongFinal.length,
    historyMismatch: report.historyMismatch.length,
    cronMissing: report.cron.missing.length,
    cronDuplicate: report.cron.duplicate.length,
    cronNotFinal: report.cron.notFinal.length,
  };
}

/** What summary() returns for a clean run. */
export const CLEAN: Record<string, number> = {
  nodeExits: 0,
  lost: 0,
  doubled: 0,
  stuck: 0,
  stuckAfterLease: 0,
  unrecoveredFaults: 0,
  wrongFinal: 0,
  historyMismatch: 0,
  cronMissing: 0,
  cronDuplicate: 0,
  cronNotFinal: 0,
};

const sample = (items: readonly unknown[], n = 5) =>
  items.length === 0
    ? "0"
    : `${items.length} (${items.slice(0, n).map(String).join(", ")}${items.length > n ? ", …" : ""})`;

/** A few lines a person can read: what broke and how badly. */
export function formatReport(report: FaultReport): string {
  const statuses = Object.entries(report.statuses)
    .map(([status, n]) => `${status} ${n}`)
    .join(", ");
  const stuckAfterLease = report.faults.flatMap((w) => w.stuckAfterLease ?? []);
  const lines = [
    `${report.ok ? "OK" : "BROKEN"}: ${report.tickers} tickers (${statuses})`,
    `  lost ${sample(report.lost)} · doubled ${sample(report.doubled.map((d) => d.id))} · stuck ${sample(report.stuck)} · stuck 2× lease after a fault ${sample(stuckAfterLease)}`,
    `  wrong final ${sample(report.wrongFinal)} · history ≠ side effects ${sample(
      report.historyMismatch.map((h) => `${h.id} starts ${h.starts} attempts ${h.attempts} ok ${h.succeeded}`),
      3,
    )} · exempt repeats ${report.exemptRepeats}`,
    `  cron: ${report.cron.checked} seconds checked, missing ${sample(report.cron.missing)}, duplicate ${sample(report.cron.duplicate)}, not final ${sample(report.cron.notFinal)}, missed in an outage ${report.cron.missedInOutage.length}`,
    `  node exits: ${report.exits.length === 0 ? "none" : report.exits.map((e) => `${e.nodeId} (pid ${e.pid}, code ${e.code}, signal ${e.signal}): ${e.stderrTail.split("\n").slice(-3).join(" | ")}`).join("; ")}`,
    ...report.faults.map(
      (w) =>
        `  fault ${w.name}: ${w.to - w.from} ms, recovery ${w.recoveryMs === null ? "NOT within the wait" : w.recoveryMs === undefined ? "-" : `${w.recoveryMs} ms`}`,
    ),
  ];
  return lines.join("\n");
}
