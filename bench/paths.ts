/**
 * Where the repository is, found from this module whether it runs as TypeScript in bench/
 * (the runner, under tsx) or as the JavaScript copy under node_modules/.cache/tickerq-bench/ (worker children).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

function findRoot(): string {
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "tickerq") {
      return dir;
    }
    if (dirname(dir) === dir) throw new Error(`bench: no tickerq package.json above ${here}`);
  }
}

/** The repository root (where package.json and node_modules are). */
export const ROOT_DIR = findRoot();
/** The bench's scratch directory (git-ignored), for the SQLite database. */
export const TMP_DIR = join(ROOT_DIR, "bench", ".tmp");
