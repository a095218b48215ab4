/** The base path a web app (dashboard or API) is mounted under, checked and normalised. */

import { TickerQError } from "../errors.js";

export function normaliseBasePath(basePath: string | undefined): string {
  const base = (basePath ?? "").trim();
  if (base === "" || base === "/") return "";
  if (!/^\/[\w\-./~]*$/.test(base) || base.includes("//") || base.includes("..")) {
    throw new TickerQError(
      "INVALID_ARGUMENT",
      `basePath must be a path like "/tickerq"; got ${JSON.stringify(basePath)}`,
    );
  }
  return base.replace(/\/+$/, "");
}
