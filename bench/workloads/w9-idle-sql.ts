/**
 * W9 idle SQL: the statements an idle cluster sends its database, counted on the server. The
 * nodes get a mariadbd of their own (test/faults/servers.ts), so the shared server's other
 * traffic cannot pollute the count; its general log names each statement, to tell heartbeats
 * from polls and cron ticker reloads.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startChild, within, type WorkerChild } from "../child.js";
import { MYSQL_URI_ENV } from "../config.js";
import type { Measurement, Workload } from "./types.js";

/**
 * After every node is ready: start-up (migrations, first plans, index rebuild) is not idling,
 * nor are the nodes' first looks at the nodes table, repeated half a lease (10 s) later while
 * a peer's coordinator entry is not there yet.
 */
const SETTLE_MS = 20_000;
const READY_LIMIT_MS = 60_000;

/** What each statement is, from its text: the heartbeat's two, the claim poll, the cron reload, the rest. */
export function statementKind(sql: string): string {
  // A UNION of parenthesized selects (MariaDB's claim) is a select.
  const text = sql
    .trim()
    .toLowerCase()
    .replace(/^\(+\s*/, "");
  const verb = /^\w+/.exec(text)?.[0] ?? "?";
  const table = /(?:from|into|update|join)\s+(?:`?\w+`?\.)?`?(\w+)`?/.exec(text)?.[1];
  return table ? `${verb} ${table}` : verb;
}

/**
 * Statements (Query and Execute lines) of a MariaDB general log by kind, leaving out those of
 * the connections in `skipIds` (the probe's own).
 */
export function countGeneralLog(log: string, skipIds: readonly number[] = []): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of log.split("\n")) {
    // "[yymmdd hh:mm:ss]\t    <id> <Command>\t<argument>"; continuation lines of a statement do not match.
    const match = /^(?:\d{6}\s+\d{1,2}:\d{2}:\d{2})?\s+(\d+)\s+(Query|Execute)\t(.*)$/.exec(line);
    if (!match || skipIds.includes(Number(match[1]))) continue;
    const kind = statementKind(match[3] ?? "");
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return counts;
}

export const w9IdleSql: Workload = {
  id: "W9",
  title: "idle SQL",
  once: true,
  metrics: [
    { key: "perMin", label: "statements/min", digits: 0 },
    { key: "heartbeat", label: "of which on the nodes table", digits: 0 },
    { key: "cron", label: "cron tickers", digits: 0 },
    { key: "other", label: "other (claims and their transactions, lease reads)", digits: 0 },
    { key: "questions", label: "Questions/min", digits: 0 },
  ],
  settings: (s) =>
    `${s.w9Nodes} idle worker nodes (children; no job, no cron) on a dedicated mariadbd started for the run ` +
    `(test/faults/servers.ts: its own port and data dir, so no other client's statement counts); after ` +
    `${SETTLE_MS / 1000} s settling, the statements over ${s.w9WindowMs / 1000} s, per minute: from the server's ` +
    `general log (Query and Execute lines, classed by verb and table) and its Questions counter (minus the probe's ` +
    `own statement); heartbeats are the statements on the nodes table (2 per beat: upsert and pause read)`,
  applies: (system) => system.family === "tickerq" && system.backend === "mysql",
  skipReason: () => "MariaDB only (counted on a dedicated mariadbd)",
  // A dedicated server and a counting window per system: too long for --quick.
  quickSubset: () => [],
  async run(system, ctx): Promise<Measurement[]> {
    const { checkTools, createMariaDb } = await import("../../test/faults/servers.js");
    if (!checkTools("mysql").available) throw new Error("mariadbd and mariadb-install-db are needed for W9");
    const server = await createMariaDb();
    const logDir = mkdtempSync(join(tmpdir(), "tickerq-bench-w9-"));
    const mysql = (await import("mysql2/promise")).default;
    const admin = await mysql.createConnection({ host: "127.0.0.1", port: server.port, user: "root" });
    const nodes: WorkerChild[] = [];
    try {
      const windowMs = ctx.sizes.w9WindowMs;
      // Children inherit the environment at fork: this points their store at the dedicated server.
      process.env[MYSQL_URI_ENV] = server.url;
      try {
        for (let i = 0; i < ctx.sizes.w9Nodes; i += 1) {
          nodes.push(
            startChild({
              type: "jobs",
              system: system.id,
              variant: "default",
              concurrency: 10,
              // Never reached: the node idles until it is stopped.
              expected: 1,
              capMs: SETTLE_MS + windowMs + 120_000,
              collect: false,
            }),
          );
        }
      } finally {
        delete process.env[MYSQL_URI_ENV];
      }
      await within(Promise.all(nodes.map((n) => n.ready)), READY_LIMIT_MS, `${system.id} idle nodes`);
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const logFile = join(logDir, "general.log");
      await admin.query("set global log_output = 'FILE'");
      await admin.query(`set global general_log_file = '${logFile}'`);
      await admin.query("set global general_log = 1");
      const questions = async () => {
        const [rows] = await admin.query("show global status like 'Questions'");
        return Number((rows as Array<{ Value: string }>)[0]?.Value);
      };
      const before = await questions();
      ctx.log(`  ${system.id}: counting ${ctx.sizes.w9Nodes} idle nodes' statements for ${windowMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, windowMs));
      // The second probe is a statement itself.
      const questionsDelta = (await questions()) - before - 1;
      await admin.query("set global general_log = 0");
      const log = readFileSync(logFile, "utf8");
      // TICKERQ_BENCH_W9_LOG=<dir> keeps each system's statements, to read what they are.
      const keep = process.env.TICKERQ_BENCH_W9_LOG;
      if (keep) writeFileSync(join(keep, `${system.id}.general.log`), log);
      // The probes and the log switches are not the nodes'.
      const counts = countGeneralLog(log, [admin.threadId]);
      const perMin = (n: number) => (n * 60_000) / windowMs;
      let total = 0;
      let heartbeat = 0;
      let cron = 0;
      for (const [kind, n] of counts) {
        total += n;
        if (/nodes$/.test(kind)) heartbeat += n;
        else if (/cron/.test(kind)) cron += n;
      }
      const breakdown = [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([kind, n]) => `${kind} ${perMin(n).toFixed(0)}`)
        .join(", ");
      ctx.log(`  ${system.id}: ${perMin(total).toFixed(0)} statements/min (${breakdown})`);
      return [
        {
          system: system.id,
          case: `${ctx.sizes.w9Nodes} nodes`,
          values: {
            perMin: perMin(total),
            heartbeat: perMin(heartbeat),
            cron: perMin(cron),
            other: perMin(total - heartbeat - cron),
            questions: perMin(questionsDelta),
          },
          note: `per minute by kind: ${breakdown}`,
        },
      ];
    } finally {
      await Promise.all(nodes.map((node) => node.stop()));
      await admin.end().catch(() => undefined);
      await server.remove();
      rmSync(logDir, { recursive: true, force: true });
    }
  },
};
