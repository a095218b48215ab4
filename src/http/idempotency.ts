/**
 * Idempotent POST /jobs without a table of its own: the `Idempotency-Key` names the job ids
 * (a hash of the caller, the key, and the position in a batch), so a retry inserts the same
 * ids and the store's all-or-nothing insert refuses them. The first insert wins however many
 * retries race; every other finds the jobs and answers with the first one's body.
 */

import { createHash } from "node:crypto";
import { ApiProblem } from "./problem.js";

export const IDEMPOTENCY_HEADER = "idempotency-key";
const MAX_KEY = 200;

/** The key sent, checked: 1–200 visible ASCII characters. Null when none was sent. */
export function idempotencyKey(request: Request): string | null {
  const key = request.headers.get(IDEMPOTENCY_HEADER);
  if (key === null) return null;
  if (key.length === 0 || key.length > MAX_KEY || !/^[\x21-\x7e]+$/.test(key))
    throw new ApiProblem(
      400,
      "INVALID_ARGUMENT",
      `Idempotency-Key must be 1 to ${MAX_KEY} visible ASCII characters`,
      "Idempotency-Key",
      key.slice(0, 80),
    );
  return key;
}

/**
 * The id of the job at `index` of a request with this key from this caller: stable, unlike
 * any random UUID, and different for another caller's same key.
 */
export function idFromKey(key: string, index: number, batch: boolean, principal: string): string {
  const hash = createHash("sha256")
    .update(`${principal}\0${batch ? `tickerq-batch\0${key}\0${index}` : `tickerq-job\0${key}`}`)
    .digest("hex");
  return `idem-${hash.slice(0, 40)}`;
}
