/** tickerq/dashboard: the live dashboard, its adapters for Node servers, and a standalone server. */

export { createDashboard } from "./dashboard.js";
export type { Dashboard, DashboardOptions } from "./dashboard.js";
export type { DashboardAuth, AuthorizeHook } from "./auth.js";
export { REQUEST_HEADER } from "./auth.js";
export { nodeHandler, expressMiddleware, fastifyPlugin, honoMiddleware } from "./adapters.js";
export type { NodeHandler } from "./adapters.js";
export { serveDashboard } from "./serve.js";
export type { ServeDashboardOptions, DashboardServer } from "./serve.js";
export type { LiveOptions } from "./live.js";
export { describeCron } from "./cron-describe.js";
