/**
 * Migration 5: aggregates kept by the database as rows change, so the dashboard's counts and
 * history cost the same at a million jobs as at a thousand.
 *
 * - `job_counts` holds jobs per (type, function, status); `job_count_deltas` takes the
 *   increments that triggers on `jobs` append (+1 on insert, -1 on delete, -1/+1 on a change
 *   of status, type or function).
 * - `run_rollup` holds finished runs per (span, bucket, function, status) for spans of a
 *   minute, an hour and a day, with a duration and a lateness histogram (bins d0..d23 and
 *   l0..l23, see src/store/aggregates.ts); `run_rollup_deltas` takes what a trigger on
 *   `attempts` appends for every attempt written (superseded ones left out).
 *
 * Three indexes serve the dashboard's keyset pages: (type, execution_time, id),
 * (type, status, execution_time, id) and (type, status, updated_at, id).
 *
 * Triggers append and never update a shared row, so concurrent claims and completions on
 * PostgreSQL and MySQL neither wait on each other nor deadlock over a hot counter. A read sums
 * the totals and the pending increments; `aggregateCompact` folds the increments into the
 * totals (src/store/sql/aggregates.ts). PostgreSQL's triggers are per statement (one appended
 * row per group of a batch, through transition tables); MySQL and SQLite have row triggers only.
 * On MySQL with binary logging, creating triggers needs SUPER or log_bin_trust_function_creators.
 */

import type { Kysely } from "kysely";
import { sql } from "kysely";
import type { Migration, MigrationEnv } from "./index.js";

/** Fixed here: a shipped migration never changes, whatever the code's constant becomes. */
export const BINS = 24;
export const SPANS = [60_000, 3_600_000, 86_400_000];

function binBounds(k: number): [number | null, number | null] {
  if (k === 0) return [null, 1];
  return [2 ** (k - 1), k === BINS - 1 ? null : 2 ** k];
}

function inBin(value: string, k: number): string {
  const [low, high] = binBounds(k);
  const parts = [low === null ? null : `${value} >= ${low}`, high === null ? null : `${value} < ${high}`];
  return parts.filter((p) => p !== null).join(" and ");
}

export const BIN_COLUMNS = [
  ...Array.from({ length: BINS }, (_, k) => `d${k}`),
  ...Array.from({ length: BINS }, (_, k) => `l${k}`),
];

/**
 * The SELECT of rollup rows for attempts: `a(name)` names an attempt column (`a.x` over a
 * set, `new.x` in a row trigger), `jobs` the jobs table. Grouped when `grouped`.
 */
export function rollupSelect(
  env: MigrationEnv,
  jobs: string,
  a: (column: string) => string,
  grouped: boolean,
  source = "",
): string {
  const fn = env.kind === "mysql" ? "`function`" : '"function"';
  const div = env.kind === "mysql" ? "div" : "/";
  const spans = SPANS.map((span, i) => (i === 0 ? `select ${span} as span` : `select ${span}`)).join(" union all ");
  const bucket = `(${a("finished_at")} ${div} s.span) * s.span`;
  const lateness = `(${a("started_at")} - j.scheduled_for)`;
  const one = (condition: string) => `case when ${condition} then 1 else 0 end`;
  const agg = (expression: string) => (grouped ? `sum(${expression})` : expression);
  const bins = [
    ...Array.from({ length: BINS }, (_, k) => agg(one(inBin(a("elapsed_ms"), k)))),
    ...Array.from({ length: BINS }, (_, k) =>
      agg(one(`${a("attempt")} = 0 and j.scheduled_for is not null and ${inBin(lateness, k)}`)),
    ),
  ];
  const columns = [
    "s.span",
    bucket,
    `coalesce(j.${fn}, '')`,
    a("status"),
    grouped ? "count(*)" : "1",
    agg(a("elapsed_ms")),
    ...bins,
  ];
  return `select ${columns.join(", ")}
    from ${source}(${spans}) s left join ${jobs} j on j.id = ${a("job_id")}
    where ${a("superseded")} = 0${grouped ? ` group by s.span, ${bucket}, coalesce(j.${fn}, ''), ${a("status")}` : ""}`;
}

/** `"schema"."name"` or `` `name` ``: identifiers were checked to be letters, digits and underscores. */
function quote(env: MigrationEnv, qualified: string): string {
  const q = env.kind === "mysql" ? "`" : '"';
  return qualified
    .split(".")
    .map((part) => `${q}${part}${q}`)
    .join(".");
}

export const aggregates: Migration = {
  version: 5,
  name: "aggregates: job counts and the run rollup",
  async up(db: Kysely<any>, env: MigrationEnv) {
    const { t, types, prefix, kind } = env;
    const key = types.key;
    const big = types.millis;
    const options = kind === "mysql" ? " default charset = utf8mb4 collate = utf8mb4_bin" : "";
    const seq =
      kind === "postgres"
        ? "seq bigserial primary key"
        : kind === "mysql"
          ? "seq bigint primary key auto_increment"
          : "seq integer primary key";
    const fn = kind === "mysql" ? "`function`" : '"function"';
    const jobs = quote(env, t.jobs);
    const attempts = quote(env, t.attempts);
    const counts = quote(env, t.job_counts);
    const countDeltas = quote(env, t.job_count_deltas);
    const rollup = quote(env, t.run_rollup);
    const rollupDeltas = quote(env, t.run_rollup_deltas);
    const run = (text: string) => sql.raw(text).execute(db);
    const binDefs = BIN_COLUMNS.map((c) => `${c} ${big} not null default 0`).join(", ");
    const rollupColumns = `span_ms, bucket, ${fn}, status, runs, duration_sum, ${BIN_COLUMNS.join(", ")}`;

    await run(`create table ${counts} (type ${key} not null, ${fn} ${key} not null, status ${key} not null,
      n ${big} not null, primary key (type, ${fn}, status))${options}`);
    await run(`create table ${countDeltas} (${seq}, type ${key} not null, ${fn} ${key} not null,
      status ${key} not null, delta ${big} not null)${options}`);
    await run(`create table ${rollup} (span_ms ${big} not null, bucket ${big} not null, ${fn} ${key} not null,
      status ${key} not null, runs ${big} not null, duration_sum ${big} not null, ${binDefs},
      primary key (span_ms, bucket, ${fn}, status))${options}`);
    await run(`create table ${rollupDeltas} (${seq}, span_ms ${big} not null, bucket ${big} not null,
      ${fn} ${key} not null, status ${key} not null, runs ${big} not null, duration_sum ${big} not null,
      ${binDefs})${options}`);

    // What exists already, counted once; the triggers take over from here (migrations run under a lock at start).
    await run(`insert into ${counts} (type, ${fn}, status, n)
      select type, ${fn}, status, count(*) from ${jobs} group by type, ${fn}, status`);
    await run(`insert into ${rollup} (${rollupColumns})
      select * from (${rollupSelect(env, jobs, (c) => `a.${c}`, true, `${attempts} a cross join `)}) x`);

    // The dashboard's list pages by keyset over (executionTime, id), within a type and often a
    // status: these give that order from an index at any depth, instead of a sort of every match.
    await run(`create index ${quote(env, `${prefix}jobs_list_ix`)} on ${jobs} (type, execution_time, id)`);
    await run(
      `create index ${quote(env, `${prefix}jobs_list_status_ix`)} on ${jobs} (type, status, execution_time, id)`,
    );
    // Finished jobs, most recent first, per status: the list's last section and its filters.
    await run(`create index ${quote(env, `${prefix}jobs_changed_ix`)} on ${jobs} (type, status, updated_at, id)`);

    const name = (suffix: string) => {
      const schema = t.jobs.includes(".") ? `${t.jobs.split(".")[0]}.` : "";
      return quote(env, `${schema}${prefix}${suffix}`);
    };

    if (kind === "postgres") {
      await run(`create function ${name("jobs_count_fn")}() returns trigger language plpgsql as $fn$
        begin
          if tg_op = 'INSERT' then
            insert into ${countDeltas} (type, ${fn}, status, delta)
              select type, ${fn}, status, count(*) from new_rows group by type, ${fn}, status;
          elsif tg_op = 'DELETE' then
            insert into ${countDeltas} (type, ${fn}, status, delta)
              select type, ${fn}, status, -count(*) from old_rows group by type, ${fn}, status;
          else
            insert into ${countDeltas} (type, ${fn}, status, delta)
              select type, ${fn}, status, sum(d) from (
                select type, ${fn}, status, 1 as d from new_rows
                union all select type, ${fn}, status, -1 from old_rows) x
              group by type, ${fn}, status having sum(d) <> 0;
          end if;
          return null;
        end $fn$`);
      await run(`create trigger ${quote(env, `${prefix}jobs_count_ins`)} after insert on ${jobs}
        referencing new table as new_rows for each statement execute function ${name("jobs_count_fn")}()`);
      await run(`create trigger ${quote(env, `${prefix}jobs_count_upd`)} after update on ${jobs}
        referencing old table as old_rows new table as new_rows for each statement execute function ${name("jobs_count_fn")}()`);
      await run(`create trigger ${quote(env, `${prefix}jobs_count_del`)} after delete on ${jobs}
        referencing old table as old_rows for each statement execute function ${name("jobs_count_fn")}()`);
      const select = rollupSelect(env, jobs, (c) => `a.${c}`, true, "new_rows a cross join ");
      await run(`create function ${name("attempts_rollup_fn")}() returns trigger language plpgsql as $fn$
        begin
          insert into ${rollupDeltas} (${rollupColumns}) ${select};
          return null;
        end $fn$`);
      await run(`create trigger ${quote(env, `${prefix}attempts_rollup`)} after insert on ${attempts}
        referencing new table as new_rows for each statement execute function ${name("attempts_rollup_fn")}()`);
      return;
    }

    // Row triggers (SQLite and MySQL). SQLite wants unqualified names in a trigger body; its tables have none.
    const body = (statements: string) => `begin ${statements} end`;
    const delta = (row: "new" | "old", sign: 1 | -1) =>
      `insert into ${countDeltas} (type, ${fn}, status, delta) values (${row}.type, ${row}.${fn}, ${row}.status, ${sign});`;
    const trigger = (suffix: string) => quote(env, `${prefix}${suffix}`);
    await run(
      `create trigger ${trigger("jobs_count_ins")} after insert on ${jobs} for each row ${body(delta("new", 1))}`,
    );
    await run(
      `create trigger ${trigger("jobs_count_del")} after delete on ${jobs} for each row ${body(delta("old", -1))}`,
    );
    const changed = `old.status <> new.status or old.type <> new.type or old.${fn} <> new.${fn}`;
    await run(
      kind === "mysql"
        ? `create trigger ${trigger("jobs_count_upd")} after update on ${jobs} for each row
            begin if ${changed} then ${delta("old", -1)} ${delta("new", 1)} end if; end`
        : `create trigger ${trigger("jobs_count_upd")} after update on ${jobs} for each row when ${changed}
            begin ${delta("old", -1)} ${delta("new", 1)} end`,
    );
    const select = rollupSelect(env, jobs, (c) => `new.${c}`, false);
    await run(`create trigger ${trigger("attempts_rollup")} after insert on ${attempts} for each row
      ${body(`insert into ${rollupDeltas} (${rollupColumns}) ${select};`)}`);
  },
};
