/** In-process delivery of store signals: every store uses it for its own subscribers. */

import type { StoreSignal } from "./contract.js";

export class SignalHub {
  private readonly listeners = new Set<(signal: StoreSignal) => void>();

  subscribe(listener: (signal: StoreSignal) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A listener that throws must not stop delivery to the others, nor the store's write. */
  emit(signal: StoreSignal): void {
    for (const listener of this.listeners) {
      try {
        listener(signal);
      } catch {
        // listeners are the engine's own and guard themselves; nothing useful to do here
      }
    }
  }
}
