/**
 * tq.events: typed notifications of what the engine does, for the dashboard, telemetry and
 * users. Listeners run synchronously after the fact and can never slow or break execution:
 * a listener that throws is reported to the others as "listenerError" and otherwise ignored.
 */

import type { FinalStatus, TickerStatus, TickerType } from "./lifecycle.js";

export interface JobChange {
  id: string;
  type: TickerType;
  function: string;
  status: TickerStatus;
  cronTickerId: string | null;
  nodeId: string;
}

export interface JobExecuted {
  id: string;
  type: TickerType;
  function: string;
  /** Idle: the attempt failed and a retry is scheduled at `retryAt`. */
  status: FinalStatus | "Idle";
  cronTickerId: string | null;
  nodeId: string;
  retryCount: number;
  scheduledFor: Date;
  startedAt: Date;
  finishedAt: Date;
  elapsedMs: number;
  /** startedAt − scheduledFor, in ms. */
  latenessMs: number;
  retryAt: Date | null;
  error: unknown;
}

export interface JobSuperseded {
  id: string;
  type: TickerType;
  function: string;
  cronTickerId: string | null;
  nodeId: string;
  retryCount: number;
  /** How the superseded run ended. */
  status: FinalStatus;
}

export interface TickerQEventMap {
  /** A job was added, claimed, started, finished, cancelled, updated or deleted by this node. */
  changed: JobChange;
  /** An attempt ended. */
  executed: JobExecuted;
  /** A cron ticker was added, updated, deleted or seeded by this node. */
  cronChanged: { id: string; nodeId: string };
  /** This node's scheduler paused or resumed. */
  paused: { nodeId: string; paused: boolean };
  /** The engine hit a problem it recovers from (store unreachable, a hook that threw). */
  error: { error: unknown; during: string; nodeId: string };
  /**
   * A run on this node ended after its lease had been taken over (the node was paused or cut
   * off past its lease): its outcome is kept in the history as superseded and changed nothing.
   */
  superseded: JobSuperseded;
  /** A listener threw; the error is kept from reaching the engine. */
  listenerError: { event: string; error: unknown };
}

export type TickerQEventName = keyof TickerQEventMap;
type Listener<K extends TickerQEventName> = (payload: TickerQEventMap[K]) => void;

export class TickerQEvents {
  private readonly listeners = new Map<TickerQEventName, Set<Listener<any>>>();

  /** Returns a function that removes the listener. */
  on<K extends TickerQEventName>(event: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  once<K extends TickerQEventName>(event: K, listener: Listener<K>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  off<K extends TickerQEventName>(event: K, listener: Listener<K>): void {
    this.listeners.get(event)?.delete(listener);
  }

  /** Whether anyone listens: lets hot paths skip building payloads. */
  has(event: TickerQEventName): boolean {
    return (this.listeners.get(event)?.size ?? 0) > 0;
  }

  emit<K extends TickerQEventName>(event: K, payload: TickerQEventMap[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (error) {
        if (event !== "listenerError") this.emit("listenerError", { event, error });
      }
    }
  }
}
