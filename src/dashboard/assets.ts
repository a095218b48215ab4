/**
 * The built UI (index.html and hashed files under assets/), found next to this module both
 * in src/ (tsx, tests) and in dist/ (the published package), read once and kept in memory.
 */

import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".html": "text/html; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json",
};

/** No inline scripts, no third-party origins; styles inline because Vue and uPlot set style attributes. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL("./assets/", import.meta.url));

export interface Asset {
  body: Uint8Array;
  headers: Record<string, string>;
}

export class AssetStore {
  private readonly cache = new Map<string, Promise<Asset | null>>();

  constructor(private readonly dir: string = DEFAULT_ASSETS_DIR) {}

  /** `name` is "index.html" or "assets/<file>"; anything else (including "..") is not found. */
  get(name: string): Promise<Asset | null> {
    if (name !== "index.html" && !/^assets\/[\w.-]+$/.test(name)) return Promise.resolve(null);
    if (name.includes("..")) return Promise.resolve(null);
    let entry = this.cache.get(name);
    if (!entry) {
      entry = this.load(name);
      this.cache.set(name, entry);
    }
    return entry;
  }

  private async load(name: string): Promise<Asset | null> {
    let body: Uint8Array;
    try {
      body = await readFile(this.dir + name);
    } catch {
      this.cache.delete(name); // a later build may add it
      return name === "index.html" ? missingUi() : null;
    }
    const headers: Record<string, string> = {
      "content-type": TYPES[extname(name)] ?? "application/octet-stream",
      "x-content-type-options": "nosniff",
      // Hashed file names change with every build; index.html must always be re-checked.
      "cache-control": name === "index.html" ? "no-cache" : "public, max-age=31536000, immutable",
    };
    if (name === "index.html") {
      headers["content-security-policy"] = CSP;
      headers["referrer-policy"] = "no-referrer";
    }
    return { body, headers };
  }
}

function missingUi(): Asset {
  const html =
    "<!doctype html><title>tickerq dashboard</title><p>The dashboard UI is not built. Run <code>npm run build:ui</code>; the API works meanwhile.</p>";
  return {
    body: new TextEncoder().encode(html),
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": CSP },
  };
}
