// The timer heap: a binary min-heap ordered by deadline, then by scheduling order, so equal
// deadlines fire in the order they were scheduled (asyncio's heapq gets the same from
// TimerHandle comparing by `when` and insertion). Cancelled timers are removed lazily.
import type { TimerHandle } from './handles.js';

export class TimerHeap {
  #items: TimerHandle[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): TimerHandle | undefined {
    return this.#items[0];
  }

  push(timer: TimerHandle): void {
    const items = this.#items;
    items.push(timer);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!earlier(timer, items[parent]!)) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = timer;
  }

  pop(): TimerHandle | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Keeps only the timers `keep` accepts and restores heap order in O(n). */
  filter(keep: (timer: TimerHandle) => boolean): TimerHandle[] {
    const dropped: TimerHandle[] = [];
    const kept: TimerHandle[] = [];
    for (const timer of this.#items) (keep(timer) ? kept : dropped).push(timer);
    this.#items = kept;
    for (let index = (kept.length >> 1) - 1; index >= 0; index--) this.#siftDown(index);
    return dropped;
  }

  clear(): TimerHandle[] {
    const all = this.#items;
    this.#items = [];
    return all;
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const length = items.length;
    const item = items[start]!;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && earlier(items[right]!, items[left]!) ? right : left;
      if (!earlier(items[child]!, item)) break;
      items[index] = items[child]!;
      index = child;
    }
    items[index] = item;
  }
}

function earlier(a: TimerHandle, b: TimerHandle): boolean {
  return a._when < b._when || (a._when === b._when && a._sequence < b._sequence);
}
