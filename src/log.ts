/**
 * The engine's log: structured lines in pino's shape, `logger.level(fields, message)`, with
 * `console` (or any node:console Console) adapted to it. Lifecycle steps go out at debug,
 * recoveries and outages at warn, failures at error with the error object (`err`).
 */

import { Console } from "node:console";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields of a lifecycle line: jobId, function, attempt, nodeId, status, latenessMs, elapsedMs, err... */
export type LogFields = Record<string, unknown>;

/**
 * What tickerq logs through: pino's shape (also bunyan's, and pino-compatible loggers).
 * Missing levels are skipped, except `warn`, which falls back to `error`. `console` also works:
 * it gets `(message, fields)` and no debug lines (it has no level to turn them off with).
 */
export interface Logger {
  error(fields: LogFields, message: string): void;
  warn?(fields: LogFields, message: string): void;
  info?(fields: LogFields, message: string): void;
  debug?(fields: LogFields, message: string): void;
  /** pino's: consulted so that a disabled level costs nothing. */
  isLevelEnabled?(level: string): boolean;
}

function isConsole(logger: unknown): boolean {
  return logger === console || (typeof logger === "object" && logger !== null && logger instanceof Console);
}

export class Log {
  private readonly console: boolean;

  constructor(private readonly logger: Logger | null) {
    this.console = isConsole(logger);
  }

  /** Whether a line at `level` would go anywhere (so callers can skip building its fields). */
  enabled(level: LogLevel): boolean {
    const { logger } = this;
    if (!logger) return false;
    if (this.console) return level !== "debug";
    if (level !== "warn" && level !== "error" && typeof logger[level] !== "function") return false;
    if (typeof logger.isLevelEnabled !== "function") return true;
    try {
      return logger.isLevelEnabled(level);
    } catch {
      // A logger that throws never breaks the engine: its warnings and errors are still tried.
      return level !== "debug";
    }
  }

  debug(fields: LogFields, message: string): void {
    if (this.enabled("debug")) this.write("debug", fields, message);
  }

  info(fields: LogFields, message: string): void {
    if (this.enabled("info")) this.write("info", fields, message);
  }

  warn(fields: LogFields, message: string): void {
    if (this.enabled("warn")) this.write("warn", fields, message);
  }

  error(fields: LogFields, message: string): void {
    if (this.enabled("error")) this.write("error", fields, message);
  }

  private write(level: LogLevel, fields: LogFields, message: string): void {
    const logger = this.logger!;
    try {
      if (this.console) {
        const { err, ...rest } = fields;
        const target = logger as unknown as Console;
        if (err !== undefined) target[level](message, err);
        else target[level](message);
        void rest;
        return;
      }
      const method = logger[level] ?? (level === "warn" ? logger.error : undefined);
      method?.call(logger, fields, message);
    } catch {
      // A logger that throws never breaks the engine.
    }
  }
}
