// The timer queue's per-delay lists, found by delay: an open-addressing hash table keyed by the
// bits of the delay. A Map with number keys hashes the key on every get(), and callLater looks its
// list up on every call: Map's lookup was ~6% of a burst of 1e5 callLater (perf, 100 delays).
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);

/** Generic over the list type, so this table knows nothing of the timer queue that uses it. */
export class ListsByDelay<List> {
  /** The delay in each slot; NaN marks an empty slot (a delay is never NaN: checkSeconds). */
  #delays = new Float64Array(16).fill(Number.NaN);
  #lists: (List | undefined)[] = new Array<List | undefined>(16).fill(undefined);
  #shift = 28;
  #size = 0;

  get(delay: number): List | undefined {
    const delays = this.#delays;
    const mask = delays.length - 1;
    for (let slot = this.#slotOf(delay); ; slot = (slot + 1) & mask) {
      const key = delays[slot]!;
      if (key === delay) return this.#lists[slot];
      if (key !== key) return undefined;
    }
  }

  /** Adds `list` for `delay`, which has none. */
  add(delay: number, list: List): void {
    if (2 * (this.#size + 1) > this.#delays.length) this.#grow();
    const delays = this.#delays;
    const mask = delays.length - 1;
    let slot = this.#slotOf(delay);
    while (delays[slot] === delays[slot]) slot = (slot + 1) & mask;
    delays[slot] = delay;
    this.#lists[slot] = list;
    this.#size++;
  }

  delete(delay: number): void {
    const delays = this.#delays;
    const mask = delays.length - 1;
    let slot = this.#slotOf(delay);
    for (;;) {
      const key = delays[slot]!;
      if (key === delay) break;
      if (key !== key) return;
      slot = (slot + 1) & mask;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole when their home
    // slot does not lie between the hole and where they sit, so no lookup stops early.
    let hole = slot;
    for (let next = (hole + 1) & mask; delays[next] === delays[next]; next = (next + 1) & mask) {
      const home = this.#slotOf(delays[next]!);
      const fromHole = (next - hole) & mask;
      const fromHome = (next - home) & mask;
      if (fromHome >= fromHole) {
        delays[hole] = delays[next]!;
        this.#lists[hole] = this.#lists[next];
        hole = next;
      }
    }
    delays[hole] = Number.NaN;
    this.#lists[hole] = undefined;
    this.#size--;
  }

  clear(): void {
    this.#delays.fill(Number.NaN);
    this.#lists.fill(undefined);
    this.#size = 0;
  }

  #slotOf(delay: number): number {
    // +0 for -0, so both find one list; then Fibonacci hashing of both halves of the double.
    scratch[0] = delay + 0;
    return Math.imul(words[0]! ^ Math.imul(words[1]!, 0x27d4eb2d), 0x9e3779b1) >>> this.#shift;
  }

  #grow(): void {
    const delays = this.#delays;
    const lists = this.#lists;
    this.#delays = new Float64Array(2 * delays.length).fill(Number.NaN);
    this.#lists = new Array<List | undefined>(2 * delays.length).fill(undefined);
    this.#shift--;
    this.#size = 0;
    for (let slot = 0; slot < delays.length; slot++) {
      if (delays[slot] === delays[slot]) this.add(delays[slot]!, lists[slot]!);
    }
  }
}
