/** serveDashboard: the dashboard on its own port, for scripts and quick looks. */

import type { AddressInfo } from "node:net";
import { createServer, type Server } from "node:http";
import type { TickerQ } from "../tickerq.js";
import { createDashboard, type Dashboard, type DashboardOptions } from "./dashboard.js";
import { nodeHandler } from "./adapters.js";

export interface ServeDashboardOptions extends DashboardOptions {
  /** 0 picks a free port. @default 4280 */
  port?: number;
  /** Listen on this interface only. @default "127.0.0.1" (not reachable from other machines) */
  hostname?: string;
}

export interface DashboardServer {
  readonly url: string;
  readonly port: number;
  readonly dashboard: Dashboard;
  /** The underlying node:http server. */
  readonly server: Server;
  close(): Promise<void>;
}

export async function serveDashboard(tq: TickerQ<any>, options: ServeDashboardOptions): Promise<DashboardServer> {
  const dashboard = createDashboard(tq, options);
  const server = createServer(nodeHandler(dashboard));
  const hostname = options.hostname ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 4280, hostname, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host}:${port}${dashboard.basePath}/`,
    port,
    dashboard,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        dashboard.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
