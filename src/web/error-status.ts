/** The HTTP status of each library error code, shared by the dashboard and the API so both answer a code alike. */

import { TickerQError } from "../errors.js";

const STATUS_BY_CODE: Record<string, 400 | 404 | 409 | 413> = {
  INVALID_ARGUMENT: 400,
  INVALID_CRON: 400,
  INVALID_TIME_ZONE: 400,
  UNKNOWN_FUNCTION: 400,
  INVALID_REQUEST: 400,
  REQUEST_TOO_LARGE: 413,
  NOT_FOUND: 404,
  INVALID_STATE: 409,
};

/** The status for a TickerQError the caller is at fault for; null for anything else. */
export function statusOfError(error: unknown): 400 | 404 | 409 | 413 | null {
  return error instanceof TickerQError ? (STATUS_BY_CODE[error.code] ?? null) : null;
}
