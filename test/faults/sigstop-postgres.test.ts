/**
 * A node SIGSTOPped past its lease and then continued, on PostgreSQL: (a) the same node
 * reclaims the work it held (the other nodes are paused by the operator, so only the stopped
 * node can take it again), and (b) another node reclaims it. The stopped node's first runs
 * are exempt from "once", but the history must show both attempts and nothing may run twice
 * otherwise.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";
import { CLEAN, formatReport, summary } from "./checker.js";
import { runScenario, stopPastLeaseOthersReclaim, stopPastLeaseSameReclaims } from "./cluster.js";

const pgAvailable = (await checkPostgres()).available;
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-stop-"));
afterAll(() =>
  process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
);

interface Target {
  name: string;
  leaseTimeoutMs: number;
  heartbeatIntervalMs: number;
  open(): Promise<{ url: string; schema?: string; drop(): Promise<void> }>;
}

const targets: Array<Target & { available: boolean }> = [
  {
    name: "postgres",
    available: pgAvailable,
    leaseTimeoutMs: 2000,
    heartbeatIntervalMs: 250,
    async open() {
      const scratch = await postgresScratch();
      return { url: PG_URL, schema: scratch.schema, drop: scratch.drop };
    },
  },
];

for (const target of targets) {
  describe.runIf(target.available)(`SIGSTOP/SIGCONT of a node past its lease (${target.name})`, () => {
    for (const [name, inject] of [
      ["the same node reclaims", stopPastLeaseSameReclaims],
      ["another node reclaims", stopPastLeaseOthersReclaim],
    ] as const) {
      it(
        name,
        async () => {
          const db = await target.open();
          try {
            const report = await runScenario({
              url: db.url,
              schema: db.schema,
              dir: join(root, `${target.name}-${name.replace(/\W+/g, "-")}`),
              leaseTimeoutMs: target.leaseTimeoutMs,
              heartbeatIntervalMs: target.heartbeatIntervalMs,
              // Runs long enough that the stopped node is certainly in the middle of some.
              workMs: 200,
              maxConcurrency: 16,
              inject,
            });
            console.log(`[${target.name}] SIGSTOP, ${name}\n${formatReport(report)}`);
            expect(summary(report)).toEqual(CLEAN);
            expect(report.exemptRepeats, "the stopped node's runs were run again").toBeGreaterThan(0);
          } finally {
            await db.drop();
          }
        },
        120_000,
      );
    }
  });
}
