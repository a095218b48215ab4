/**
 * A workload for checking the run rollup a store keeps (migrations 5 and 8) against migration
 * 5's formula over the attempts table: durations and latenesses on both sides of every bin edge,
 * over minutes, hours and days; first attempts and retries; outcomes, a retry and stale runs;
 * completed in three batches. The SQL compares the totals and pending increments, summed per
 * (span, bucket, function, status), with the formula's rows.
 */

import type { Store } from "../../src/store/contract.js";
import { BIN_COLUMNS, rollupSelect } from "../../src/store/sql/migrations/005-aggregates.js";
import type { MigrationEnv } from "../../src/store/sql/migrations/index.js";
import { at, completion, newJob } from "../contract/fixtures.js";

const EDGES = [-5, 0, 0.4, 0.6, 1, 2, 3, 4, 7, 8, 1023, 1024, 2 ** 22 - 1, 2 ** 22, 2 ** 30];

/** Runs the workload on `store` (fresh, default prefix); resolves with the number of jobs. */
export async function completeRollupWorkload(store: Store): Promise<number> {
  const jobs = EDGES.flatMap((_, i) =>
    EDGES.map((__, k) =>
      newJob({ id: `j${i}-${k}`, function: ["Alpha", "Beta"][(i + k) % 2], retries: 1, executionTime: at(k) }),
    ),
  );
  await store.jobInsertMany({ jobs });
  const claimed = await store.jobClaimDue({
    nodeId: "n",
    now: at(100),
    until: at(100),
    limit: 1000,
    longRunningLimit: 0,
    startLimit: 1000,
  });
  const completions = claimed.map((job, n) => {
    const [i, k] = job.id.slice(1).split("-").map(Number) as [number, number];
    const startedAt = new Date(job.scheduledFor!.getTime() + EDGES[k]!);
    const finishedAt = new Date(at(200).getTime() + (n % 7) * 50_000_000 + (n % 5) * 61_000);
    const status = (["Done", "Failed", "Cancelled", "Idle"] as const)[n % 4]!;
    const c = completion(job.id, "n", status, finishedAt, {
      startedAt,
      attempt: n % 3 === 0 ? 1 : 0,
      leaseToken: n % 13 === 0 ? 9 : 1,
    });
    return { ...c, elapsedMs: EDGES[i]!, attempt: { ...c.attempt, elapsedMs: EDGES[i]! } };
  });
  const third = Math.ceil(completions.length / 3);
  for (const part of [completions.slice(0, third), completions.slice(third, 2 * third), completions.slice(2 * third)]) {
    await store.jobCompleteMany({ completions: part });
  }
  return claimed.length;
}

/** Another writer's attempt (rolled_up left at 0): the trigger rolls it up. */
export const FOREIGN_ATTEMPT = `insert into tickerq_attempts (job_id, attempt, status, node_id, started_at, finished_at,
  elapsed_ms, superseded) values ('j3-3', 0, 'Done', 'x', ${at(3).getTime() + 9}, ${at(300).getTime()}, 5, 0)`;

/** The rollup by migration 5's formula, and as the store keeps it: the two should be equal. */
export function rollupComparison(kind: "sqlite" | "mysql"): { expected: string; actual: string } {
  const fn = kind === "mysql" ? "`function`" : '"function"';
  const keys = `span_ms, bucket, ${fn}, status`;
  const sums = ["runs", "duration_sum", ...BIN_COLUMNS].map((c) => `cast(sum(${c}) as signed) as ${c}`);
  const summed = (kind === "sqlite" ? sums.map((s) => s.replace("cast(", "").replace(" as signed)", "")) : sums).join(
    ", ",
  );
  const env = { kind, t: { jobs: "tickerq_jobs" }, prefix: "tickerq_", types: {} } as unknown as MigrationEnv;
  const formula = rollupSelect(env, "tickerq_jobs", (c) => `a.${c}`, true, "tickerq_attempts a cross join ");
  const named = `x (span_ms, bucket, ${fn}, status, runs, duration_sum, ${BIN_COLUMNS.join(", ")})`;
  const columns = `${keys}, runs, duration_sum, ${BIN_COLUMNS.join(", ")}`;
  return {
    expected: `with ${named} as (${formula}) select ${keys}, ${summed} from x group by ${keys} order by ${keys}`,
    actual: `select ${keys}, ${summed} from (select ${columns} from tickerq_run_rollup
      union all select ${columns} from tickerq_run_rollup_deltas) y group by ${keys} order by ${keys}`,
  };
}
