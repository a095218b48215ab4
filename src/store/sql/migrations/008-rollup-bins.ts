/**
 * Migration 8: the run rollup (migration 5) costs a completion less, same rows.
 *
 * PostgreSQL: migration 5's statement trigger on `attempts` took, for every attempt of a batch,
 * three rows (one per span) and 48 range tests (a duration and a lateness bin each, as sums of
 * CASEs); in a drain that was a quarter of the completion statement's time. Here each
 * attempt's two bins are one width_bucket each (a binary search over the bins' lower bounds),
 * the batch is grouped per minute, function, status and bins, and only those few groups are
 * spread over the spans and the bin columns. Minutes nest in hours and days, so a group's
 * bucket at every span is its minute's.
 *
 * SQLite: its row trigger appended three delta rows of 54 columns per attempt, a fifth of a
 * drain's time. `attempts.rolled_up` (1) marks an attempt whose writer appended its rollup
 * itself: SQLite's completion (sqlite-hot-path.ts) adds a whole batch's, merged, in one
 * statement; the trigger now runs for the other writers only (rolled_up 0, the default).
 * MySQL keeps its row trigger.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import { BIN_COLUMNS, BINS, SPANS, rollupSelect } from "./005-aggregates.js";
import { quote } from "./006-search.js";
import type { Migration, MigrationEnv } from "./index.js";

/** The lower bounds of bins 1..23 (bin 0 is below 1): migration 5's bins, fixed here as there. */
const BOUNDS = `array[${Array.from({ length: BINS - 1 }, (_, k) => 2 ** k).join(", ")}]::bigint[]`;

/** The rollup rows of the attempts in `new_rows`, as migration 5's rollupSelect grouped them. */
export function rollupOfNewRows(jobs: string): string {
  const spans = SPANS.map((span, i) => (i === 0 ? `select ${span} as span` : `select ${span}`)).join(" union all ");
  const bins = (column: string) =>
    Array.from({ length: BINS }, (_, k) => `sum(case when g.${column} = ${k} then g.n else 0 end)`);
  return `with r as (
      select (a.finished_at / ${SPANS[0]}) * ${SPANS[0]} as minute, coalesce(j."function", '') as fn, a.status,
        a.elapsed_ms, width_bucket(a.elapsed_ms, ${BOUNDS}) as d,
        case when a.attempt = 0 and j.scheduled_for is not null
          then width_bucket(a.started_at - j.scheduled_for, ${BOUNDS}) end as l
      from new_rows a left join ${jobs} j on j.id = a.job_id
      where a.superseded = 0
    ), g as (
      select minute, fn, status, d, l, count(*) as n, sum(elapsed_ms) as duration from r
      group by minute, fn, status, d, l
    )
    select s.span, (g.minute / s.span) * s.span, g.fn, g.status, sum(g.n), sum(g.duration),
      ${[...bins("d"), ...bins("l")].join(", ")}
    from g cross join (${spans}) s
    group by s.span, (g.minute / s.span) * s.span, g.fn, g.status`;
}

async function sqlite(db: Kysely<any>, env: MigrationEnv): Promise<void> {
  const run = (text: string) => sql.raw(text).execute(db);
  const { t, prefix } = env;
  const jobs = quote(env, t.jobs);
  const attempts = quote(env, t.attempts);
  const trigger = quote(env, `${prefix}attempts_rollup`);
  const columns = `span_ms, bucket, "function", status, runs, duration_sum, ${BIN_COLUMNS.join(", ")}`;
  await run(`alter table ${attempts} add column rolled_up integer not null default 0`);
  await run(`drop trigger if exists ${trigger}`);
  await run(`create trigger ${trigger} after insert on ${attempts} for each row when new.rolled_up = 0
    begin insert into ${quote(env, t.run_rollup_deltas)} (${columns}) ${rollupSelect(env, jobs, (c) => `new.${c}`, false)}; end`);
}

export const rollupBins: Migration = {
  version: 8,
  name: "run rollup: cheaper triggers",
  async up(db: Kysely<any>, env: MigrationEnv) {
    if (env.kind === "sqlite") return sqlite(db, env);
    if (env.kind !== "postgres") return;
    const { t, prefix } = env;
    const schema = t.jobs.includes(".") ? `${t.jobs.split(".")[0]}.` : "";
    const columns = `span_ms, bucket, "function", status, runs, duration_sum, ${BIN_COLUMNS.join(", ")}`;
    await sql
      .raw(
        `create or replace function ${quote(env, `${schema}${prefix}attempts_rollup_fn`)}() returns trigger
        language plpgsql as $fn$
        begin
          insert into ${quote(env, t.run_rollup_deltas)} (${columns}) ${rollupOfNewRows(quote(env, t.jobs))};
          return null;
        end $fn$`,
      )
      .execute(db);
  },
};
