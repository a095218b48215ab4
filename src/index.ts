/** tickerq: the root entry. Curated named exports only. */

export { createTickerQ, TickerQ, VERSION } from "./tickerq.js";
export type { TickerQState, FunctionSummary } from "./tickerq.js";
export type { TickerQOptions } from "./options.js";
export type { Logger, LogFields } from "./log.js";
export { MAX_METADATA_BYTES } from "./middleware.js";
export type { Middleware, EnqueueJob, JobMetadata, MiddlewareNode, StoreCall } from "./middleware.js";
export { defineFunction } from "./functions.js";
export type {
  AnyFunctionDefinition,
  FunctionDefinition,
  FunctionMap,
  FunctionOptions,
  Handler,
  RequestSchema,
  TickerContext,
} from "./functions.js";
export { TickerQError, TerminateExecutionError } from "./errors.js";
export type { TickerQErrorCode } from "./errors.js";
export { nextOccurrences, CronSchedule } from "./cron.js";
export type { NextOccurrencesOptions } from "./cron.js";
export { TICKER_STATUSES, FINAL_STATUSES, PRIORITIES, RUN_CONDITIONS } from "./lifecycle.js";
export type { TickerStatus, FinalStatus, Priority, RunCondition, TickerType } from "./lifecycle.js";
export { memoryStore } from "./store/memory.js";
export type { MemoryStoreOptions } from "./store/memory.js";
export type * from "./store/contract.js";
export type {
  TimeTicker,
  CronTicker,
  CronTickerOccurrence,
  TimeTickerInput,
  ChildTickerInput,
  TimeTickerPatch,
  CronTickerInput,
  CronTickerPatch,
  DateInput,
} from "./records.js";
export type { TimeTickerManager, TimeTickerQuery, AddOptions } from "./time-tickers.js";
export type { CronTickerManager, CronTickerListQuery, OccurrenceQuery } from "./cron-tickers.js";
export type { TickerQEvents, TickerQEventMap, TickerQEventName, JobChange, JobExecuted } from "./events.js";
export type { JobInfo } from "./executor.js";
export type { Clock } from "./clock.js";
