/**
 * Worker children run on plain Node, with no loader, so that their RSS is the system's and not
 * a loader's: tsx costs every child about 30 MB, and more for packages shipped as many ES
 * modules (kysely's 279 files under tickerq cost 27 MB through tsx, 13 MB without), while
 * CommonJS peers (pg-boss, graphile-worker) pass its require hook almost free. So before the
 * first child, bench/ and src/ are transpiled to JavaScript under
 * node_modules/.cache/tickerq-bench/ (out of git's, ESLint's and Prettier's way) with the
 * compiler options of tsconfig.json (types stripped, no type check: the same JavaScript as
 * `npm run build`), always from the tree being measured, never a stale dist/; a file is
 * transpiled again only when its source is newer. The peers load their published JavaScript
 * from node_modules as before.
 *
 * TICKERQ_BENCH_CHILD=tsx runs the children under tsx from the TypeScript sources instead.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import type * as TypeScript from "typescript";
import { ROOT_DIR } from "./paths.js";

export interface ChildLaunch {
  /** The worker module to fork. */
  entry: URL;
  execArgv: string[];
  /** How children run, for the log and the report. */
  description: string;
}

const OUT_DIR = join(ROOT_DIR, "node_modules", ".cache", "tickerq-bench");
/** Trees copied as JavaScript, relative to the root; the layout is kept so relative imports still hold. */
const TREES = ["bench", "src"];
/** Never transpiled: scratch output, results, the dashboard's static files. */
const SKIP_DIRS = new Set([".tmp", "results", "assets", "node_modules"]);

function sources(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) files.push(...sources(path));
    } else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(path);
  }
  return files;
}

/** TypeScript's compiler and the options of tsconfig.json, loaded only when a file needs it. */
function compiler(): (source: string, fileName: string) => string {
  const ts = createRequire(import.meta.url)("typescript") as typeof TypeScript;
  const config = ts.readConfigFile(join(ROOT_DIR, "tsconfig.json"), ts.sys.readFile.bind(ts.sys));
  const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT_DIR);
  // The package is "type": "module", so NodeNext emits ES modules; say so directly, since a
  // single-file transpile cannot read package.json.
  const compilerOptions: TypeScript.CompilerOptions = {
    ...options,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: false,
    declaration: false,
    sourceMap: false,
    inlineSourceMap: false,
  };
  return (source, fileName) => ts.transpileModule(source, { compilerOptions, fileName }).outputText;
}

/** Transpiles every source newer than its JavaScript; returns how many it wrote. */
function transpileTrees(): number {
  // Under node_modules no package.json above says "type": "module": say it here.
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, "package.json"), '{ "private": true, "type": "module" }\n');
  let transpile: ((source: string, fileName: string) => string) | null = null;
  let count = 0;
  for (const tree of TREES) {
    const wanted = new Set<string>();
    for (const file of sources(join(ROOT_DIR, tree))) {
      const out = join(OUT_DIR, relative(ROOT_DIR, file)).replace(/\.ts$/, ".js");
      wanted.add(out);
      if (existsSync(out) && statSync(out).mtimeMs >= statSync(file).mtimeMs) continue;
      transpile ??= compiler();
      const output = transpile(readFileSync(file, "utf8"), file);
      mkdirSync(dirname(out), { recursive: true });
      // Written whole and renamed, so a run already reading this tree never sees half a file.
      const partial = `${out}.${process.pid}.tmp`;
      writeFileSync(partial, output);
      renameSync(partial, out);
      count += 1;
    }
    // The copy of a source since deleted or renamed must not stay importable.
    for (const out of copies(join(OUT_DIR, tree))) if (!wanted.has(out)) rmSync(out, { force: true });
  }
  return count;
}

function copies(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? copies(path) : entry.name.endsWith(".js") ? [path] : [];
  });
}

let launch: ChildLaunch | null = null;

/** How to start a worker child; the first call transpiles what changed (a few seconds at most, before any child). */
export function childLaunch(): ChildLaunch {
  if (launch) return launch;
  if (process.env.TICKERQ_BENCH_CHILD === "tsx") {
    launch = {
      entry: pathToFileURL(join(ROOT_DIR, "bench", "worker.ts")),
      execArgv: ["--import", "tsx"],
      description: "worker children under the tsx loader, from the TypeScript sources (TICKERQ_BENCH_CHILD=tsx)",
    };
  } else {
    const started = Date.now();
    const written = transpileTrees();
    launch = {
      entry: pathToFileURL(join(OUT_DIR, "bench", "worker.js")),
      execArgv: [],
      description:
        "worker children on plain Node without a loader: bench/ and tickerq's src/ transpiled to JavaScript " +
        `(node_modules/.cache/tickerq-bench; ${written} changed file(s) transpiled in ${Date.now() - started} ms), ` +
        "peers from node_modules",
    };
  }
  return launch;
}
