/** Aggregates repeated measurements into median [min–max] tables, for the console and for Markdown. */
import type { Machine } from "./machine.js";
import type { Reference } from "./reference.js";
import { summarize } from "./stats.js";
import { checkTargets } from "./targets.js";
import type { Measurement, Metric } from "./workloads/types.js";

export interface WorkloadResult {
  id: string;
  title: string;
  settings: string;
  metrics: readonly Metric[];
  repeats: number;
  measurements: Measurement[];
  skipped: Array<{ system: string; reason: string }>;
  errors: string[];
}

export interface RunReport {
  date: Date;
  command: string;
  quick: boolean;
  repeats: number;
  durationS: number;
  machine: Machine;
  /** How the worker children run (loader, where each system's code comes from). */
  children: string;
  loadAfter: number[];
  reference: Reference | null;
  versions: Record<string, Record<string, string>>;
  variantNotes: Record<string, Record<string, string>>;
  unavailable: Array<{ system: string; reason: string }>;
  workloads: WorkloadResult[];
}

interface TableRow {
  system: string;
  case: string;
  cells: string[];
  notes: string[];
}

function formatNumber(value: number, digits: number): string {
  return value.toLocaleString("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Groups the repeats of each (system, case) in first-seen order. */
export function tableRows(result: WorkloadResult): TableRow[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of result.measurements) {
    const key = `${m.system}\u0000${m.case}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
  }
  return [...groups.values()].map((group) => {
    const first = group[0] as Measurement;
    const cells = result.metrics.map((metric) => {
      const summary = summarize(group.map((m) => m.values[metric.key] ?? Number.NaN));
      if (!summary) return "–";
      const digits = first.digits ?? metric.digits;
      const median = formatNumber(summary.median, digits);
      return summary.n > 1
        ? `${median} [${formatNumber(summary.min, digits)}–${formatNumber(summary.max, digits)}]`
        : median;
    });
    // Each distinct note once, with how many of the repeats it applies to.
    const counts = new Map<string, number>();
    for (const m of group) if (m.note) counts.set(m.note, (counts.get(m.note) ?? 0) + 1);
    const notes = [...counts].map(([note, n]) =>
      group.length > 1 ? `${note} (${n} of ${group.length} repeats)` : note,
    );
    return { system: first.system, case: first.case, cells, notes };
  });
}

function pad(cells: string[], widths: number[]): string {
  return cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ");
}

export function consoleTable(result: WorkloadResult): string {
  const header = ["system", "case", ...result.metrics.map((m) => m.label)];
  const rows = tableRows(result).map((r) => [r.system, r.case, ...r.cells]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const lines = [`${result.id} ${result.title} (median [min–max] of ${result.repeats})`, pad(header, widths)];
  for (const row of rows) lines.push(pad(row, widths));
  for (const row of tableRows(result))
    for (const note of row.notes) lines.push(`  note ${[row.system, row.case].filter(Boolean).join(" ")}: ${note}`);
  for (const skip of result.skipped) lines.push(`  skipped ${skip.system}: ${skip.reason}`);
  for (const error of result.errors) lines.push(`  error: ${error}`);
  return lines.join("\n");
}

function mdTable(header: string[], rows: string[][]): string {
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  return [
    `| ${header.map(escape).join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.map(escape).join(" | ")} |`),
  ].join("\n");
}

function fixed(value: number | null, digits = 0): string {
  return value === null ? "–" : formatNumber(value, digits);
}

export function markdown(report: RunReport): string {
  const { machine } = report;
  const out: string[] = [];
  out.push("# tickerq benchmark results", "");
  out.push(
    `Run on ${report.date.toISOString()} with \`${report.command}\` (${report.quick ? "quick" : "full"} sizes, ` +
      `${report.repeats} repeat${report.repeats === 1 ? "" : "s"}, ${report.durationS.toFixed(0)} s). ` +
      "Figures are the median of the repeats with the [min–max] range; systems alternate within each repeat, " +
      "and each workload cleans its state before every system's run.",
    "",
  );
  out.push("## Machine", "");
  out.push(
    mdTable(
      ["cpu", "cores", "memory", "node", "os", "load avg before → after (1/5/15 min)"],
      [
        [
          machine.cpu,
          String(machine.cores),
          `${machine.memoryGiB.toFixed(1)} GiB`,
          machine.node,
          machine.os,
          `${machine.loadBefore.map((l) => l.toFixed(2)).join("/")} → ${report.loadAfter.map((l) => l.toFixed(2)).join("/")}`,
        ],
      ],
    ),
    "",
    `Worker children: ${report.children}.`,
    "",
  );
  out.push("## Versions", "");
  out.push(
    mdTable(
      ["system", "versions"],
      Object.entries(report.versions).map(([system, v]) => [
        system,
        Object.entries(v)
          .map(([k, x]) => `${k} ${x}`)
          .join(", "),
      ]),
    ),
    "",
  );
  if (report.unavailable.length > 0) {
    out.push("Not run:", "", ...report.unavailable.map((u) => `- ${u.system}: ${u.reason}`), "");
  }
  if (report.reference) {
    const ref = report.reference;
    out.push("## Reference: the physical limit on this machine", "");
    out.push(
      mdTable(
        [
          "pgbench simple-update TPS (1 client)",
          "redis-benchmark SET/s",
          "redis-benchmark GET/s",
          "RSS MB: node + pg, connected",
          "+ Kysely",
        ],
        [
          [
            fixed(ref.pgbenchTps),
            fixed(ref.redisSet),
            fixed(ref.redisGet),
            fixed(ref.rssPgMb),
            fixed(ref.rssPgKyselyMb),
          ],
        ],
      ),
      "",
      ...ref.commands.map((c) => `- \`${c}\``),
      "- RSS: a fresh `node` that imports pg (and Kysely), opens one connection and runs `select 1`; the lower of three",
      ...ref.notes.map((n) => `- ${n}`),
      "",
    );
  }
  for (const result of report.workloads) {
    out.push(`## ${result.id} ${result.title}`, "", `${result.settings}.`, "");
    const rows = tableRows(result);
    out.push(
      mdTable(
        ["system", "case", ...result.metrics.map((m) => m.label)],
        rows.map((r) => [r.system, r.case, ...r.cells]),
      ),
      "",
    );
    const notes = [
      ...rows.flatMap((r) => r.notes.map((n) => `- ${r.system}${r.case ? ` ${r.case}` : ""}: ${n}`)),
      ...result.skipped.map((s) => `- not run for ${s.system}: ${s.reason}`),
      ...result.errors.map((e) => `- error: ${e}`),
    ];
    if (notes.length > 0) out.push(...notes, "");
  }
  const checks = checkTargets(report.workloads, report.reference);
  out.push("## Targets (issues 5, 12, 15 and 16), from the medians above", "");
  out.push(
    mdTable(
      ["target", "figure", "met"],
      checks.map((c) => [c.target, c.figure, c.met === null ? "–" : c.met ? "yes" : "no"]),
    ),
    "",
  );
  out.push("## Settings of each system", "");
  out.push(
    mdTable(
      ["system", "setting", "meaning"],
      Object.entries(report.variantNotes).flatMap(([system, notes]) =>
        Object.entries(notes).map(([name, text]) => [system, name, text]),
      ),
    ),
    "",
  );
  return out.join("\n");
}
