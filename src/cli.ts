#!/usr/bin/env node
/**
 * The `tickerq` command: `tickerq migrate --db URL` applies the schema migrations on their own,
 * for deployments that run `migrate: false` at start. The URL's scheme picks the store.
 * Exit status: 0 done, 1 the database refused or failed, 2 a usage error.
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TickerQError } from "./errors.js";
import type { SqlStoreHandle } from "./store/sql/sql-store.js";
import { VERSION } from "./tickerq.js";

const USAGE = "usage: tickerq migrate --db <url> [--prefix <tablePrefix>] [--schema <pgSchema>]";

const HELP = `${USAGE}
       tickerq <command> --help | tickerq --version

Commands:
  migrate   create or upgrade tickerq's tables in a database

Run "tickerq migrate --help" for its options.`;

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

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

/** A mistake in the command line: reported with the usage line, exit status 2. */
class UsageError extends Error {}

/** Parses `--name value` and `--name=value` pairs; positional words come back in `args`. */
function parseFlags(argv: readonly string[]): { args: string[]; flags: Map<string, string> } {
  const args: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? "";
    if (!word.startsWith("--")) {
      args.push(word);
      continue;
    }
    const eq = word.indexOf("=");
    if (eq > 0) flags.set(word.slice(2, eq), word.slice(eq + 1));
    else if (word === "--help" || word === "--version") flags.set(word.slice(2), "");
    else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`${word} needs a value`);
      flags.set(word.slice(2), value);
      i++;
    }
  }
  return { args, flags };
}

type Target =
  { store: "postgres"; url: string } | { store: "mysql"; url: string } | { store: "sqlite"; filename: string };

/**
 * What `--db` names: postgres://, postgresql://, mysql:// or sqlite:<path>; anything else is a
 * usage error, and so is a URL that does not parse (a bad port, most often), said plainly.
 */
function parseDb(url: string): Target {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === "sqlite") {
    // sqlite:file.db and sqlite:/abs/file.db, and the URL-like sqlite://file.db, sqlite:///abs/file.db
    const filename = url.slice("sqlite:".length).replace(/^\/\//, "");
    if (filename === "") throw new UsageError(`--db ${JSON.stringify(url)} names no file`);
    return { store: "sqlite", filename };
  }
  if ((scheme === "postgres" || scheme === "postgresql" || scheme === "mysql") && url.startsWith(`${scheme}://`)) {
    checkUrl(url);
    return scheme === "mysql" ? { store: "mysql", url } : { store: "postgres", url };
  }
  if (scheme === "postgres" || scheme === "postgresql" || scheme === "mysql") {
    throw new UsageError(`--db must start with ${scheme}://; got ${JSON.stringify(url)}`);
  }
  throw new UsageError(
    `--db must be a postgres://, postgresql://, mysql:// or sqlite: URL; got ${JSON.stringify(url)}` +
      (scheme ? ` (scheme ${scheme}: is not one tickerq knows)` : ""),
  );
}

function checkUrl(url: string): void {
  // What WHATWG URL parsing rejects here is nearly always the authority: say which part.
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1] ?? "";
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const port = /^(?:\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostPort)?.[1];
  if (port !== undefined && port !== "" && (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new UsageError(`--db has port ${JSON.stringify(port)}; a port is a number from 1 to 65535`);
  }
  try {
    new URL(url);
  } catch {
    throw new UsageError(
      `--db ${JSON.stringify(redact(url))} is not a valid URL (check the host, and percent-encode special characters in the password)`,
    );
  }
}

/** The URL with its password hidden, for messages. */
function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}

const DRIVERS = { postgres: "pg", mysql: "mysql2", sqlite: "better-sqlite3" } as const;

/** Opens the store a URL names, loading only that store's driver. */
export async function storeForUrl(
  url: string,
  options: { tablePrefix?: string; schema?: string },
): Promise<SqlStoreHandle> {
  let target: Target;
  try {
    target = parseDb(url);
  } catch (error) {
    throw new TickerQError("INVALID_ARGUMENT", (error as Error).message);
  }
  return openTarget(target, options);
}

async function openTarget(target: Target, options: { tablePrefix?: string; schema?: string }): Promise<SqlStoreHandle> {
  switch (target.store) {
    case "postgres": {
      const { postgresStore } = await import("./postgres.js");
      return postgresStore({ connectionString: target.url, ...options });
    }
    case "mysql": {
      const { mysqlStore } = await import("./mysql.js");
      return mysqlStore({ uri: target.url, tablePrefix: options.tablePrefix });
    }
    case "sqlite": {
      const { sqliteStore } = await import("./sqlite.js");
      return sqliteStore({ filename: target.filename, tablePrefix: options.tablePrefix });
    }
  }
}

/** Whether the store's driver package can be loaded from where tickerq is installed. */
async function hasDriver(store: Target["store"]): Promise<boolean> {
  try {
    await import(DRIVERS[store]);
    return true;
  } catch {
    return false;
  }
}

/** The driver's own error code, from the error or the errors it wraps. */
function driverCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && !(e instanceof TickerQError)) return code;
  }
  return undefined;
}

function driverMessage(error: unknown): string {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (!(e instanceof TickerQError) && e instanceof Error && e.message) return e.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * A failure as the operator needs to read it: a database that does not exist, a role or
 * password refused, are said as such, not as "cannot reach".
 */
export function describeFailure(target: Pick<Target, "store">, url: string, error: unknown): string {
  const code = driverCode(error);
  const where = target.store === "sqlite" ? url : redact(url);
  const reason = driverMessage(error);
  switch (code) {
    case "3D000": // PostgreSQL invalid_catalog_name
    case "ER_BAD_DB_ERROR":
      return `the database in ${where} does not exist (${reason}); create it first, or fix the URL`;
    case "28000": // PostgreSQL invalid_authorization_specification: no such role, or pg_hba refuses it
    case "28P01": // PostgreSQL invalid_password
    case "ER_ACCESS_DENIED_ERROR":
    case "ER_DBACCESS_DENIED_ERROR":
    case "ER_ACCESS_DENIED_NO_PASSWORD_ERROR":
      return `the server refused the user or password in ${where} (${reason})`;
    case "42501": // PostgreSQL insufficient_privilege
    case "ER_TABLEACCESS_DENIED_ERROR":
    case "ER_SPECIFIC_ACCESS_DENIED_ERROR":
      return `the user in ${where} may not create tickerq's tables (${reason})`;
  }
  if (error instanceof TickerQError) return `${error.code}: ${error.message}`;
  return reason;
}

export async function runCli(
  argv: readonly string[],
  io: CliIo = { out: console.log, err: console.error },
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
      if (command === "migrate") io.out(MIGRATE_HELP);
      else if (command === undefined) (args.length === 0 && !flags.has("help") ? io.err : io.out)(HELP);
      else throw new UsageError(`unknown command ${JSON.stringify(command)}`);
      return args.length === 0 && !flags.has("help") ? 2 : 0;
    }
    if (command !== "migrate") throw new UsageError(`unknown command ${JSON.stringify(command)}`);
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
    },
    (error: unknown) => {
      console.error("tickerq: unexpected error:", error);
      process.exitCode = 1;
    },
  );
}
