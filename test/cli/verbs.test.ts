/**
 * The command line's verbs on a database URL (jobs, cron, nodes), run through its main function
 * on SQLite and PostgreSQL: tables by default, JSON with --json, exit statuses, and refusals that
 * name the field and the value.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../../src/cli.js";
import { createTickerQ, defineFunction, type TickerQ } from "../../src/index.js";
import { sqliteStore } from "../../src/sqlite.js";
import { postgresStore } from "../../src/postgres.js";
import { PG_URL, checkPostgres, postgresScratch } from "../helpers/databases.js";

const fixture = fileURLToPath(new URL("./functions.ts", import.meta.url));
const cwd = mkdtempSync(join(tmpdir(), "tickerq-verbs-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));
const postgres = await checkPostgres();

async function tickerq(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (line) => out.push(line), err: (line) => err.push(line) }, {});
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

interface Backend {
  name: string;
  available: boolean;
  db: () => string[];
  /** A node on the same database, to run what the CLI scheduled and to heartbeat. */
  node: () => TickerQ<any>;
  setup?: () => Promise<void>;
  teardown?: () => Promise<void>;
}

const functions = [
  defineFunction<{ name: string }>("Greet", async () => {}),
  defineFunction("Fail", async () => {
    throw new Error("always fails");
  }),
];

let schema = "";
let dropSchema: () => Promise<void> = async () => {};
const sqliteFile = join(cwd, "verbs.db");
const backends: Backend[] = [
  {
    name: "SQLite",
    available: true,
    db: () => ["--db", `sqlite:${sqliteFile}`],
    node: () =>
      createTickerQ({ functions, store: sqliteStore({ filename: sqliteFile }), logger: null, nodeId: "worker-1" }),
  },
  {
    name: "PostgreSQL",
    available: postgres.available,
    db: () => ["--db", PG_URL, "--schema", schema],
    node: () =>
      createTickerQ({
        functions,
        store: postgresStore({ connectionString: PG_URL, schema }),
        logger: null,
        nodeId: "worker-1",
      }),
    setup: async () => {
      const scratch = await postgresScratch();
      schema = scratch.schema;
      dropSchema = scratch.drop;
    },
    teardown: () => dropSchema(),
  },
];

for (const backend of backends) {
  describe.skipIf(!backend.available)(`verbs on ${backend.name}`, () => {
    beforeAll(async () => backend.setup?.());
    afterAll(async () => backend.teardown?.());

    it("jobs add / ls / cancel / retry, cron add / ls / trigger, nodes ls", async () => {
      const db = backend.db();
      // add: a table by default, JSON with --json; --functions checks the request.
      const added = await tickerq(
        "jobs",
        "add",
        "Greet",
        ...db,
        "--request",
        '{"name":"Ann"}',
        "--at",
        "2099-01-01T09:00:00Z",
      );
      expect(added.code).toBe(0);
      expect(added.stdout).toMatch(/^ID\s+FUNCTION\s+STATUS\s+EXECUTION TIME\s+RETRIES/);
      expect(added.stdout).toMatch(/Greet\s+Idle\s+2099-01-01T09:00:00Z\s+0\/0/);
      const farId = /\n(\S+)\s+Greet/.exec(added.stdout)![1]!;
      const later = JSON.parse(
        (
          await tickerq(
            "jobs",
            "add",
            "Greet",
            ...db,
            "--request",
            '{"name":"Bo"}',
            "--in",
            "2h",
            "--retries",
            "2",
            "--id",
            "job-bo",
            "--functions",
            fixture,
            "--json",
          )
        ).stdout,
      ) as { id: string; status: string; retries: number; request: unknown };
      expect(later).toMatchObject({ id: "job-bo", status: "Idle", retries: 2, request: { name: "Bo" } });
      const failing = await tickerq("jobs", "add", "Fail", ...db, "--json");
      expect(failing.code).toBe(0);
      const failId = (JSON.parse(failing.stdout) as { id: string }).id;

      // A node on the same database runs what is due: Fail fails.
      const node = backend.node();
      const failed = new Promise<void>((resolve) =>
        node.events.on("executed", (e) => {
          if (e.id === failId && e.status === "Failed") resolve();
        }),
      );
      await node.start();
      try {
        await failed;

        // ls: filters by status and function; JSON for scripts.
        const ls = JSON.parse((await tickerq("jobs", "ls", ...db, "--json")).stdout) as {
          id: string;
          status: string;
        }[];
        expect(ls.map((j) => j.status).sort()).toEqual(["Failed", "Idle", "Idle"]);
        const onlyFailed = await tickerq("jobs", "ls", ...db, "--status", "Failed,Cancelled");
        expect(onlyFailed.stdout).toContain(failId);
        expect(onlyFailed.stdout).toContain("always fails");
        expect(onlyFailed.stdout).toContain("(1 of 1)");
        expect(JSON.parse((await tickerq("jobs", "ls", ...db, "--function", "Greet", "--json")).stdout)).toHaveLength(
          2,
        );

        // cancel an Idle job; cancelling it again is refused by its state (4); an unknown id is 3.
        expect(await tickerq("jobs", "cancel", "job-bo", ...db)).toMatchObject({
          code: 0,
          stdout: "job job-bo cancelled",
        });
        expect(await tickerq("jobs", "cancel", "job-bo", ...db)).toMatchObject({
          code: 4,
          stderr: expect.stringContaining("job-bo is Cancelled"),
        });
        expect(await tickerq("jobs", "cancel", "no-such-job", ...db)).toMatchObject({
          code: 3,
          stderr: 'tickerq: job "no-such-job" does not exist',
        });

        // retry the failed job: Idle again, and it fails again on the node.
        const again = new Promise<void>((resolve) =>
          node.events.on("executed", (e) => {
            if (e.id === failId && e.status === "Failed") resolve();
          }),
        );
        const retried = await tickerq("jobs", "retry", failId, ...db, "--json");
        expect(retried.code).toBe(0);
        expect(JSON.parse(retried.stdout)).toMatchObject({ id: failId, status: "Idle" });
        await again;
        expect((await node.attempts(failId)).length).toBe(2);
        expect(await tickerq("jobs", "retry", later.id, ...db)).toMatchObject({ code: 0 }); // Cancelled may be retried
        const idle = await tickerq("jobs", "retry", farId, ...db);
        expect(idle.code).toBe(4);
        expect(idle.stderr).toMatch(
          new RegExp(`job ${farId} is Idle; only Failed, Cancelled or Skipped jobs can be retried`),
        );

        // cron: add (checked expression), ls, trigger (an occurrence that the node runs).
        const cron = JSON.parse(
          (
            await tickerq(
              "cron",
              "add",
              "Greet",
              ...db,
              "--expression",
              "0 0 9 * * *",
              "--time-zone",
              "Europe/Paris",
              "--request",
              '{"name":"Cy"}',
              "--json",
            )
          ).stdout,
        ) as { id: string; nextOccurrence: string };
        expect(cron.nextOccurrence).toMatch(/T0[78]:00:00/);
        const cronLs = await tickerq("cron", "ls", ...db);
        expect(cronLs.stdout).toMatch(
          new RegExp(`${cron.id}\\s+Greet\\s+0 0 9 \\* \\* \\*\\s+Europe/Paris\\s+yes\\s+\\d{4}-`),
        );
        const occurrenceRan = new Promise<string>((resolve) =>
          node.events.on("executed", (e) => {
            if (e.cronTickerId === cron.id && e.status !== "Idle") resolve(e.status);
          }),
        );
        const triggered = await tickerq("cron", "trigger", cron.id, ...db, "--json");
        expect(triggered.code).toBe(0);
        expect(JSON.parse(triggered.stdout)).toMatchObject({ cronTickerId: cron.id, function: "Greet" });
        expect(["Done", "DueDone"]).toContain(await occurrenceRan);
        expect(await tickerq("cron", "trigger", "no-such-cron", ...db)).toMatchObject({ code: 3 });

        // nodes: the running node with its heartbeat.
        const nodes = JSON.parse((await tickerq("nodes", "ls", ...db, "--json")).stdout) as { nodeId: string }[];
        expect(nodes.map((n) => n.nodeId)).toContain("worker-1");
        expect((await tickerq("nodes", "ls", ...db)).stdout).toMatch(
          /^NODE\s+STARTED\s+HEARTBEAT[\s\S]*\nworker-1\s+\d{4}-/,
        );
      } finally {
        await node.stop({ timeoutMs: 1000 });
      }
    }, 120_000);

    it("refuses bad values before or as the library does, naming the field and the value (exit 2)", async () => {
      const db = backend.db();
      const cases: [string[], RegExp][] = [
        [["jobs", "add", "Greet", ...db, "--request", "{name"], /--request must be JSON; got "\{name"/],
        [["jobs", "add", "Greet", ...db, "--at", "tomorrow"], /executionTime must be .*; got "tomorrow"/],
        [["jobs", "add", "Greet", ...db, "--in", "soon"], /--in must be seconds .*; got "soon"/],
        [["jobs", "add", "Greet", ...db, "--retries", "-1"], /--retries must be an integer from 0 to 1000; got "-1"/],
        [
          ["jobs", "add", "Typed", ...db, "--request", '{"name":5}', "--functions", fixture],
          /request\.name: .*\(value \{"name":5\}\)/,
        ],
        [
          ["jobs", "add", "Nope", ...db, "--functions", fixture],
          /function "Nope" is not a registered function \(registered: "Greet", "Fail", "Typed"\)/,
        ],
        [["jobs", "ls", ...db, "--status", "Done,Finished"], /--status "Finished" is not a status; use Idle, Queued/],
        [["jobs", "ls", ...db, "--limit", "0"], /--limit must be an integer from 1 to 1000; got "0"/],
        [["jobs", "ls", ...db, "--statuss", "Done"], /unknown option --statuss/],
        [["jobs", "purge", ...db], /unknown verb "jobs purge"; use ls, add, cancel, retry/],
        [["jobs", "cancel", ...db], /jobs cancel needs an ID/],
        [["cron", "add", "Greet", ...db], /cron add needs --expression/],
        [["cron", "add", "Greet", ...db, "--expression", "61 * * * * *"], /expression.*"61 \* \* \* \* \*"/],
        [["cron", "add", "Greet", ...db, "--expression", "0 * * * *", "--time-zone", "Mars/Base"], /Mars\/Base/],
        [["nodes", "ls", "extra", ...db], /unexpected argument "extra"/],
        [["jobs", "ls"], /--db <url> is required \(or set TICKERQ_DB\)/],
      ];
      for (const [args, message] of cases) {
        const result = await tickerq(...args);
        expect([args.join(" "), result.code]).toEqual([args.join(" "), 2]);
        expect(result.stderr).toMatch(message);
      }
      expect(JSON.parse((await tickerq("jobs", "ls", ...db, "--function", "Nope", "--json")).stdout)).toEqual([]);
    }, 60_000);
  });
}

it("jobs add of the http function checks the request's shape without the serving node's allow-lists", async () => {
  const db = ["--db", `sqlite:${join(cwd, "http.db")}`];
  const ok = await tickerq(
    "jobs",
    "add",
    "http",
    ...db,
    "--request",
    '{"url":"https://example.com/hook","method":"POST","body":{"a":1}}',
    "--json",
  );
  expect(ok.code).toBe(0);
  const bad = await tickerq(
    "jobs",
    "add",
    "http",
    ...db,
    "--request",
    '{"url":"https://example.com/hook","method":"SEND"}',
  );
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/request\.method: must be one of GET, HEAD, POST, PUT, PATCH, DELETE; got "SEND"/);
});

it("help for each command, exit 0", async () => {
  for (const command of ["serve", "jobs", "cron", "nodes"]) {
    const result = await tickerq(command, "--help");
    expect([command, result.code]).toEqual([command, 0]);
    expect(result.stdout).toMatch(/^usage: tickerq/);
  }
  expect((await tickerq("--help")).stdout).toMatch(/serve\s+run a node with the HTTP API and the dashboard/);
});
