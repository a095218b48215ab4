/** tickerq/http: the HTTP API for machine clients, and the adapters that mount it in Node servers. */

export { createApi } from "./api.js";
export type { Api, ApiOptions } from "./api.js";
export type { ApiAuth, ApiAuthorizeHook, ApiCredential, ApiScope } from "./auth.js";
export type { Problem } from "./problem.js";
export { IDEMPOTENCY_HEADER } from "./idempotency.js";
export { httpFunction, HttpJobError, HTTP_METHODS } from "./http-function.js";
export type { HttpFunctionOptions, HttpJobRequest, HttpJobResponse, HttpMethod } from "./http-function.js";
// One set of adapters for the dashboard and the API: each forwards requests under the base path.
export { nodeHandler, expressMiddleware, fastifyPlugin, honoMiddleware } from "../web/adapters.js";
export type { NodeHandler } from "../web/adapters.js";
