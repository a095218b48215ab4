/**
 * Signals inside one process: every store instance on the same database (same file, server
 * and tables) shares one bus, so two nodes in one process wake each other without a server.
 * Cross-process delivery (PostgreSQL NOTIFY) is layered on top by the store.
 */

import { randomUUID } from "node:crypto";
import type { StoreSignal } from "../contract.js";

type Listener = (signal: StoreSignal) => void;

/** Identifies this process in broadcast payloads, so it can drop its own echoes. */
export const PROCESS_ORIGIN = randomUUID();

const buses = new Map<string, Set<Listener>>();

/**
 * Subscribes `listener`; if it throws, `onError` hears of it (the subscribing store's logger)
 * after the delivery, and the other listeners still get the signal.
 */
export function busSubscribe(key: string, listener: Listener, onError: (error: unknown) => void): () => void {
  let listeners = buses.get(key);
  if (!listeners) {
    listeners = new Set();
    buses.set(key, listeners);
  }
  // Wrapped so the same function subscribed twice is two subscriptions, as with EventEmitter.
  const entry: Listener = (signal) => {
    try {
      listener(signal);
    } catch (error) {
      queueMicrotask(() => onError(error));
    }
  };
  listeners.add(entry);
  return () => {
    listeners.delete(entry);
    if (listeners.size === 0 && buses.get(key) === listeners) buses.delete(key);
  };
}

/** Delivers to every listener on the bus (each guards itself: see busSubscribe). */
export function busPublish(key: string, signal: StoreSignal): void {
  const listeners = buses.get(key);
  if (!listeners) return;
  for (const listener of [...listeners]) listener(signal);
}

/** Signals on the wire: Dates as epoch ms, plus the sender's origin. */
export function encodeSignal(signal: StoreSignal, origin: string): string {
  const body = signal.type === "due" ? { type: "due", at: signal.at.getTime() } : signal;
  return JSON.stringify({ o: origin, s: body });
}

export function decodeSignal(payload: string): { signal: StoreSignal; origin: string } | null {
  try {
    const { o, s } = JSON.parse(payload) as {
      o: string;
      s: { type: string; at?: number; id?: string; nodeId?: string };
    };
    switch (s.type) {
      case "due":
        return typeof s.at === "number" ? { origin: o, signal: { type: "due", at: new Date(s.at) } } : null;
      case "cancel":
        return typeof s.id === "string" ? { origin: o, signal: { type: "cancel", id: s.id } } : null;
      case "cron":
        return { origin: o, signal: { type: "cron" } };
      case "node":
        return typeof s.nodeId === "string" ? { origin: o, signal: { type: "node", nodeId: s.nodeId } } : null;
      default:
        return null;
    }
  } catch {
    return null;
  }
}
