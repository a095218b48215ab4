/** A tiny hash router: the dashboard is one page under any base path, so routes live after the #. */

import { reactive } from "vue";

export const route = reactive({ path: "/", query: {} as Record<string, string> });

/** A hash typed or pasted by hand may hold a bad escape ("%E0%A4%A"): read it as it is, never throw. */
function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function read() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const cut = hash.indexOf("?");
  const path = cut === -1 ? hash : hash.slice(0, cut);
  const search = cut === -1 ? "" : hash.slice(cut + 1);
  route.path = path || "/";
  let query: Record<string, string> = {};
  try {
    query = Object.fromEntries(new URLSearchParams(search));
  } catch {
    query = {};
  }
  route.query = query;
}
window.addEventListener("hashchange", read);
read();

export function navigate(path: string, query: Record<string, string | undefined> = {}): void {
  const search = new URLSearchParams(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  ).toString();
  location.hash = search ? `${path}?${search}` : path;
}

/** The path of one job's page: its id escaped, so ids with "/", "?" or "#" open too. */
export const jobPath = (id: string) => `/jobs/${encodeURIComponent(id)}`;

/** Replaces the query without adding history entries (filters). */
export function replaceQuery(query: Record<string, string | undefined>): void {
  const search = new URLSearchParams(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  ).toString();
  history.replaceState(null, "", `#${route.path}${search ? `?${search}` : ""}`);
  read();
}

/** Matches "/jobs/:id" style patterns. */
export function match(pattern: string): Record<string, string> | null {
  const names: string[] = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => (names.push(name), "([^/]+)"))}$`);
  const m = regex.exec(route.path);
  if (!m) return null;
  return Object.fromEntries(names.map((name, i) => [name, decode(m[i + 1]!)]));
}
