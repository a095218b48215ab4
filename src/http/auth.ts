/**
 * Who may call the API and what they may do: none (an explicit opt-in), API keys in a header,
 * bearer tokens, or the host's hook; each credential carries scopes, `read` and `write`.
 * Machines send credentials on every call, so no session cookie and no anti-CSRF header.
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { TickerQError } from "../errors.js";
import { ApiProblem } from "./problem.js";

export type ApiScope = "read" | "write";
export const API_SCOPES: readonly ApiScope[] = ["read", "write"];

export interface ApiCredential {
  /** The secret (at least 16 characters). */
  secret: string;
  /** What it may do. @default ["read", "write"] */
  scopes?: readonly ApiScope[];
}

/**
 * How requests authenticate. There is no default: an open API must be asked for with
 * `{ type: "none" }`, so that forgetting the option never exposes the jobs.
 */
export type ApiAuth =
  | { type: "none" }
  /** Keys sent in a header. @default header "x-tickerq-key" */
  | { type: "apiKey"; keys: readonly ApiCredential[]; header?: string }
  /** The dashboard's shape: one key (at least 8 characters) with every scope. @default header "x-tickerq-key" */
  | { type: "apiKey"; key: string; header?: string }
  /** Tokens sent as `Authorization: Bearer <token>`. */
  | { type: "bearer"; tokens: readonly ApiCredential[] }
  /** The host decides, e.g. from its own JWT or mTLS identity. */
  | { type: "custom"; authorize: ApiAuthorizeHook }
  | ApiAuthorizeHook;

/**
 * The host's check. `true` grants every scope, `false` (or a throw) refuses with 401, a list
 * of scopes grants those. `context.incoming` is Node's request when mounted in Node.
 */
export type ApiAuthorizeHook = (
  request: Request,
  context: { incoming?: unknown; scope: ApiScope },
) => boolean | readonly ApiScope[] | Promise<boolean | readonly ApiScope[]>;

export type ApiAuthKind = "none" | "apiKey" | "bearer" | "custom";

export interface ApiAuthenticator {
  kind: ApiAuthKind;
  /** The header that carries the credential, for problem bodies and the OpenAPI document. */
  header: string | null;
  /**
   * Throws a 401 or 403 ApiProblem unless the request may do what `scope` covers. Returns who
   * called: a tag of the key or token ("" for none and hooks), so that one client's
   * Idempotency-Keys never meet another's.
   */
  authorize(request: Request, scope: ApiScope, env: unknown): Promise<string>;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function checkCredentials(field: string, list: unknown): { digest: Buffer; scopes: Set<ApiScope> }[] {
  if (!Array.isArray(list) || list.length === 0)
    throw new TickerQError("INVALID_ARGUMENT", `${field} must be a non-empty array of { secret, scopes }`, { field });
  return list.map((entry: unknown, i) => {
    const credential = entry as Partial<ApiCredential> | null;
    if (typeof credential?.secret !== "string" || credential.secret.length < 16)
      throw new TickerQError("INVALID_ARGUMENT", `${field}[${i}].secret must be a string of at least 16 characters`, {
        field: `${field}[${i}].secret`,
      });
    const scopes = credential.scopes ?? API_SCOPES;
    if (!Array.isArray(scopes) || scopes.some((s) => !API_SCOPES.includes(s as ApiScope)))
      throw new TickerQError("INVALID_ARGUMENT", `${field}[${i}].scopes must list "read" and/or "write"`, {
        field: `${field}[${i}].scopes`,
      });
    return { digest: digest(credential.secret), scopes: new Set(scopes as ApiScope[]) };
  });
}

/** Finds the credential whose secret is `sent`, comparing every one in constant time. */
function lookUp(table: { digest: Buffer; scopes: Set<ApiScope> }[], sent: string) {
  const sentDigest = digest(sent);
  let found: { digest: Buffer; scopes: Set<ApiScope> } | null = null;
  for (const entry of table) if (timingSafeEqual(entry.digest, sentDigest)) found = entry;
  return found;
}

/** A caller's tag: part of a hash of its secret's hash, never the secret. */
const principal = (secretDigest: Buffer) => createHash("sha256").update(secretDigest).digest("hex").slice(0, 16);

const unauthorized = (header: string, detail: string) => new ApiProblem(401, "UNAUTHORIZED", detail, header, undefined);

function requireScope(granted: ReadonlySet<ApiScope> | readonly ApiScope[], scope: ApiScope): void {
  const has = granted instanceof Set ? granted.has(scope) : (granted as readonly ApiScope[]).includes(scope);
  if (!has)
    throw new ApiProblem(403, "FORBIDDEN", `this credential lacks the scope ${JSON.stringify(scope)}`, "scope", scope);
}

export function apiAuthenticator(auth: ApiAuth | undefined): ApiAuthenticator {
  if (auth === undefined || auth === null)
    throw new TickerQError(
      "INVALID_ARGUMENT",
      'auth is required: pass { type: "apiKey" | "bearer" | "custom", … }, a function, or { type: "none" } to serve the API without authentication',
      { field: "auth" },
    );
  if (typeof auth === "function") return custom(auth);
  switch (auth.type) {
    case "none":
      return { kind: "none", header: null, authorize: async () => "" };
    case "apiKey": {
      let table: ReturnType<typeof checkCredentials>;
      if ("key" in auth) {
        if (typeof auth.key !== "string" || auth.key.length < 8)
          throw new TickerQError("INVALID_ARGUMENT", "auth.key must be a string of at least 8 characters", {
            field: "auth.key",
          });
        table = [{ digest: digest(auth.key), scopes: new Set(API_SCOPES) }];
      } else table = checkCredentials("auth.keys", auth.keys);
      const header = (auth.header ?? "x-tickerq-key").toLowerCase();
      return {
        kind: "apiKey",
        header,
        authorize: async (request, scope) => {
          const sent = request.headers.get(header);
          if (sent === null) throw unauthorized(header, `send an API key in the ${header} header`);
          const entry = lookUp(table, sent);
          if (!entry) throw unauthorized(header, `the ${header} header holds no known API key`);
          requireScope(entry.scopes, scope);
          return principal(entry.digest);
        },
      };
    }
    case "bearer": {
      const table = checkCredentials("auth.tokens", auth.tokens);
      return {
        kind: "bearer",
        header: "authorization",
        authorize: async (request, scope) => {
          const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
          if (!match) throw unauthorized("authorization", "send a token as Authorization: Bearer <token>");
          const entry = lookUp(table, match[1]!);
          if (!entry) throw unauthorized("authorization", "the bearer token is not a known token");
          requireScope(entry.scopes, scope);
          return principal(entry.digest);
        },
      };
    }
    case "custom":
      if (typeof auth.authorize !== "function")
        throw new TickerQError("INVALID_ARGUMENT", "auth.authorize must be a function", { field: "auth.authorize" });
      return custom(auth.authorize);
    default:
      throw new TickerQError(
        "INVALID_ARGUMENT",
        `auth.type must be "none", "apiKey", "bearer" or "custom"; got ${JSON.stringify((auth as { type?: unknown }).type)}`,
        { field: "auth.type" },
      );
  }
}

function custom(hook: ApiAuthorizeHook): ApiAuthenticator {
  return {
    kind: "custom",
    header: null,
    authorize: async (request, scope, env) => {
      let answer: boolean | readonly ApiScope[] = false;
      try {
        answer = await hook(request, { incoming: (env as { incoming?: unknown } | undefined)?.incoming, scope });
      } catch {
        answer = false; // a throwing host hook denies; it never opens the door
      }
      if (answer === true) return "";
      if (Array.isArray(answer)) {
        requireScope(answer, scope);
        return "";
      }
      throw new ApiProblem(401, "UNAUTHORIZED", "the host's authorize hook refused the request", "authorization");
    },
  };
}
