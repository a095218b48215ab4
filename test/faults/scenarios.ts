/**
 * The scenario shapes the fault test files share: where a file keeps its side-effect files,
 * the verdict, a dedicated server stopped and started again under load, and a scratch
 * database reached through the fault proxy.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect } from "vitest";
import { CLEAN, formatReport, summary, type FaultReport } from "./checker.js";
import { runScenario, sleep, viaProxy } from "./cluster.js";
import type { DedicatedServer } from "./servers.js";
import { startTcpProxy, type TcpProxy } from "./tcp-proxy.js";

/** The lease the scenarios run with: short, so a fault outlasts it within a test's time. */
export const LEASE_MS = 2000;

/**
 * A temporary folder for this test file, removed after it (kept with TICKERQ_FAULTS_KEEP);
 * returns the scenario folder for a name.
 */
export function scenarioDirs(prefix: string): (name: string) => string {
  const root = mkdtempSync(join(tmpdir(), `tickerq-faults-${prefix}-`));
  afterAll(() =>
    process.env.TICKERQ_FAULTS_KEEP ? console.log(`kept ${root}`) : rmSync(root, { recursive: true, force: true }),
  );
  return (name) => join(root, name.replace(/\W+/g, "-"));
}

/** Prints the report and expects nothing lost, doubled or stuck. */
export function expectClean(label: string, name: string, report: FaultReport): void {
  console.log(`[${label}] ${name}\n${formatReport(report)}`);
  expect(summary(report)).toEqual(CLEAN);
}

/** A server of the test's own stopped (`mode`) under load, down for `downMs`, started again; removed after. */
export async function restartScenario(o: {
  label: string;
  name: string;
  dir: string;
  create: () => Promise<DedicatedServer>;
  mode: "fast" | "immediate" | "kill";
  downMs: number;
}): Promise<void> {
  const server = await o.create();
  try {
    const report = await runScenario({
      url: server.url,
      dir: o.dir,
      leaseTimeoutMs: LEASE_MS,
      inject: async (cluster) => {
        await cluster.fault(o.name, async () => {
          await server.stop(o.mode);
          if (o.downMs > 0) await sleep(o.downMs);
          await server.start();
        });
      },
    });
    expectClean(o.label, o.name, report);
  } finally {
    await server.remove();
  }
}

/** Nodes on a scratch database reached through the fault proxy; `inject` is the fault. */
export async function faultyNetworkScenario(o: {
  label: string;
  name: string;
  dir: string;
  scratch: { url: string; drop(): Promise<void> };
  upstreamPort: number;
  inject: (proxy: TcpProxy) => Promise<void>;
}): Promise<void> {
  const proxy = await startTcpProxy({ port: o.upstreamPort });
  try {
    const report = await runScenario({
      dir: o.dir,
      leaseTimeoutMs: LEASE_MS,
      url: viaProxy(o.scratch.url, proxy.port),
      observeUrl: o.scratch.url,
      inject: (cluster) => cluster.fault(o.name, () => o.inject(proxy)).then(() => {}),
    });
    expectClean(o.label, o.name, report);
  } finally {
    await proxy.close();
    await o.scratch.drop();
  }
}
