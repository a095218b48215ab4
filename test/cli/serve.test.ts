/**
 * `tickerq serve` as a child process on SQLite and on PostgreSQL: a job POSTed over HTTP runs
 * (a function from --functions, and the built-in http function), the dashboard's API shows it,
 * and SIGTERM drains a running job before the process exits 0. Every wait is on an output line
 * or a request the test server receives.
 */

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli.js";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";

const cli = fileURLToPath(new URL("../../src/cli.ts", import.meta.url));
const tsx = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const fixture = fileURLToPath(new URL("./functions.ts", import.meta.url));
const TOKEN = "serve-test-token-0123456789";
const cwd = mkdtempSync(join(tmpdir(), "tickerq-serve-"));
const postgres = await checkPostgres();

/** The test's callback target: /hold answers only when the test releases it. */
let target: Server;
let targetUrl = "";
const holds: { arrived: Promise<ServerResponse>; arrive(res: ServerResponse): void }[] = [];
function nextHold() {
  let arrive!: (res: ServerResponse) => void;
  const arrived = new Promise<ServerResponse>((resolve) => (arrive = resolve));
  const hold = { arrived, arrive };
  holds.push(hold);
  return hold;
}

beforeAll(async () => {
  target = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      const hold = holds.shift();
      if (req.url === "/hold" && hold) hold.arrive(res);
      else res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => target.listen(0, "127.0.0.1", resolve));
  targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}`;
});

afterAll(async () => {
  target.closeAllConnections();
  await new Promise((resolve) => target.close(resolve));
  rmSync(cwd, { recursive: true, force: true });
});

/** A started `tickerq serve`, with its output lines and a wait for a line. */
class Served {
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: { pattern: RegExp; resolve(match: RegExpMatchArray): void }[] = [];
  private exitCode: number | null | undefined;

  constructor(readonly child: ChildProcess) {
    let buffer = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        this.line(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    child.stderr!.on("data", (chunk: Buffer) => this.stderr.push(chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on("exit", (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
  }

  private line(text: string) {
    this.lines.push(text);
    this.waiters = this.waiters.filter((w) => {
      const match = text.match(w.pattern);
      if (match) w.resolve(match);
      return !match;
    });
  }

  /** The first line (seen or to come) matching; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray> {
    for (const text of this.lines) {
      const match = text.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      this.waiters.push({ pattern, resolve });
      void this.exited.then(() =>
        reject(
          new Error(
            `serve exited (${String(this.exitCode)}) before a line matched ${pattern}\nstdout:\n${this.lines.join("\n")}\nstderr:\n${this.stderr.join("")}`,
          ),
        ),
      );
    });
  }
}

function startServe(db: string[]): Served {
  const child = spawn(
    process.execPath,
    [
      "--import",
      tsx,
      cli,
      "serve",
      ...db,
      "--port",
      "0",
      "--functions",
      fixture,
      "--allow-hosts",
      "127.0.0.1",
      "--allow-addresses",
      "127.0.0.1/32",
    ],
    { cwd, env: { ...process.env, TICKERQ_API_TOKEN: TOKEN }, stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Served(child);
}

const json = (body: unknown) => ({
  method: "POST",
  headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
  body: JSON.stringify(body),
});

async function scenario(db: string[]) {
  const served = startServe(db);
  try {
    const [, origin] = await served.waitFor(/listening on (http:\/\/[^\s]+) /);
    expect(served.lines.join("\n")).toMatch(/4 function\(s\): Greet, Fail, Typed, http/);

    // A job of the --functions module, scheduled as curl would.
    const created = await fetch(`${origin}/jobs`, json({ function: "Greet", request: { name: "Ann" } }));
    expect(created.status).toBe(201);
    const greet = (await created.json()) as { id: string };
    expect(created.headers.get("location")).toBe(`/jobs/${greet.id}`);
    await served.waitFor(new RegExp(`job ${greet.id} \\(Greet\\) (DueDone|Done)$`));
    await served.waitFor(/^greeted Ann$/);

    // Unauthenticated: a problem body, nothing scheduled.
    const refused = await fetch(`${origin}/jobs`, {
      ...json({ function: "Greet" }),
      headers: { "content-type": "application/json" },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");

    // An http job that the test server holds, so it is running when SIGTERM comes.
    const hold = nextHold();
    const posted = await fetch(
      `${origin}/jobs`,
      json({ type: "http", payload: { url: `${targetUrl}/hold`, method: "POST", body: { a: 1 } } }),
    );
    expect(posted.status).toBe(201);
    const held = (await posted.json()) as { id: string };
    const response = await hold.arrived;

    // The dashboard (same port, signed in with the API token as its key) shows both.
    const dashboard = (id: string) =>
      fetch(`${origin}/dashboard/api/jobs/${id}`, { headers: { "x-tickerq-key": TOKEN } }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { job: { status: string; function: string } },
      }));
    const shownGreet = await dashboard(greet.id);
    expect(shownGreet.status).toBe(200);
    expect(shownGreet.body.job).toMatchObject({ function: "Greet" });
    expect(["DueDone", "Done"]).toContain(shownGreet.body.job.status);
    expect((await dashboard(held.id)).body.job).toMatchObject({ function: "http", status: "InProgress" });
    expect((await fetch(`${origin}/dashboard/api/jobs/${held.id}`)).status).toBe(401);

    // SIGTERM: no new claims, the running call finishes, then exit 0.
    served.child.kill("SIGTERM");
    await served.waitFor(/SIGTERM: draining/);
    response.writeHead(200).end("thanks");
    expect(await served.exited).toBe(0);
    const out = served.lines.join("\n");
    const finished = out.search(new RegExp(`job ${held.id} \\(http\\) (DueDone|Done)`));
    expect(finished).toBeGreaterThan(out.indexOf("SIGTERM: draining"));
    expect(out.indexOf("tickerq: stopped")).toBeGreaterThan(finished);
    expect(out).toContain(`job ${held.id} (http): answered 200`);

    // What the database holds afterwards, read by the command line.
    const lines: string[] = [];
    const code = await runCli(["jobs", "ls", ...db, "--function", "http", "--json"], {
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
    });
    expect(code).toBe(0);
    const jobs = JSON.parse(lines.join("\n")) as { id: string; status: string }[];
    expect(jobs.map((j) => j.id)).toEqual([held.id]);
    expect(["DueDone", "Done"]).toContain(jobs[0]!.status);
  } finally {
    if (served.child.exitCode === null) served.child.kill("SIGKILL");
  }
}

describe("tickerq serve", () => {
  it("on SQLite: POST /jobs, the job runs, the dashboard shows it, SIGTERM drains and exits 0", async () => {
    await scenario(["--db", `sqlite:${join(cwd, "serve.db")}`]);
  }, 180_000);

  it.skipIf(!postgres.available)(
    "on PostgreSQL (scratch schema): the same",
    async () => {
      const scratch = await postgresScratch();
      try {
        await scenario(["--db", PG_URL, "--schema", scratch.schema]);
      } finally {
        await scratch.drop();
      }
    },
    180_000,
  );

  it("refuses to start without credentials or with bad options, naming what is wrong (exit 2)", async () => {
    const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const err: string[] = [];
      const code = await runCli(args, { out: () => {}, err: (line) => err.push(line) }, env);
      return { code, err: err.join("\n") };
    };
    const db = ["--db", `sqlite:${join(cwd, "never.db")}`];
    expect(await run(["serve", ...db])).toMatchObject({
      code: 2,
      err: expect.stringContaining("set TICKERQ_API_TOKEN"),
    });
    expect(await run(["serve", ...db], { TICKERQ_API_TOKEN: "short" })).toMatchObject({
      code: 2,
      err: expect.stringContaining("TICKERQ_API_TOKEN must be at least 16 characters; it has 5"),
    });
    const env = { TICKERQ_API_TOKEN: TOKEN };
    expect(await run(["serve", ...db, "--auth", "open"], env)).toMatchObject({
      code: 2,
      err: expect.stringContaining('--auth must be "token" or "none"; got "open"'),
    });
    expect(await run(["serve", ...db, "--port", "70000"], env)).toMatchObject({
      code: 2,
      err: expect.stringContaining('--port must be an integer from 0 to 65535; got "70000"'),
    });
    expect(await run(["serve", ...db, "--allow-addresses", "10.0.0.0/99"], env)).toMatchObject({
      code: 2,
      err: expect.stringContaining(
        'allowAddresses[0] must be a CIDR range such as "10.0.0.0/8" or "fd12::/16"; got "10.0.0.0/99"',
      ),
    });
    expect(await run(["serve", ...db, "--functions", "./no-such-module.js"], env)).toMatchObject({
      code: 2,
      err: expect.stringContaining('--functions "./no-such-module.js" could not be loaded'),
    });
    expect(await run(["serve"], env)).toMatchObject({
      code: 2,
      err: expect.stringContaining("--db <url> is required"),
    });
    expect(await run(["serve", "--help"], env)).toMatchObject({ code: 0 });
  }, 60_000);
});
