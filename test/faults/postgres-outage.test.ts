/**
 * Three nodes on a PostgreSQL cluster of the test's own, stopped under load for twice the
 * lease: every node is cut off alike, so none may take another's work as dead afterwards.
 * The shared server on 5432 is never touched.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CLEAN, formatReport, summary } from "./checker.js";
import { runScenario, sleep } from "./cluster.js";
import { checkTools, createPostgresCluster } from "./servers.js";

const tools = checkTools("postgres");
const root = mkdtempSync(join(tmpdir(), "tickerq-faults-pgoutage-"));
afterAll(() =>
  process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
);

const LEASE_MS = 2000;

async function restartScenario(name: string, mode: "fast" | "immediate", downMs: number): Promise<void> {
  const server = await createPostgresCluster();
  try {
    const report = await runScenario({
      url: server.url,
      dir: join(root, name.replace(/\W+/g, "-")),
      leaseTimeoutMs: LEASE_MS,
      inject: async (cluster) => {
        await cluster.fault(name, async () => {
          await server.stop(mode);
          if (downMs > 0) await sleep(downMs);
          await server.start();
        });
      },
    });
    console.log(`[dedicated postgres] ${name}\n${formatReport(report)}`);
    expect(summary(report)).toEqual(CLEAN);
  } finally {
    await server.remove();
  }
}

describe.runIf(tools.available)("a dedicated PostgreSQL cluster down longer than the lease", () => {
  it("stopped -m fast for twice the lease", () => restartScenario("down 2x lease", "fast", 2 * LEASE_MS), 120_000);
});
