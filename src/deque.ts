// A growable ring buffer: the ready queue. Array.prototype.shift is O(n) on large arrays, and a
// linked list allocates a node per callback; a power-of-two ring does neither.

export class Deque<T> {
  #items: (T | undefined)[] = new Array(16);
  #head = 0;
  #length = 0;
  #mask = 15;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#items.length) this.#grow();
    this.#items[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Removes and returns the oldest item; the caller checks `length` first. */
  shift(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    return item;
  }

  clear(): void {
    this.#items = new Array(16);
    this.#head = 0;
    this.#length = 0;
    this.#mask = 15;
  }

  #grow(): void {
    const grown: (T | undefined)[] = new Array(this.#items.length * 2);
    for (let index = 0; index < this.#length; index++) {
      grown[index] = this.#items[(this.#head + index) & this.#mask];
    }
    this.#items = grown;
    this.#head = 0;
    this.#mask = grown.length - 1;
  }
}
