/**
 * The live connection: Server-Sent Events read with fetch (the session cookie signs it; the
 * CSRF header goes along). It reconnects by itself.
 */

import { apiBase, authHeaders } from "./api";
import { emitJobRows, state } from "./state";

let controller: AbortController | null = null;
let attempt = 0;

function dispatch(event: string, data: any): void {
  if (event === "hello") {
    state.live = "live";
    attempt = 0;
  } else if (event === "jobs") {
    // Row deltas: the list patches them in; pages about one job reload when it is among them.
    emitJobRows(data.rows ?? []);
    state.jobsTick++;
  } else if (event === "cron") state.tick++;
  else if (event === "counts") {
    state.counts = data;
    state.tick++;
  } else if (event === "nodes") state.nodes = data;
}

async function run(signal: AbortSignal): Promise<void> {
  const response = await fetch(`${apiBase}/stream`, {
    headers: authHeaders(),
    signal,
    credentials: "same-origin",
    cache: "no-store",
  });
  if (response.status === 401) {
    state.needsLogin = true;
    throw new Error("unauthorized");
  }
  if (!response.ok || !response.body) throw new Error(`stream answered ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended");
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length) dispatch(event, JSON.parse(data.join("\n")));
    }
  }
}

export function connectLive(): void {
  disconnectLive();
  const own = new AbortController();
  controller = own;
  const loop = async () => {
    while (!own.signal.aborted) {
      try {
        await run(own.signal);
      } catch {
        if (own.signal.aborted || state.needsLogin) return;
        state.live = "reconnecting";
        attempt++;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * attempt)));
      }
    }
  };
  state.live = "connecting";
  void loop();
}

export function disconnectLive(): void {
  controller?.abort();
  controller = null;
}
