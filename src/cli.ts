#!/usr/bin/env node
/**
 * The `tickerq` command: `tickerq migrate --db URL` applies the schema migrations on their own,
 * for deployments that run `migrate: false` at start. The URL's scheme picks the store.
 */

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TickerQError } from "./errors.js";
import type { SqlStoreHandle } from "./store/sql/sql-store.js";

const USAGE = `usage: tickerq migrate --db <url> [--prefix <tablePrefix>] [--schema <pgSchema>]

  <url>  postgres://user:pass@host:5432/db    PostgreSQL
         mysql://user:pass@host:3306/db       MySQL / MariaDB
         sqlite:path/to/file.db or a file path  SQLite`;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

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
    else flags.set(word.slice(2), argv[++i] ?? "");
  }
  return { args, flags };
}

/** Opens the store a URL names, loading only that store's driver. */
export async function storeForUrl(
  url: string,
  options: { tablePrefix?: string; schema?: string },
): Promise<SqlStoreHandle> {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    const { postgresStore } = await import("./postgres.js");
    return postgresStore({ connectionString: url, ...options });
  }
  if (/^(mysql|mariadb):\/\//i.test(url)) {
    const { mysqlStore } = await import("./mysql.js");
    return mysqlStore({ uri: url.replace(/^mariadb:/i, "mysql:"), tablePrefix: options.tablePrefix });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !/^file:\/\//i.test(url)) {
    throw new TickerQError(
      "INVALID_ARGUMENT",
      `--db must be a postgres://, mysql:// or sqlite: URL or a file path; got ${JSON.stringify(url)}`,
    );
  }
  const { sqliteStore } = await import("./sqlite.js");
  const filename = url.replace(/^sqlite:(\/\/)?/i, "").replace(/^file:\/\//i, "");
  return sqliteStore({ filename, tablePrefix: options.tablePrefix });
}

export async function runCli(
  argv: readonly string[],
  io: CliIo = { out: console.log, err: console.error },
): Promise<number> {
  const { args, flags } = parseFlags(argv);
  if (args[0] !== "migrate" || !flags.get("db")) {
    io.err(USAGE);
    return args[0] === "help" || flags.has("help") ? 0 : 2;
  }
  const url = flags.get("db") ?? "";
  let store: SqlStoreHandle | undefined;
  try {
    store = await storeForUrl(url, { tablePrefix: flags.get("prefix"), schema: flags.get("schema") });
    io.out(`tickerq: connecting to ${store.name} ...`);
    const result = await store.migrate((message) => io.out(`tickerq: ${message}`));
    io.out(
      result.applied.length === 0
        ? `tickerq: schema is up to date (version ${result.version})`
        : `tickerq: applied ${result.applied.length} migration(s); schema is at version ${result.version}`,
    );
    return 0;
  } catch (error) {
    io.err(`tickerq: ${error instanceof TickerQError ? `${error.code}: ${error.message}` : String(error)}`);
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
  runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
