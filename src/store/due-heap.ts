/**
 * A min-heap of (due time, id) for the memory store's Idle jobs of one priority: claims and
 * next-due stay O(log n) however many jobs wait. Deletion is lazy: an entry whose job is no
 * longer Idle at that time is dropped when it reaches the top.
 */

export interface DueEntry {
  at: number;
  id: string;
}

const before = (a: DueEntry, b: DueEntry) => a.at < b.at || (a.at === b.at && a.id < b.id);

export class DueHeap {
  private readonly entries: DueEntry[] = [];

  get size(): number {
    return this.entries.length;
  }

  push(entry: DueEntry): void {
    const heap = this.entries;
    heap.push(entry);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** The earliest entry still `valid`, dropping the stale ones above it. */
  peek(valid: (entry: DueEntry) => boolean): DueEntry | undefined {
    while (this.entries.length > 0 && !valid(this.entries[0]!)) this.pop();
    return this.entries[0];
  }

  pop(): DueEntry | undefined {
    const heap = this.entries;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || !last) return top;
    heap[0] = last;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) break;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
    return top;
  }
}
