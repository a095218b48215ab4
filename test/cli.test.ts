/** The `tickerq` command, run as a child process: usage errors, help, and what a failed migrate says. */

import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it, vi } from "vitest";
import { MYSQL_URL, PG_URL, checkMysql, checkPostgres, postgresScratch } from "./helpers/databases.js";

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
// The child runs in a scratch directory, so tsx is named by path rather than resolved from there.
const tsx = new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const cwd = mkdtempSync(join(tmpdir(), "tickerq-cli-"));
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

const [postgres, mysql] = await Promise.all([checkPostgres(), checkMysql()]);
// Each test starts a child through tsx: seconds on an idle machine, far more on a loaded one.
vi.setConfig({ testTimeout: 90_000 });

function tickerq(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", tsx, cli, ...args], { cwd }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A URL with one part replaced. */
function withUrl(base: string, change: (url: URL) => void): string {
  const url = new URL(base);
  change(url);
  return url.toString();
}

describe("usage", () => {
  it("with no arguments: the usage on stderr, exit 2", async () => {
    const result = await tickerq();
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("usage: tickerq migrate --db <url>");
  });

  for (const args of [["--help"], ["help"]]) {
    it(`${args.join(" ")}: the commands on stdout, exit 0`, async () => {
      const result = await tickerq(...args);
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(result.stdout).toContain("migrate   create or upgrade");
    });
  }

  for (const args of [
    ["migrate", "--help"],
    ["help", "migrate"],
    ["migrate", "--db", "x", "--help"],
  ]) {
    it(`${args.join(" ")}: migrate's options and URL forms, exit 0`, async () => {
      const result = await tickerq(...args);
      expect(result).toMatchObject({ code: 0, stderr: "" });
      expect(result.stdout).toContain("--db <url>");
      expect(result.stdout).toContain("postgresql://");
      expect(result.stdout).toContain("sqlite:path/to/file.db");
    });
  }

  const refused: [string, string[], RegExp][] = [
    [
      "a word that is no URL",
      ["migrate", "--db", "not-a-url"],
      /--db must be a postgres:\/\/, postgresql:\/\/, mysql:\/\/ or sqlite: URL; got "not-a-url"/,
    ],
    ["another scheme", ["migrate", "--db", "http://localhost/db"], /scheme http: is not one tickerq knows/],
    ["postgres: without //", ["migrate", "--db", "postgres:localhost/db"], /--db must start with postgres:\/\//],
    [
      "a port out of range",
      ["migrate", "--db", "postgres://u@127.0.0.1:99999/db"],
      /port "99999"; a port is a number from 1 to 65535/,
    ],
    ["a port that is no number", ["migrate", "--db", "mysql://root@127.0.0.1:33o6/db"], /port "33o6"/],
    ["sqlite: with no file", ["migrate", "--db", "sqlite:"], /names no file/],
    ["no --db", ["migrate"], /--db <url> is required/],
    ["--db without its value", ["migrate", "--db"], /--db needs a value/],
    ["an unknown option", ["migrate", "--db", "sqlite:x.db", "--prefx", "a_"], /unknown option --prefx/],
    [
      "--schema off PostgreSQL",
      ["migrate", "--db", "sqlite:x.db", "--schema", "s"],
      /--schema applies to PostgreSQL only/,
    ],
    ["an unknown command", ["migrat", "--db", "sqlite:x.db"], /unknown command "migrat"/],
  ];
  for (const [what, args, message] of refused) {
    it(`refuses ${what}: the reason and the usage line on stderr, exit 2, nothing created`, async () => {
      const result = await tickerq(...args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain("usage: tickerq migrate");
      expect(result.stderr).not.toContain("Invalid URL");
      expect(readdirSync(cwd)).toEqual([]);
    });
  }
});

describe("migrate on SQLite", () => {
  it("creates the file and the schema, then finds it up to date", async () => {
    const first = await tickerq("migrate", "--db", "sqlite:migrated.db");
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied \d+ migration\(s\); schema is at version \d+/);
    expect(existsSync(join(cwd, "migrated.db"))).toBe(true);
    const again = await tickerq("migrate", "--db", `sqlite://${join(cwd, "migrated.db")}`);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/schema is up to date/);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(cwd, `migrated.db${suffix}`), { force: true });
  });
});

describe.skipIf(!postgres.available)("migrate on PostgreSQL", () => {
  it("migrates a schema", async () => {
    const scratch = await postgresScratch();
    try {
      const result = await tickerq("migrate", "--db", PG_URL, "--schema", scratch.schema);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    } finally {
      await scratch.drop();
    }
  });

  it("says a database does not exist, not that the server cannot be reached", async () => {
    const result = await tickerq(
      "migrate",
      "--db",
      withUrl(PG_URL, (u) => (u.pathname = "/tickerq_no_such_db")),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the database in postgres:\/\/.+\/tickerq_no_such_db does not exist/);
    expect(result.stderr).not.toContain("cannot reach");
  });

  it("says the role was refused, not that the server cannot be reached", async () => {
    const result = await tickerq(
      "migrate",
      "--db",
      withUrl(PG_URL, (u) => (u.username = "tickerq_no_such_role")),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refused the user or password .*tickerq_no_such_role/);
    expect(result.stderr).not.toContain("cannot reach");
  });

  it("says the server cannot be reached when it cannot, and hides the password", async () => {
    const result = await tickerq("migrate", "--db", "postgres://u:secret@127.0.0.1:1/db");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("cannot reach PostgreSQL at 127.0.0.1:1");
    expect(result.stderr).not.toContain("secret");
  });
});

describe.skipIf(!mysql.available)("migrate on MySQL/MariaDB", () => {
  it("says a database does not exist, not that the server cannot be reached", async () => {
    const result = await tickerq(
      "migrate",
      "--db",
      withUrl(MYSQL_URL, (u) => (u.pathname = "/tickerq_no_such_db")),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/the database in mysql:\/\/.+\/tickerq_no_such_db does not exist/);
    expect(result.stderr).not.toContain("cannot reach");
  });

  it("says the user was refused, not that the server cannot be reached", async () => {
    const result = await tickerq(
      "migrate",
      "--db",
      withUrl(MYSQL_URL, (u) => (u.username = "tickerq_no_such_user")),
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/refused the user or password .*tickerq_no_such_user/);
    expect(result.stderr).not.toContain("cannot reach");
  });
});
