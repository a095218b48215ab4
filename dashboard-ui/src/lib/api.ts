/** Calls to the dashboard API: the session cookie (HttpOnly) signs them, the CSRF header on every call, errors with their field. */

import { state } from "./state";

/** The API lives under the page's own path, whatever base path the host chose. */
export const apiBase = location.pathname.replace(/\/+$/, "") + "/api";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function authHeaders(): Record<string, string> {
  return { "x-tickerq-request": "1" };
}

export async function api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
  const headers = authHeaders();
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response: Response;
  try {
    response = await fetch(apiBase + path, init);
  } catch {
    throw new ApiError(0, "NETWORK", "The server cannot be reached.");
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    if (response.status === 401) {
      state.authKind = error.auth ?? state.authKind;
      state.authHeader = error.header ?? state.authHeader;
      state.needsLogin = true;
    }
    throw new ApiError(
      response.status,
      error.code ?? "HTTP_" + response.status,
      error.message ?? response.statusText,
      error.field,
    );
  }
  return data as T;
}

export const get = <T = any>(path: string) => api<T>("GET", path);
export const post = <T = any>(path: string, body: unknown = {}) => api<T>("POST", path, body);
export const patch = <T = any>(path: string, body: unknown) => api<T>("PATCH", path, body);
export const del = <T = any>(path: string) => api<T>("DELETE", path);

/** Query string from an object, skipping empty values. */
export function qs(params: Record<string, string | number | undefined | null | string[]>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    search.set(key, Array.isArray(value) ? value.join(",") : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
