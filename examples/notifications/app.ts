/**
 * The example application: registration schedules the welcome email, and the dashboard is
 * mounted at /admin/tickerq. Exported as a function so tests can run it on any store and port.
 */

import { createServer, type Server } from "node:http";
import { randomUUID } from "node:crypto";
import { createTickerQ, TickerQError, type Store } from "../../src/index.js";
import { createDashboard, nodeHandler } from "../../src/dashboard/index.js";
import { functions } from "./jobs.js";
import { db } from "./app-data.js";

export interface AppOptions {
  store: Store;
  port: number;
  nodeId?: string;
}

/** The page at /: what to try, so the URL `npm start` prints first leads somewhere. */
export function homePage(origin: string): string {
  const curl =
    `curl -X POST ${origin}/api/users/register -H 'content-type: application/json' ` +
    `-d '{"email":"user@example.com","name":"John Doe"}'`;
  const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>tickerq notifications example</title>
<style>body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 3rem auto; padding: 0 1rem }
pre { background: #f3f4f6; padding: 1rem; overflow-x: auto; white-space: pre-wrap }</style>
<h1>tickerq notifications example</h1>
<p>Register a user; the welcome email is scheduled 5 minutes later:</p>
<pre>${escape(curl)}</pre>
<p>Then watch it in the <a href="/admin/tickerq/">dashboard</a> (admin / secure-password).</p>
</html>
`;
}

export async function startApp(options: AppOptions) {
  const tq = createTickerQ({
    functions,
    store: options.store,
    maxConcurrency: 10,
    nodeId: options.nodeId ?? "notification-server",
    onException: (error, info) => {
      const retry = info.willRetry ? "; it will be retried" : "; no retries left";
      console.error(`[tickerq] job ${info.id} (${info.type} ${info.functionName}) failed${retry}:`, error);
    },
    onCancelled: (info) => console.warn(`[tickerq] job ${info.id} (${info.functionName}) was cancelled`),
  });
  await tq.start();

  const dashboard = createDashboard(tq, {
    basePath: "/admin/tickerq",
    auth: { type: "basic", username: "admin", password: "secure-password" },
  });
  const serveDashboard = nodeHandler(dashboard);

  const server: Server = createServer((req, res) => {
    if (req.method === "POST" && req.url === "/api/users/register") {
      void register(req, res);
      return;
    }
    if (req.method === "GET" && (req.url === "/" || req.url === "/index.html")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(homePage(`http://${req.headers.host}`));
      return;
    }
    serveDashboard(req, res, () => {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    });
  });

  async function register(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) {
    try {
      let body = "";
      for await (const chunk of req) body += chunk;
      const { email, name } = JSON.parse(body || "{}") as { email?: string; name?: string };
      const user = { id: randomUUID(), email: String(email), name: String(name), createdAt: new Date() };
      const job = await tq.timeTickers.add({
        function: "SendWelcomeEmail",
        executionTime: new Date(Date.now() + 5 * 60_000),
        request: { email: user.email, name: user.name, userId: user.id },
        description: `Welcome email for ${user.email}`,
      });
      db.users.set(user.id, user);
      db.notifications.push({ id: randomUUID(), userId: user.id, message: "Welcome aboard", createdAt: new Date() });
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ userId: user.id, welcomeJobId: job.id }) + "\n");
    } catch (error) {
      const status = error instanceof TickerQError || error instanceof SyntaxError ? 400 : 500;
      res
        .writeHead(status, { "content-type": "application/json" })
        .end(JSON.stringify({ error: (error as Error).message }) + "\n");
    }
  }

  await new Promise<void>((resolve) => server.listen(options.port, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;

  return {
    tq,
    port,
    async stop() {
      dashboard.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await tq.stop();
    },
  };
}
