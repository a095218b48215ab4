/**
 * `npm run bench`: runs the workloads against tickerq on each store and against pg-boss,
 * graphile-worker and BullMQ, alternating systems within each repeat, and writes
 * bench/results/latest.md. Never part of `npm test`.
 *
 *   npm run bench -- [--quick] [--repeat N] [--only W1,W4,ref] [--peers tickerq,pg-boss,...] [--out FILE]
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { childLaunch } from "./child-build.js";
import { FULL, QUICK } from "./config.js";
import { describeMachine, loadNow } from "./machine.js";
import { measureReference, type Reference } from "./reference.js";
import { consoleTable, markdown, type WorkloadResult } from "./report.js";
import { checkTargets } from "./targets.js";
import { SYSTEMS } from "./systems/index.js";
import type { System } from "./systems/types.js";
import type { RunContext, Workload } from "./workloads/types.js";
import { w1Enqueue } from "./workloads/w1-enqueue.js";
import { w2Drain } from "./workloads/w2-drain.js";
import { w3EndToEnd } from "./workloads/w3-end-to-end.js";
import { w4Precision } from "./workloads/w4-precision.js";
import { w5Cron } from "./workloads/w5-cron.js";
import { w6Scale } from "./workloads/w6-scale.js";
import { w7Dashboard } from "./workloads/w7-dashboard.js";
import { w8Wake } from "./workloads/w8-wake.js";
import { w9IdleSql } from "./workloads/w9-idle-sql.js";

const WORKLOADS: readonly Workload[] = [
  w1Enqueue,
  w2Drain,
  w3EndToEnd,
  w4Precision,
  w5Cron,
  w8Wake,
  w9IdleSql,
  w6Scale,
  w7Dashboard,
];
const DEFAULT_OUT = fileURLToPath(new URL("./results/latest.md", import.meta.url));

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    repeat: { type: "string" },
    only: { type: "string" },
    peers: { type: "string" },
    out: { type: "string" },
    help: { type: "boolean", default: false },
  },
});

if (args.help) {
  console.log(
    "npm run bench -- [--quick] [--repeat N] [--only W1,W2,...,W9,ref] [--peers tickerq,tickerq-pg,tickerq-mysql-redis,pg-boss,graphile-worker,bullmq] [--out FILE]",
  );
  process.exit(0);
}

const quick = args.quick ?? false;
const sizes = quick ? QUICK : FULL;
// Quick mode keeps to one repeat so it stays under a minute, unless told otherwise.
const repeats = Math.max(1, Number(args.repeat ?? (quick ? 1 : 3)));
const only = args.only?.split(",").map((s) => s.trim().toUpperCase());
const peers = args.peers?.split(",").map((s) => s.trim());
const started = Date.now();

function log(line: string): void {
  const seconds = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
  console.log(`[${seconds}s] ${line}`);
}

function selected(system: System): boolean {
  return !peers || peers.includes(system.family) || peers.includes(system.id);
}

async function main(): Promise<void> {
  const machine = describeMachine();
  log(`tickerq bench: ${quick ? "quick" : "full"} sizes, ${repeats} repeat(s); ${machine.cpu}, ${machine.cores} cores`);
  log(`load average before: ${machine.loadBefore.map((l) => l.toFixed(2)).join(" ")}`);
  const children = childLaunch().description;
  log(children);

  const systems: System[] = [];
  const unavailable: Array<{ system: string; reason: string }> = [];
  for (const system of SYSTEMS.filter(selected)) {
    const reason = await system.unavailable();
    if (reason) {
      unavailable.push({ system: system.id, reason });
      log(`skipping ${system.id}: ${reason}`);
    } else systems.push(system);
  }

  let reference: Reference | null = null;
  if (!only || only.includes("REF")) {
    log(
      `reference: pgbench ${sizes.pgbenchSeconds} s, redis-benchmark ${sizes.redisRequests.toLocaleString("en")} requests`,
    );
    reference = await measureReference(sizes.pgbenchSeconds, sizes.redisRequests);
    log(
      `reference: pgbench ${reference.pgbenchTps?.toFixed(0)} TPS, Redis SET ${reference.redisSet?.toFixed(0)}/s GET ${reference.redisGet?.toFixed(0)}/s`,
    );
  }

  const results: WorkloadResult[] = [];
  for (const workload of WORKLOADS.filter((w) => !only || only.includes(w.id))) {
    const runs = workload.once ? 1 : repeats;
    const result: WorkloadResult = {
      id: workload.id,
      title: workload.title,
      settings: workload.settings(sizes),
      metrics: workload.metrics,
      repeats: runs,
      measurements: [],
      skipped: [],
      errors: [],
    };
    let applicable = systems.filter((s) => workload.applies(s));
    for (const system of systems.filter((s) => !workload.applies(s))) {
      result.skipped.push({ system: system.id, reason: workload.skipReason?.(system) ?? "not applicable" });
    }
    if (quick && workload.quickSubset) {
      const subset = workload.quickSubset(applicable);
      for (const system of applicable.filter((s) => !subset.includes(s))) {
        result.skipped.push({ system: system.id, reason: "left out of --quick to keep it under a minute" });
      }
      applicable = subset;
    }
    log(`${workload.id} ${workload.title}: ${applicable.map((s) => s.id).join(", ") || "no system"}`);
    // A system that failed once in a workload is not run again in it: a stuck worker costs its whole cap.
    const failed = new Set<string>();
    for (let repeat = 1; repeat <= runs; repeat += 1) {
      for (const system of applicable.filter((s) => !failed.has(s.id))) {
        const ctx: RunContext = {
          sizes,
          quick,
          repeat,
          repeats: runs,
          log: (line) => log(`${workload.id} ${repeat}/${runs} ${line}`),
        };
        try {
          await system.reset();
          result.measurements.push(...(await workload.run(system, ctx)));
        } catch (error) {
          const message = `${system.id} (repeat ${repeat}): ${(error as Error).message.split("\n")[0]}`;
          result.errors.push(`${message}; not run again in ${workload.id}`);
          failed.add(system.id);
          log(`${workload.id} error ${message}`);
        }
      }
    }
    results.push(result);
    console.log(`\n${consoleTable(result)}\n`);
  }

  // Leave no bench rows behind (W6 alone leaves a million).
  for (const system of systems) await system.reset().catch(() => undefined);

  const versions: Record<string, Record<string, string>> = {};
  const variantNotes: Record<string, Record<string, string>> = {};
  for (const system of systems) {
    versions[system.id] = await system.versions().catch((error: Error) => ({ error: error.message }));
    variantNotes[system.id] = { ...system.variantNotes };
  }

  const out = args.out ?? DEFAULT_OUT;
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const report = markdown({
    date: new Date(),
    command,
    quick,
    repeats,
    durationS: (Date.now() - started) / 1000,
    machine,
    children,
    loadAfter: loadNow(),
    reference,
    versions,
    variantNotes,
    unavailable,
    workloads: results,
  });
  console.log("Targets (issues 5, 12, 15 and 16):");
  for (const check of checkTargets(results, reference)) {
    console.log(`  ${check.met === null ? "–  " : check.met ? "yes" : "no "} ${check.target}: ${check.figure}`);
  }
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, report);
  log(`wrote ${out}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
