/**
 * Database URLs on the command line: which store a URL names, opening it with only that
 * store's driver, and saying a failure the way an operator needs to read it.
 */

import { TickerQError } from "../errors.js";
import type { SqlStoreHandle } from "../store/sql/sql-store.js";

/** A mistake in the command line: reported with the usage line, exit status 2. */
export class UsageError extends Error {}

export type Target =
  { store: "postgres"; url: string } | { store: "mysql"; url: string } | { store: "sqlite"; filename: string };

/**
 * What `--db` names: postgres://, postgresql://, mysql:// or sqlite:<path>; anything else is a
 * usage error, and so is a URL that does not parse (a bad port, most often), said plainly.
 */
export function parseDb(url: string): Target {
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
export function redact(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]*:)[^@/]*@/i, "$1***@");
}

export const DRIVERS = { postgres: "pg", mysql: "mysql2", sqlite: "better-sqlite3" } as const;

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

export async function openTarget(
  target: Target,
  options: { tablePrefix?: string; schema?: string },
): Promise<SqlStoreHandle> {
  switch (target.store) {
    case "postgres": {
      const { postgresStore } = await import("../postgres.js");
      return postgresStore({ connectionString: target.url, ...options });
    }
    case "mysql": {
      const { mysqlStore } = await import("../mysql.js");
      return mysqlStore({ uri: target.url, tablePrefix: options.tablePrefix });
    }
    case "sqlite": {
      const { sqliteStore } = await import("../sqlite.js");
      return sqliteStore({ filename: target.filename, tablePrefix: options.tablePrefix });
    }
  }
}

/** Whether the store's driver package can be loaded from where tickerq is installed. */
export async function hasDriver(store: Target["store"]): Promise<boolean> {
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

/** `--db`, else the TICKERQ_DB environment variable (which keeps a password out of `ps`). */
export function dbOf(flags: ReadonlyMap<string, string>, env: NodeJS.ProcessEnv): { target: Target; url: string } {
  const url = flags.get("db") ?? env.TICKERQ_DB;
  if (!url) throw new UsageError("--db <url> is required (or set TICKERQ_DB)");
  const target = parseDb(url);
  if (flags.has("schema") && target.store !== "postgres") throw new UsageError("--schema applies to PostgreSQL only");
  return { target, url };
}

/** Why the store cannot be opened from here (its driver is not installed), or null. */
export async function missingDriver(target: Target): Promise<string | null> {
  if (await hasDriver(target.store)) return null;
  const name = target.store === "sqlite" ? "SQLite" : target.store === "mysql" ? "MySQL" : "PostgreSQL";
  return `the ${name} store needs the ${DRIVERS[target.store]} package, which is not installed: npm install ${DRIVERS[target.store]}`;
}
