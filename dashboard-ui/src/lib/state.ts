/** App-wide reactive state: session, credentials, theme, display time zone and the live connection. */

import { reactive, watch } from "vue";

export type Credentials =
  { kind: "basic"; username: string; password: string } | { kind: "apiKey"; header: string; key: string };

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

function loadCredentials(): Credentials | null {
  try {
    // sessionStorage: gone when the tab closes; never in the URL.
    return JSON.parse(sessionStorage.getItem("tickerq.credentials") ?? "null");
  } catch {
    return null;
  }
}

export const state = reactive({
  session: null as Session | null,
  credentials: loadCredentials(),
  needsLogin: false,
  authKind: "none",
  authHeader: null as string | null,
  theme: (stored("tickerq.theme") ?? "system") as "system" | "light" | "dark",
  timeZone: stored("tickerq.timeZone") ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  live: "connecting" as "connecting" | "live" | "reconnecting",
  /** Bumped on every batch of job changes; pages watch it and refetch. */
  tick: 0,
  counts: null as null | { time: Record<string, number>; occurrences: Record<string, number> },
  nodes: [] as any[],
  toast: null as null | { kind: "ok" | "error"; text: string },
});

export function saveCredentials(credentials: Credentials | null): void {
  state.credentials = credentials;
  if (credentials) sessionStorage.setItem("tickerq.credentials", JSON.stringify(credentials));
  else sessionStorage.removeItem("tickerq.credentials");
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
