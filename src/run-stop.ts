/**
 * How a run is stopped: the error it was stopped with, and the AbortSignal its handler sees,
 * made only once something asks for it (a handler that declares the second parameter, or
 * reads `ctx.signal`). On Node 20 making an AbortSignal costs about 5 µs, a tenth of the CPU a
 * drained job takes, and most handlers never look at it; the engine itself never needs one.
 */

import type { TickerContext } from "./functions.js";

export class RunStop {
  /** The error the run was stopped with (the signal's reason), or null while it goes on. */
  error: Error | null = null;
  private controller: AbortController | null = null;
  private listeners: (() => void)[] | null = null;

  get aborted(): boolean {
    return this.error !== null;
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.error !== null) this.controller.abort(this.error);
    }
    return this.controller.signal;
  }

  /** Stops the run, once: later calls keep the first error. */
  abort(error: Error): void {
    if (this.error !== null) return;
    this.error = error;
    this.controller?.abort(error);
    const listeners = this.listeners;
    this.listeners = null;
    for (const listener of listeners ?? []) listener();
  }

  /** Calls `listener` once, when the run is stopped: at once if it already is. */
  onAbort(listener: () => void): void {
    if (this.error === null) (this.listeners ??= []).push(listener);
    else listener();
  }
}

/** Where a context the executor made keeps its run's stop. */
export const RUN_STOP = Symbol("tickerq.runStop");

interface StoppableContext {
  readonly [RUN_STOP]: RunStop;
}

/**
 * `signal` as an own, enumerable getter (a spread of the context still carries it), shared by
 * every context: an object literal's own getter costs about a microsecond to make, this a fifth.
 */
const SIGNAL: PropertyDescriptor = {
  get(this: StoppableContext) {
    return this[RUN_STOP].signal;
  },
  enumerable: true,
  configurable: true,
};

/** Gives a handler's context (holding its run's stop under RUN_STOP) its `signal`. */
export function withSignal<T extends StoppableContext>(ctx: T): T & { readonly signal: AbortSignal } {
  return Object.defineProperty(ctx, "signal", SIGNAL) as T & { readonly signal: AbortSignal };
}

/** The error `ctx`'s run was stopped with, or null; read without making its signal where the engine made `ctx`. */
export function stopError(ctx: TickerContext<unknown>): unknown {
  const stop = (ctx as Partial<StoppableContext>)[RUN_STOP];
  if (stop) return stop.error;
  return ctx.signal.aborted ? ctx.signal.reason : null;
}
