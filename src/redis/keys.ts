/**
 * Where the Redis coordinator keeps its state: every key and the channel under one prefix in
 * one hash tag (`{prefix}`), so a deployment's keys share one slot of a Redis Cluster and its
 * scripts may touch several of them at once.
 */

import { invalid } from "../errors.js";

export interface RedisKeys {
  /** The prefix as given, inside the hash tag. */
  readonly tag: string;
  /** STRING: "ready:<generation>" once the due index was (re)built from SQL; "building:<token>" meanwhile. */
  readonly index: string;
  /** ZSET: instants (ms) at which work became due; member = score = the instant as text. */
  readonly due: string;
  /** HASH: instant → the sequence number of its latest announcement (a prune keeps later ones). */
  readonly dueSeq: string;
  /** STRING counter: announcement sequence. */
  readonly seq: string;
  /** HASH: node id → its last SQL heartbeat (ms) as recorded by the node itself. */
  readonly beats: string;
  /** STRING node id with a TTL: the node that runs the cluster's periodic SQL checks (renewed at its beats). */
  readonly sweep: string;
  /** STRING counter: fencing tokens of locks. */
  readonly lockSeq: string;
  /** Pub/sub channel of signals (not a key: a channel is not hashed, but carries the tag for clarity). */
  readonly channel: string;
  /** STRING "<nodeId>:<token>" with a TTL: the lock named `name`. */
  lock(name: string): string;
}

export function redisKeys(prefix: string): RedisKeys {
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > 100 || /[{}]/.test(prefix)) {
    throw invalid("prefix", prefix, "a non-empty string of at most 100 characters without { or }");
  }
  const tag = `{${prefix}}`;
  return {
    tag,
    index: `${tag}:index`,
    due: `${tag}:due`,
    dueSeq: `${tag}:due:seq`,
    seq: `${tag}:seq`,
    beats: `${tag}:beats`,
    sweep: `${tag}:sweep`,
    lockSeq: `${tag}:lock:seq`,
    channel: `${tag}:signals`,
    lock: (name) => `${tag}:lock:${name}`,
  };
}
