/** App-wide reactive state: session, theme, display time zone and the live connection. */

import { reactive, watch } from "vue";

export interface Session {
  nodeId: string;
  version: string;
  store: string;
  readOnly: boolean;
  auth: string;
  statuses: string[];
  priorities: string[];
  runConditions: string[];
  functions: {
    name: string;
    cron: string | null;
    timeZone: string | null;
    priority: string;
    retries: number;
    description: string | null;
    hasSchema: boolean;
  }[];
}

const stored = (key: string) => {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
};

export const state = reactive({
  session: null as Session | null,
  /** Signed in with a session cookie (HttpOnly: the page never sees a credential). */
  signedIn: false,
  needsLogin: false,
  authKind: "none",
  authHeader: null as string | null,
  theme: (stored("tickerq.theme") ?? "system") as "system" | "light" | "dark",
  timeZone: stored("tickerq.timeZone") ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  live: "connecting" as "connecting" | "live" | "reconnecting",
  /** Bumped when counts or cron tickers change; summary pages watch it and refetch. */
  tick: 0,
  /** Bumped on every batch of job changes; pages about one job or ticker watch it. */
  jobsTick: 0,
  counts: null as null | { time: Record<string, number>; occurrences: Record<string, number> },
  nodes: [] as any[],
  toast: null as null | { kind: "ok" | "error"; text: string },
});

/** Changed rows from the live stream, for pages that patch what they show instead of reloading. */
const rowListeners = new Set<(rows: any[]) => void>();
export function onJobRows(listener: (rows: any[]) => void): () => void {
  rowListeners.add(listener);
  return () => rowListeners.delete(listener);
}
export function emitJobRows(rows: any[]): void {
  for (const listener of rowListeners) listener(rows);
}

const media = window.matchMedia("(prefers-color-scheme: dark)");
function applyTheme() {
  const dark = state.theme === "dark" || (state.theme === "system" && media.matches);
  document.documentElement.classList.toggle("dark", dark);
}
media.addEventListener("change", applyTheme);
watch(
  () => state.theme,
  (theme) => {
    localStorage.setItem("tickerq.theme", theme);
    applyTheme();
  },
  { immediate: true },
);
watch(
  () => state.timeZone,
  (zone) => localStorage.setItem("tickerq.timeZone", zone),
);

let toastTimer: ReturnType<typeof setTimeout> | undefined;
export function toast(kind: "ok" | "error", text: string): void {
  state.toast = { kind, text };
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (state.toast = null), 4000);
}

/** Runs an operator action and reports it: a toast on success, or the server's message. Returns whether it worked. */
export async function perform(action: () => Promise<unknown>, done: string): Promise<boolean> {
  try {
    await action();
    toast("ok", done);
    return true;
  } catch (e) {
    toast("error", (e as Error).message);
    return false;
  }
}
