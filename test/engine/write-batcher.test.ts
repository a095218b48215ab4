/**
 * The write batcher (group commit for completions and start writes): a batch the store refuses
 * as a whole is split until its parts go through, so neither a batch too large for one write
 * nor one bad item holds back the others. On fake timers: the retries' backoff is real time.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { WriteBatcher } from "../../src/write-batcher.js";

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe("WriteBatcher", () => {
  it("splits a batch too large for one write until each part is written, then grows again", async () => {
    const sizes: number[] = [];
    const errors: unknown[] = [];
    const batcher = new WriteBatcher<number, void>(
      async (items) => {
        sizes.push(items.length);
        if (items.length > 3) throw new Error(`${items.length} items: packet too large`);
      },
      (error) => errors.push(error),
      { maxBatch: 16 },
    );
    const written = Array.from({ length: 10 }, (_, i) => batcher.add(i));
    await vi.runAllTimersAsync();
    await Promise.all(written);
    // 10 refused, then 5, then parts of 3 at most: everything written.
    expect(sizes.slice(0, 3)).toEqual([10, 5, 3]);
    expect(sizes.filter((n) => n <= 3).reduce((a, b) => a + b, 0)).toBe(10);
    expect(errors).toHaveLength(sizes.filter((n) => n > 3).length);
    // After successes, one write carries more again (3, then 6: refused, then 3).
    sizes.length = 0;
    const later = Array.from({ length: 3 }, (_, i) => batcher.add(100 + i));
    await vi.runAllTimersAsync();
    await Promise.all(later);
    expect(sizes).toEqual([3]);
  });

  it("writes the others while one item keeps being refused, and rejects it on close", async () => {
    const written: string[] = [];
    const batcher = new WriteBatcher<string, void>(
      async (items) => {
        if (items.includes("bad")) throw new Error("value too long for column");
        written.push(...items);
      },
      () => {},
      { maxBatch: 8 },
    );
    const items = ["a", "b", "c", "bad", "d", "e", "f", "g"];
    const results = items.map((item) =>
      batcher.add(item).then(
        () => "written",
        (e: Error) => e.message,
      ),
    );
    for (let round = 0; round < 20 && written.length < 7; round++) await vi.advanceTimersByTimeAsync(100);
    expect(written.sort()).toEqual(["a", "b", "c", "d", "e", "f", "g"]);
    batcher.close(new Error("closed"));
    await vi.runAllTimersAsync(); // the refused item's retry was waiting out its backoff
    expect(await Promise.all(results)).toEqual([...Array(3).fill("written"), "closed", ...Array(4).fill("written")]);
  });
  it("retries at once when told the store answers again, instead of waiting out its backoff", async () => {
    let down = true;
    const attempts: number[] = [];
    const batcher = new WriteBatcher<string, void>(
      async () => {
        attempts.push(Date.now());
        if (down) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
      },
      () => {},
    );
    let written = false;
    const done = batcher.add("completion").then(() => (written = true));
    // Eight failed writes: the backoff doubled from 50 ms to its 5 s cap.
    for (let i = 0; i < 1_000 && attempts.length < 8; i++) await vi.advanceTimersByTimeAsync(10);
    expect(attempts).toHaveLength(8);
    down = false;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(attempts).toHaveLength(8); // still waiting out the backoff
    const toldAt = Date.now();
    batcher.retryNow();
    await vi.advanceTimersByTimeAsync(0); // promises only: the clock does not move
    expect(written).toBe(true);
    await done;
    expect(attempts).toEqual([...attempts.slice(0, 8), toldAt]);
    batcher.retryNow(); // nothing waits: no effect
    await vi.runAllTimersAsync();
    expect(attempts).toHaveLength(9);
  });
});
