/**
 * The coordinator's Lua scripts, each atomic on one slot (every key under the deployment's
 * hash tag). Each states its contract at the top: KEYS, ARGV and what it returns.
 */

import { createHash } from "node:crypto";

export interface Script {
  readonly name: string;
  readonly lua: string;
  readonly sha: string;
}

function script(name: string, lua: string): Script {
  return { name, lua, sha: createHash("sha1").update(lua).digest("hex") };
}

/** Announce: work became due at an instant. */
export const ANNOUNCE = script(
  "announce",
  `-- KEYS: 1 due (zset), 2 dueSeq (hash), 3 seq (counter)
-- ARGV: 1 instant (ms), 2 channel ('' = do not publish), 3 payload
-- Adds the instant to the due index, stamped with a new sequence number (a prune only
-- removes entries announced before it looked at SQL), and publishes the payload.
-- Returns the sequence number.
local s = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], s)
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return s`,
);

/** Read the index: is it there, what comes first, and where the sequence stands. */
export const PEEK = script(
  "peek",
  `-- KEYS: 1 index (marker), 2 due (zset), 3 seq (counter)
-- Returns false when the index is not ready (never built, being built, or lost with the
-- server's data: FLUSHALL, a restart without persistence); else
-- { marker, first instant or '', current sequence }.
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 6) ~= 'ready:' then return false end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return { v, first[2] or '', redis.call('GET', KEYS[3]) or '0' }`,
);

/** Drop entries SQL proved stale and record SQL's next due instant. */
export const PRUNE = script(
  "prune",
  `-- KEYS: 1 index (marker), 2 due (zset), 3 dueSeq (hash), 4 seq (counter)
-- ARGV: 1 marker the caller read (its PEEK), 2 SQL's next due (ms; '' = nothing Idle),
--       3 the sequence the caller read before asking SQL
-- Entries before SQL's next due are stale (claimed, deleted, moved) if they were announced
-- before the caller asked SQL (sequence <= ARGV[3]); later ones may be work SQL did not
-- show yet, and stay. SQL's answer goes in as an entry. Nothing happens if the index was
-- rebuilt or lost since the caller's PEEK (its sequence means nothing then).
-- Returns the number of entries removed, or -1 when the marker changed.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local upto = ARGV[2] == '' and '+inf' or ('(' .. ARGV[2])
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', upto, 'LIMIT', 0, 1000)
local seen = tonumber(ARGV[3])
local n = 0
for _, m in ipairs(stale) do
  if tonumber(redis.call('HGET', KEYS[3], m) or '0') <= seen then
    redis.call('ZREM', KEYS[2], m)
    redis.call('HDEL', KEYS[3], m)
    n = n + 1
  end
end
if ARGV[2] ~= '' then
  local s = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], s)
end
return n`,
);

/** First half of a rebuild: claim the marker before reading SQL. */
export const REBUILD_BEGIN = script(
  "rebuild-begin",
  `-- KEYS: 1 index (marker)
-- ARGV: 1 a token unique to this rebuild
-- Returns the marker when the index is ready already; else marks it 'building:<token>'
-- (taking over any other rebuild) and returns false.
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 6) == 'ready:' then return v end
redis.call('SET', KEYS[1], 'building:' .. ARGV[1])
return false`,
);

/** Second half of a rebuild: SQL's next due goes in and the index is ready. */
export const REBUILD_END = script(
  "rebuild-end",
  `-- KEYS: 1 index (marker), 2 due (zset), 3 dueSeq (hash), 4 seq (counter)
-- ARGV: 1 the token of REBUILD_BEGIN, 2 SQL's next due (ms; '' = nothing Idle), 3 a new generation
-- SQL's next due is added whatever happened meanwhile (it is a true instant). The index
-- becomes 'ready:<generation>' only if the marker is still ours: a FLUSHALL or restart after
-- REBUILD_BEGIN removed it, and entries announced before that are gone, so no one may
-- trust the index until a rebuild that saw no loss.
-- Returns the ready marker, or false when the rebuild must start over.
if ARGV[2] ~= '' then
  local s = redis.call('INCR', KEYS[4])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[2])
  redis.call('HSET', KEYS[3], ARGV[2], s)
end
local v = redis.call('GET', KEYS[1])
if v == 'building:' .. ARGV[1] then
  redis.call('SET', KEYS[1], 'ready:' .. ARGV[3])
  return 'ready:' .. ARGV[3]
end
if v and string.sub(v, 1, 6) == 'ready:' then return v end
return false`,
);

/** A heartbeat: record this node's, take or renew the sweep lease, read everyone's. */
export const BEAT = script(
  "beat",
  `-- KEYS: 1 beats (hash), 2 sweep (lock)
-- ARGV: 1 node id, 2 its SQL heartbeat (ms), 3 the sweep lease (ms)
-- The sweep lease names the one node that runs the cluster's periodic SQL checks: free or
-- this node's, it is (re)taken for the lease; another node's stays.
-- Returns { the sweep holder, every node's entry as a flat list: id, value, id, value... }
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local holder = redis.call('GET', KEYS[2])
if not holder or holder == ARGV[1] then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
  holder = ARGV[1]
end
return { holder, redis.call('HGETALL', KEYS[1]) }`,
);

/** A node leaves: its beat entry goes, and the sweep lease if it holds it. */
export const LEAVE = script(
  "leave",
  `-- KEYS: 1 beats (hash), 2 sweep (lock)
-- ARGV: 1 node id
-- Returns 1 when this node held the sweep lease (now free for the next beat of another node).
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return 1
end
return 0`,
);

/** Take or renew locks. */
export const LOCK = script(
  "lock",
  `-- KEYS: 1 lockSeq (counter), 2.. the locks
-- ARGV: 1 node id, 2 lease (ms)
-- A lock that is free, or held by this node, is (re)taken for the lease: a new lock gets a
-- new fencing token from the counter, a renewed one keeps its token. Returns, per lock, its
-- token when this node holds it, else 0.
local out = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  local token = 0
  if not v then
    token = redis.call('INCR', KEYS[1])
  else
    local sep = string.find(v, ':[^:]*$')
    if sep and string.sub(v, 1, sep - 1) == ARGV[1] then token = tonumber(string.sub(v, sep + 1)) end
  end
  if token ~= 0 then redis.call('SET', KEYS[i], ARGV[1] .. ':' .. token, 'PX', ARGV[2]) end
  out[#out + 1] = token
end
return out`,
);
