/**
 * `tickerq serve`: a standalone node with the HTTP API (at the root) and the dashboard (at
 * /dashboard) on one port, credentials from environment variables, and a graceful stop on
 * SIGTERM or SIGINT (stop() drains, then exit 0).
 */

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { DashboardAuth } from "../dashboard/auth.js";
import type { AnyFunctionDefinition } from "../functions.js";
import type { ApiAuth } from "../http/auth.js";
import { TickerQError } from "../errors.js";
import type { CliIo } from "./io.js";
import { intFlag, listFlag, onlyFlags } from "./args.js";
import { dbOf, describeFailure, missingDriver, openTarget, UsageError } from "./db-url.js";
import { loadFunctions } from "./functions-module.js";

export const SERVE_FLAGS = [
  "db",
  "prefix",
  "schema",
  "functions",
  "port",
  "host",
  "auth",
  "allow-hosts",
  "allow-addresses",
  "node-id",
  "concurrency",
] as const;

interface Auths {
  api: ApiAuth;
  dashboard: DashboardAuth;
}

function authOf(mode: string | undefined, env: NodeJS.ProcessEnv): Auths {
  if (mode === "none") return { api: { type: "none" }, dashboard: { type: "none" } };
  if (mode !== undefined && mode !== "token")
    throw new UsageError(`--auth must be "token" or "none"; got ${JSON.stringify(mode)}`);
  const token = env.TICKERQ_API_TOKEN;
  if (!token || token.length < 16)
    throw new UsageError(
      token
        ? `TICKERQ_API_TOKEN must be at least 16 characters; it has ${token.length}`
        : "set TICKERQ_API_TOKEN (at least 16 characters) to the API's token, or pass --auth none",
    );
  const read = env.TICKERQ_API_READ_TOKEN;
  if (read !== undefined && read.length < 16)
    throw new UsageError(`TICKERQ_API_READ_TOKEN must be at least 16 characters; it has ${read.length}`);
  const tokens = [{ secret: token, scopes: ["read", "write"] as const }];
  if (read) tokens.push({ secret: read, scopes: ["read"] as never });
  const password = env.TICKERQ_DASHBOARD_PASSWORD;
  const dashboard: DashboardAuth = password
    ? { type: "basic", username: env.TICKERQ_DASHBOARD_USER || "admin", password }
    : { type: "apiKey", key: token };
  return { api: { type: "bearer", tokens }, dashboard };
}

/** Resolves when the node has stopped (the exit status), after a signal. */
export async function serve(
  flags: ReadonlyMap<string, string>,
  io: CliIo,
  env: NodeJS.ProcessEnv,
  signals: Pick<NodeJS.Process, "on" | "removeListener"> = process,
): Promise<number> {
  onlyFlags(flags, SERVE_FLAGS);
  const { target, url } = dbOf(flags, env);
  const port = intFlag(flags, "port", 0, 65535, 4280);
  const host = flags.get("host") ?? "127.0.0.1";
  const concurrency = intFlag(flags, "concurrency", 1, 10_000, 10);
  const auths = authOf(flags.get("auth"), env);
  const allowHosts = listFlag(flags.get("allow-hosts") ?? env.TICKERQ_HTTP_ALLOW_HOSTS);
  const allowAddresses = listFlag(flags.get("allow-addresses") ?? env.TICKERQ_HTTP_ALLOW_ADDRESSES);
  const own: AnyFunctionDefinition[] = flags.has("functions")
    ? await loadFunctions(flags.get("functions")!, process.cwd())
    : [];

  const [{ createTickerQ }, { createApi, httpFunction }, { createDashboard, nodeHandler }] = await Promise.all([
    import("../tickerq.js"),
    import("../http/index.js"),
    import("../dashboard/index.js"),
  ]);
  const functions = [...own];
  if (!own.some((fn) => fn.name === "http")) {
    try {
      functions.push(
        httpFunction({
          allowHosts: allowHosts.length > 0 ? allowHosts : ["*"],
          allowAddresses,
          onResponse: (response, ctx) => io.out(`tickerq: job ${ctx.id} (http): answered ${response.status}`),
        }),
      );
    } catch (error) {
      if (error instanceof TickerQError) throw new UsageError(`--allow-hosts/--allow-addresses: ${error.message}`);
      throw error;
    }
  }

  const missing = await missingDriver(target);
  if (missing) {
    io.err(`tickerq: ${missing}`);
    return 1;
  }
  const store = await openTarget(target, { tablePrefix: flags.get("prefix"), schema: flags.get("schema") });
  let tq: ReturnType<typeof createTickerQ>;
  try {
    tq = createTickerQ({
      functions,
      store,
      maxConcurrency: concurrency,
      ...(flags.has("node-id") ? { nodeId: flags.get("node-id") } : {}),
    });
  } catch (error) {
    await store.close().catch(() => {});
    if (error instanceof TickerQError) throw new UsageError(error.message);
    throw error;
  }
  try {
    await tq.start();
  } catch (error) {
    io.err(`tickerq: ${describeFailure(target, url, error)}`);
    await tq.stop().catch(() => {});
    return 1;
  }
  tq.events.on("executed", (e) => {
    const failure = e.error instanceof Error ? `: ${e.error.message}` : "";
    io.out(
      `tickerq: job ${e.id} (${e.function}) ${e.status === "Idle" ? "failed, retry scheduled" : e.status}${failure}`,
    );
  });

  const api = createApi(tq, { auth: auths.api });
  const dashboard = createDashboard(tq, { auth: auths.dashboard, basePath: "/dashboard" });
  const toApi = nodeHandler(api);
  const toDashboard = nodeHandler(dashboard);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/" && (req.method === "GET" || req.method === "HEAD")) {
      res.writeHead(302, { location: "/dashboard/" }).end();
      return;
    }
    toDashboard(req, res, () => toApi(req, res));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
  } catch (error) {
    io.err(`tickerq: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    dashboard.close();
    await tq.stop();
    return 1;
  }
  const bound = (server.address() as AddressInfo).port;
  const origin = `http://${host.includes(":") ? `[${host}]` : host}:${bound}`;
  io.out(
    `tickerq: node ${tq.nodeId} on ${store.name}, ${functions.length} function(s): ${functions.map((f) => f.name).join(", ")}`,
  );
  io.out(`tickerq: listening on ${origin} (API at ${origin}/, dashboard at ${origin}/dashboard/)`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const done = (code: number) => {
      signals.removeListener("SIGTERM", onSignal);
      signals.removeListener("SIGINT", onSignal);
      resolve(code);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        // A second signal while draining ends the wait.
        io.err(`tickerq: ${signal} again: exiting without waiting for running jobs`);
        done(1);
        return;
      }
      stopping = true;
      io.out(`tickerq: ${signal}: draining (no new claims; running jobs finish)`);
      server.close();
      dashboard.close();
      api.close();
      tq.stop().then(
        () => {
          server.closeAllConnections();
          io.out("tickerq: stopped");
          done(0);
        },
        (error: unknown) => {
          io.err(`tickerq: stop failed: ${error instanceof Error ? error.message : String(error)}`);
          done(1);
        },
      );
    };
    signals.on("SIGTERM", onSignal);
    signals.on("SIGINT", onSignal);
  });
}
