#!/usr/bin/env node
/**
 * The `tickerq` command: `migrate` applies the schema migrations on their own, `serve` runs a
 * standalone node with the HTTP API and the dashboard, and `jobs`, `cron` and `nodes` inspect and
 * change what a database holds. The URL's scheme picks the store.
 * Exit status: 0 done, 1 the database refused or failed, 2 a usage error (and, for the verbs,
 * 3 not found, 4 not allowed in the job's state).
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseFlags } from "./cli/args.js";
import { describeFailure, openTarget, parseDb, UsageError, hasDriver, DRIVERS, type Target } from "./cli/db-url.js";
import type { CliIo } from "./cli/io.js";
import { exitCodeOf, SERVE_HELP, SERVE_USAGE, VERB_USAGE, VERBS_HELP } from "./cli/help.js";
import type { SqlStoreHandle } from "./store/sql/sql-store.js";
import { VERSION } from "./version.js";

export { storeForUrl, describeFailure } from "./cli/db-url.js";
export type { CliIo } from "./cli/io.js";

const USAGE = "usage: tickerq migrate --db <url> [--prefix <tablePrefix>] [--schema <pgSchema>]";

const HELP = `${USAGE}
       tickerq serve --db <url> [--functions ./jobs.js] [--port 4280]
       tickerq jobs ls|add|cancel|retry --db <url> …
       tickerq cron ls|add|trigger --db <url> …
       tickerq nodes ls --db <url>
       tickerq <command> --help | tickerq --version

Commands:
  migrate   create or upgrade tickerq's tables in a database
  serve     run a node with the HTTP API and the dashboard on one port
  jobs      list, schedule, cancel and retry one-shot jobs
  cron      list, add and trigger cron tickers
  nodes     list the nodes sharing the database

Run "tickerq <command> --help" for its options.`;

const MIGRATE_HELP = `${USAGE}

Creates tickerq's tables, or applies the migrations they lack, then exits. Use it when your
nodes start with \`migrate: false\`. Running it again on an up-to-date database changes nothing.

Options:
  --db <url>         the database (required):
                       postgres://user:pass@host:5432/db   PostgreSQL (also postgresql://)
                       mysql://user:pass@host:3306/db      MySQL 8 / MariaDB 10.6+
                       sqlite:path/to/file.db              SQLite (created if missing)
  --prefix <prefix>  prefix of every table and index (default tickerq_)
  --schema <name>    PostgreSQL schema for the tables (default: the connection's search_path)
  --help             this text

Each store needs its driver installed beside tickerq: pg, mysql2 or better-sqlite3.

Exit status: 0 migrated or up to date, 1 the database failed or refused, 2 a usage error.`;

const FLAGS: Record<string, readonly string[]> = { migrate: ["db", "prefix", "schema"] };

const HELPS: Record<string, string> = {
  migrate: MIGRATE_HELP,
  serve: SERVE_HELP,
  jobs: VERBS_HELP,
  cron: VERBS_HELP,
  nodes: VERBS_HELP,
};
const USAGES: Record<string, string> = { migrate: USAGE, serve: SERVE_USAGE, ...VERB_USAGE };

export async function runCli(
  argv: readonly string[],
  io: CliIo = { out: console.log, err: console.error },
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let parsed: ReturnType<typeof parseFlags>;
  let target: Target;
  try {
    parsed = parseFlags(argv);
    const { args, flags } = parsed;
    const command = args[0] === "help" ? args[1] : args[0];
    if (flags.has("version")) {
      io.out(VERSION);
      return 0;
    }
    if (args[0] === "help" || flags.has("help") || args.length === 0) {
      if (command !== undefined && HELPS[command]) io.out(HELPS[command]);
      else if (command === undefined) (args.length === 0 && !flags.has("help") ? io.err : io.out)(HELP);
      else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
      return args.length === 0 && !flags.has("help") ? 2 : 0;
    }
    if (command !== "migrate") {
      if (command === undefined || !USAGES[command]) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
      return await runOther(command, args.slice(1), flags, io, env);
    }
    if (args.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(args[1])}`);
    const unknown = [...flags.keys()].filter((name) => !FLAGS.migrate!.includes(name));
    if (unknown.length > 0) throw new UsageError(`unknown option --${unknown[0]}`);
    const db = flags.get("db");
    if (!db) throw new UsageError("--db <url> is required");
    target = parseDb(db);
    if (flags.has("schema") && target.store !== "postgres") {
      throw new UsageError("--schema applies to PostgreSQL only");
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`tickerq: ${error.message}`);
    io.err(USAGE);
    io.err('Run "tickerq migrate --help" for the URL forms.');
    return 2;
  }

  const url = parsed.flags.get("db")!;
  if (!(await hasDriver(target.store))) {
    io.err(
      `tickerq: the ${target.store === "sqlite" ? "SQLite" : target.store === "mysql" ? "MySQL" : "PostgreSQL"} ` +
        `store needs the ${DRIVERS[target.store]} package, which is not installed: npm install ${DRIVERS[target.store]}`,
    );
    return 1;
  }
  let store: SqlStoreHandle | undefined;
  try {
    store = await openTarget(target, { tablePrefix: parsed.flags.get("prefix"), schema: parsed.flags.get("schema") });
    io.out(`tickerq: connecting to ${store.name} ...`);
    const result = await store.migrate((message) => io.out(`tickerq: ${message}`));
    io.out(
      result.applied.length === 0
        ? `tickerq: schema is up to date (version ${result.version})`
        : `tickerq: applied ${result.applied.length} migration(s); schema is at version ${result.version}`,
    );
    return 0;
  } catch (error) {
    io.err(`tickerq: ${describeFailure(target, url, error)}`);
    return 1;
  } finally {
    await store?.close().catch(() => {});
  }
}

/** serve and the verbs: usage errors with the command's usage line (2), the library's refusals by kind. */
async function runOther(
  command: string,
  args: string[],
  flags: ReadonlyMap<string, string>,
  io: CliIo,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  try {
    if (command === "serve") {
      if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`);
      const { serve } = await import("./cli/serve.js");
      return await serve(flags, io, env);
    }
    const { runVerb } = await import("./cli/verbs.js");
    return await runVerb(command as "jobs" | "cron" | "nodes", args, flags, io, env);
  } catch (error) {
    const code = exitCodeOf(error);
    if (code === 2 && error instanceof UsageError) {
      io.err(`tickerq: ${error.message}`);
      io.err(USAGES[command]!);
      io.err(`Run "tickerq ${command} --help" for the options.`);
      return 2;
    }
    if (code !== null) {
      io.err(`tickerq: ${(error as Error).message}`);
      return code;
    }
    const url = flags.get("db") ?? env.TICKERQ_DB ?? "";
    let target: Pick<Target, "store"> = { store: "sqlite" };
    try {
      target = parseDb(url);
    } catch {
      // already parsed by the command; this is only for the message
    }
    io.err(`tickerq: ${describeFailure(target, url, error)}`);
    return 1;
  }
}

// Run only as a program (npx resolves the bin symlink to this file), not when imported by tests.
function isMain(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
      // serve has stopped its node; nothing it leaves behind (a pool's idle timer) should hold the exit.
      if (process.argv[2] === "serve") process.exit(code);
    },
    (error: unknown) => {
      console.error("tickerq: unexpected error:", error);
      process.exitCode = 1;
    },
  );
}
