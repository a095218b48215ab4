/** What a workload is to the runner: which systems it applies to and how one repeat runs. */
import type { Sizes } from "../config.js";
import type { System } from "../systems/types.js";

export interface Metric {
  key: string;
  label: string;
  /** Digits after the point in tables. */
  digits: number;
}

/** One row of one repeat: a system in one case ("c=10", "1M pending"). */
export interface Measurement {
  system: string;
  case: string;
  values: Record<string, number | null>;
  /** Something the reader must know about this run (a timeout, a partial count). */
  note?: string;
  /** Digits for every metric of this row, overriding the metric's own (ratio rows). */
  digits?: number;
}

export interface RunContext {
  sizes: Sizes;
  quick: boolean;
  repeat: number;
  repeats: number;
  /** A progress line for the console. */
  log(line: string): void;
}

export interface Workload {
  id: string;
  title: string;
  metrics: readonly Metric[];
  /** How the workload is set up, for the report. */
  settings(sizes: Sizes): string;
  /** Systems it applies to; the rest are listed as not applicable with `skipReason`. */
  applies(system: System): boolean;
  skipReason?(system: System): string;
  /** In quick mode, the subset to run (the rest are listed as skipped for time). */
  quickSubset?(systems: readonly System[]): System[];
  /** Runs once in all instead of `repeats` times (long workloads whose one run holds many samples). */
  once?: boolean;
  /** One repeat for one system; the runner has reset its state first. */
  run(system: System, ctx: RunContext): Promise<Measurement[]>;
}

export function label(system: System, variant: string): string {
  return variant === "default" ? system.id : `${system.id} [${variant}]`;
}
