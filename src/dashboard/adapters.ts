/** Mounting the dashboard in Node servers: the adapters it shares with the HTTP API (src/web/adapters.ts). */

export { nodeHandler, expressMiddleware, fastifyPlugin, honoMiddleware } from "../web/adapters.js";
export type { NodeHandler, WebApp } from "../web/adapters.js";
