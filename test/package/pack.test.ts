/**
 * The package as users install it: packs the working tree (a copy of it, built by `prepack`),
 * checks what the tarball holds, installs it from the npm cache into a temporary app, and
 * runs that app as plain ESM, as CommonJS (require), and as TypeScript compiled strict +
 * nodenext without skipLibCheck and without the drivers' @types. Each schedules and runs a job
 * on the memory and SQLite stores. better-sqlite3 is linked from this repo, not compiled again.
 */

import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { TSCONFIG, cjsApp, esmApp, tsCjsApp, tsEsmApp } from "./apps.js";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const quiet = ["--no-audit", "--no-fund", "--loglevel=error"];

let work: string;
let app: string;
let tarball: string;
let listing: string[];
let packed: { path: string; size: number }[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "tickerq-pack-"));
  // A copy of what the build reads, so the build neither races nor dirties the working tree.
  const source = join(work, "source");
  for (const entry of [
    "package.json",
    "tsconfig.json",
    "tsconfig.build.json",
    "README.md",
    "LICENSE",
    "src",
    "dashboard-ui",
  ]) {
    cpSync(join(repo, entry), join(source, entry), { recursive: true });
  }
  symlinkSync(join(repo, "node_modules"), join(source, "node_modules"), "dir");
  const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", work, ...quiet], {
    cwd: source,
    maxBuffer: 64 * 1024 * 1024,
  });
  // prepack's build output precedes the JSON on stdout.
  const report = JSON.parse(stdout.slice(stdout.indexOf("[\n"))) as { filename: string; files: typeof packed }[];
  tarball = join(work, report[0]!.filename);
  packed = report[0]!.files;
  listing = packed.map((file) => file.path);

  app = join(work, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  // From the npm cache where it can (this repo's install filled it); only package metadata may be fetched.
  await run(npm, ["install", "--prefer-offline", "--ignore-scripts", ...quiet, tarball], { cwd: app });
  // The app's SQLite driver and Node's types, taken from this repo; no @types of any driver.
  symlinkSync(join(repo, "node_modules/better-sqlite3"), join(app, "node_modules/better-sqlite3"), "dir");
  mkdirSync(join(app, "node_modules/@types"), { recursive: true });
  symlinkSync(join(repo, "node_modules/@types/node"), join(app, "node_modules/@types/node"), "dir");
  writeFileSync(join(app, "esm.mjs"), esmApp(app));
  writeFileSync(join(app, "cjs.cjs"), cjsApp(app));
  writeFileSync(join(app, "app.mts"), tsEsmApp(app));
  writeFileSync(join(app, "app.cts"), tsCjsApp(app));
  writeFileSync(join(app, "tsconfig.json"), JSON.stringify(TSCONFIG, null, 2));
}, 170_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs an app file with node; returns its JSON line. */
async function runApp(file: string): Promise<unknown> {
  const { stdout, stderr } = await run(process.execPath, [file], { cwd: app });
  expect(stderr).toBe("");
  return JSON.parse(stdout.trim());
}

const expected = {
  statuses: { memory: [1, "DueDone"], sqlite: [1, "DueDone"] },
  greeted: ["memory", "sqlite"],
  subpaths: ["function", "function", "function", "function"],
};

it("ships dist, the dashboard's assets, README and LICENSE; no sources, tests, bench or examples", () => {
  expect(listing).toEqual(
    expect.arrayContaining([
      "package.json",
      "README.md",
      "LICENSE",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli.js",
      "dist/dashboard/assets/index.html",
    ]),
  );
  expect(listing.some((path) => /^dist\/dashboard\/assets\/assets\/.+\.js$/.test(path))).toBe(true);
  const stray = listing.filter((path) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(path));
  expect(stray).toEqual([]);
  expect(listing.filter((path) => /(^|\/)(test|bench|examples|src)\//.test(path) || /\.test\./.test(path))).toEqual([]);
});

it("ships source maps that carry their sources (src/ is not shipped)", () => {
  const dist = join(app, "node_modules/tickerq/dist");
  const maps = listing.filter((path) => path.endsWith(".js.map"));
  expect(maps.length).toBeGreaterThan(10);
  const incomplete = maps.filter((path) => {
    const map = JSON.parse(readFileSync(join(dist, path.slice("dist/".length)), "utf8")) as {
      sources: string[];
      sourcesContent?: (string | null)[];
    };
    return (
      !map.sourcesContent ||
      map.sourcesContent.length !== map.sources.length ||
      map.sourcesContent.some((text) => !text)
    );
  });
  expect(incomplete).toEqual([]);
});

it("installs with no driver @types beside it", () => {
  expect(readdirSync(join(app, "node_modules/@types"))).toEqual(["node"]);
  expect(existsSync(join(app, "node_modules/pg"))).toBe(false);
});

it("runs as plain ESM: a job on the memory and the SQLite store", async () => {
  expect(await runApp("esm.mjs")).toEqual(expected);
}, 60_000);

it("runs as CommonJS through require(), every subpath included", async () => {
  expect(await runApp("cjs.cjs")).toEqual(expected);
}, 60_000);

it("compiles under TypeScript strict + nodenext without skipLibCheck or driver @types, and runs (ESM and CommonJS)", async () => {
  const tsc = join(repo, "node_modules/typescript/bin/tsc");
  await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app }).catch((error: { stdout?: string }) => {
    throw new Error(`tsc failed:\n${error.stdout ?? String(error)}`);
  });
  expect(await runApp("out/app.mjs")).toEqual(expected);
  expect(await runApp("out/app.cjs")).toEqual(expected);
}, 150_000);

it("installs the tickerq command: --help, migrate on a SQLite file, and a missing driver said as such", async () => {
  const bin = join(app, "node_modules/.bin/tickerq");
  const help = await run(bin, ["migrate", "--help"], { cwd: app });
  expect(help.stdout).toContain("usage: tickerq migrate");
  const migrated = await run(bin, ["migrate", "--db", "sqlite:cli.db"], { cwd: app });
  expect(migrated.stdout).toMatch(/applied \d+ migration/);
  expect(existsSync(join(app, "cli.db"))).toBe(true);
  // pg and mysql2 are optional peers this app did not install.
  for (const [url, driver] of [
    ["postgres://postgres@127.0.0.1:5432/test", "pg"],
    ["mysql://root@127.0.0.1:3306/test", "mysql2"],
  ]) {
    const failed = await run(bin, ["migrate", "--db", url!], { cwd: app }).then(
      () => expect.unreachable(`migrate without ${driver} succeeded`),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`needs the ${driver} package, which is not installed: npm install ${driver}`);
  }
}, 60_000);
