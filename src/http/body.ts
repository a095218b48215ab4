/**
 * Request bodies: capped in size (413, from Content-Length before reading or while reading),
 * JSON only (415), parsed once with a nesting limit (400 for malformed or too deep JSON).
 */

import { jsonDepth, MAX_JSON_DEPTH, readCapped } from "../web/body.js";
import { ApiProblem } from "./problem.js";

/** The parsed JSON body of a request to a route that takes one. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () =>
    new ApiProblem(413, "PAYLOAD_TOO_LARGE", `the body must be at most ${maxBytes} bytes`, "body", undefined);
  const length = Number(request.headers.get("content-length") ?? "0");
  if (Number.isFinite(length) && length > maxBytes) throw tooLarge();
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(type))
    throw new ApiProblem(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be JSON", "content-type", type || null);
  const text = await readCapped(request, maxBytes);
  if (text === null) throw tooLarge();
  if (text.trim() === "") throw new ApiProblem(400, "INVALID_ARGUMENT", "the body is empty; send JSON", "body");
  if (jsonDepth(text) > MAX_JSON_DEPTH)
    throw new ApiProblem(400, "INVALID_ARGUMENT", `the body nests deeper than ${MAX_JSON_DEPTH} levels`, "body");
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ApiProblem(400, "INVALID_ARGUMENT", `the body is not valid JSON (${(error as Error).message})`, "body");
  }
}
