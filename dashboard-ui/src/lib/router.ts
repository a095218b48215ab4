/** A tiny hash router: the dashboard is one page under any base path, so routes live after the #. */

import { reactive } from "vue";

export const route = reactive({ path: "/", query: {} as Record<string, string> });

function read() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  route.path = path || "/";
  route.query = Object.fromEntries(new URLSearchParams(search ?? ""));
}
window.addEventListener("hashchange", read);
read();

export function navigate(path: string, query: Record<string, string | undefined> = {}): void {
  const search = new URLSearchParams(
    Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ""),
  ).toString();
  location.hash = search ? `${path}?${search}` : path;
}

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
  return Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(m[i + 1]!)]));
}
