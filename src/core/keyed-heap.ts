// A binary min-heap of items by (deadline, sequence), the order of asyncio's timer heap. The keys
// sit in two typed arrays beside the items, so sifting compares numbers without reading items;
// the timer queue keeps one of per-delay lists and one of timers with any deadline.

export class KeyedHeap<T> {
  #items: (T | undefined)[] = [];
  /** Past #length, up to its end, this holds Infinity (see #siftDown). */
  #whens = new Float64Array(16).fill(Infinity);
  #sequences = new Float64Array(16);
  #length = 0;

  get size(): number {
    return this.#length;
  }

  /** The first item; the caller checks `size` first. */
  top(): T {
    return this.#items[0]!;
  }

  topWhen(): number {
    return this.#whens[0]!;
  }

  topSequence(): number {
    return this.#sequences[0]!;
  }

  push(item: T, when: number, sequence: number): void {
    // One slot to spare past the heap, so #siftDown can always read a right child.
    if (this.#length + 1 === this.#whens.length) this.#grow();
    const items = this.#items;
    const whens = this.#whens;
    const sequences = this.#sequences;
    let index = this.#length++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentWhen = whens[parent]!;
      if (parentWhen < when || (parentWhen === when && sequences[parent]! < sequence)) break;
      items[index] = items[parent];
      whens[index] = parentWhen;
      sequences[index] = sequences[parent]!;
      index = parent;
    }
    items[index] = item;
    whens[index] = when;
    sequences[index] = sequence;
  }

  /** Removes the first item; the caller checks `size` first. */
  removeTop(): T {
    const top = this.#items[0]!;
    const last = --this.#length;
    this.#items[0] = this.#items[last];
    this.#whens[0] = this.#whens[last]!;
    this.#sequences[0] = this.#sequences[last]!;
    this.#items[last] = undefined;
    this.#whens[last] = Infinity;
    if (last > 0) this.#siftDown(0);
    return top;
  }

  /** The first item's keys went up (a list's first timer left it): moves it down to its place. */
  replaceTopKeys(when: number, sequence: number): void {
    this.#whens[0] = when;
    this.#sequences[0] = sequence;
    this.#siftDown(0);
  }

  /** Removes every item; returns them, in no particular order. */
  drain(): T[] {
    const items = this.#items.slice(0, this.#length) as T[];
    this.#items = [];
    this.#whens.fill(Infinity, 0, this.#length);
    this.#length = 0;
    return items;
  }

  #siftDown(start: number): void {
    const items = this.#items;
    const whens = this.#whens;
    const sequences = this.#sequences;
    const length = this.#length;
    const item = items[start];
    const when = whens[start]!;
    const sequence = sequences[start]!;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      // The earlier child, chosen without a branch: which child is earlier is a coin toss when the
      // keys interleave, and a mispredicted branch per level cost more than the rest of the sift.
      // Slots past the heap hold Infinity, so the right child always compares; `| 0` makes the
      // comparison a number V8 adds without a branch (without it the pick gained only ~10%).
      const leftWhen = whens[left]!;
      const rightWhen = whens[left + 1]!;
      let child = left + (((rightWhen < leftWhen) as unknown as number) | 0);
      if (rightWhen === leftWhen && left + 1 < length) child = sequences[left + 1]! < sequences[left]! ? left + 1 : left;
      const childWhen = whens[child]!;
      if (when < childWhen || (when === childWhen && sequence < sequences[child]!)) break;
      items[index] = items[child];
      whens[index] = childWhen;
      sequences[index] = sequences[child]!;
      index = child;
    }
    items[index] = item;
    whens[index] = when;
    sequences[index] = sequence;
  }

  #grow(): void {
    const capacity = 2 * this.#whens.length;
    const whens = new Float64Array(capacity).fill(Infinity);
    const sequences = new Float64Array(capacity);
    whens.set(this.#whens);
    sequences.set(this.#sequences);
    this.#whens = whens;
    this.#sequences = sequences;
  }
}
