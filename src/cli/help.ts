/**
 * The command line's help texts, usage lines and exit statuses: light, so that `tickerq migrate`
 * and `--help` load none of serve's or the verbs' modules.
 */

import { TickerQError } from "../errors.js";
import { UsageError } from "./db-url.js";

export const SERVE_USAGE =
  "usage: tickerq serve --db <url> [--functions ./jobs.js] [--port 4280] [--host 127.0.0.1] [--auth token|none]";

export const SERVE_HELP = `${SERVE_USAGE}

Runs a tickerq node with the HTTP API at / and the dashboard at /dashboard/ on one port, until
SIGTERM or SIGINT: then it stops claiming, lets running jobs finish (30 s), and exits 0.

Options:
  --db <url>               the database (or TICKERQ_DB): postgres://…, mysql://…, sqlite:file.db
  --functions <module>     a module exporting defineFunction() results (optional: the built-in
                           "http" function is always there)
  --port <n>               0 picks a free port (default 4280)
  --host <address>         the interface to listen on (default 127.0.0.1; 0.0.0.0 for all)
  --auth token|none        token (default): credentials from the environment, below;
                           none: no authentication at all (only behind your own gateway)
  --allow-hosts <list>     hosts the http function may call, comma-separated: names, IPs,
                           *.domain, * (or TICKERQ_HTTP_ALLOW_HOSTS; default *)
  --allow-addresses <list> private CIDR ranges it may reach, e.g. 10.0.0.0/8
                           (or TICKERQ_HTTP_ALLOW_ADDRESSES; default none)
  --node-id <id>           this node's id (default: host name and process id)
  --concurrency <n>        jobs run at once (default 10)
  --prefix, --schema       table prefix, PostgreSQL schema (as for migrate)

Environment (with --auth token):
  TICKERQ_API_TOKEN           required, at least 16 characters: the API's bearer token with
                              the read and write scopes
  TICKERQ_API_READ_TOKEN      optional: a second bearer token with the read scope only
  TICKERQ_DASHBOARD_PASSWORD  optional: the dashboard signs in with this password (user
                              TICKERQ_DASHBOARD_USER, default "admin"); without it, with the
                              API token as its key

Exit status: 0 stopped by a signal after draining, 1 the database failed or the port was
taken, 2 a usage error.`;

export const VERB_USAGE = {
  jobs: "usage: tickerq jobs ls|add|cancel|retry --db <url> [options] [--json]",
  cron: "usage: tickerq cron ls|add|trigger --db <url> [options] [--json]",
  nodes: "usage: tickerq nodes ls --db <url> [--json]",
} as const;

export const VERBS_HELP = `usage: tickerq <jobs|cron|nodes> <verb> --db <url> [options] [--json]

  jobs ls [--status S[,S…]] [--function F] [--limit 50]
                                   time tickers, latest execution time first
  jobs add FUNCTION [--request JSON] [--at TIME | --in 5m] [--retries N] [--id ID]
           [--description TEXT] [--functions ./jobs.js]
                                   schedule a job (TIME: ISO 8601; --in: 30s, 5m, 2h, 1d)
  jobs cancel ID                   cancel a queued or running job
  jobs retry ID                    run a Failed, Cancelled or Skipped job again
  cron ls [--function F]           cron tickers and their next occurrence
  cron add FUNCTION --expression "0 0 9 * * *" [--time-zone Europe/Paris] [--request JSON]
           [--description TEXT] [--functions ./jobs.js]
  cron trigger ID                  run a cron ticker once, now
  nodes ls                         nodes and their last heartbeat

Every verb takes --db <url> (or TICKERQ_DB), --prefix and --schema as migrate does, and
--json to print JSON instead of a table. Without --functions, add accepts any function name
and stores the request unchecked; with it, the name and the request are checked as a node
checks them.

Exit status: 0 done, 1 the database failed, 2 a usage error or a value tickerq refuses (the
message names the field and the value), 3 no such job or cron ticker, 4 the job's state does
not allow it (e.g. retrying a job that succeeded).`;

/** Exit statuses by what went wrong; documented in the help and the README. */
export const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 3, state: 4 } as const;

export function exitCodeOf(error: unknown): number | null {
  if (error instanceof UsageError) return EXIT.usage;
  if (!(error instanceof TickerQError)) return null;
  switch (error.code) {
    case "INVALID_ARGUMENT":
    case "INVALID_CRON":
    case "INVALID_TIME_ZONE":
    case "UNKNOWN_FUNCTION":
    case "INVALID_REQUEST":
    case "REQUEST_TOO_LARGE":
      return EXIT.usage;
    case "NOT_FOUND":
      return EXIT.notFound;
    case "INVALID_STATE":
      return EXIT.state;
    default:
      return null;
  }
}
