/** The store calls start() makes, in order; the lifecycle tests stop a node while each one is in flight. */
export const START_STEPS = ["init", "cronTickerSeed", "nodeHeartbeat", "jobRecoverLeases"] as const;
