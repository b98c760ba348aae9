// The timer queue: what callLater and callAt schedule, popped in deadline order, equal deadlines in
// scheduling order (asyncio's heapq gets the same from TimerHandle comparing by `when` and
// insertion). Cancelled timers are removed lazily, when popped or when the loop compacts.
//
// callLater timers go to one FIFO list per distinct delay, as Node's timers do: the loop's clock is
// monotonic, so within one list the deadlines (now + delay) never go down and appending keeps the
// list sorted, in O(1). A small heap orders the lists by their first timer. callAt timers, whose
// deadlines come in any order, go to a binary heap (TimerHeap). Popping always takes the earliest
// (deadline, sequence) of both, so the order is exactly that of one heap of every timer.
// Measured on the bench (1e5 callLater over 100 delays): one heap of all timers cost ~550 ns per
// push and ~700 ns per pop; a list push is O(1) and a pop sifts through a heap of ~100 lists.
import type { ReadyQueue } from './ready-queue.js';
import { peekTimerSequence, type TimerHandle } from './handles.js';

/**
 * The callLater timers of one delay, earliest first: a ring buffer of handles with their deadline
 * and sequence kept beside them in typed arrays. Ordering and moving due timers reads only these
 * arrays, never the handles: timers are scattered over the heap (the scavenger promotes them list
 * by list), and touching each one while merging the lists cost a cache miss or two per timer.
 */
class TimerList {
  readonly delay: number;
  handles: (TimerHandle | undefined)[] = new Array(8);
  whens = new Float64Array(8);
  sequences = new Float64Array(8);
  head = 0;
  length = 0;
  mask = 7;
  /** The first timer's deadline and sequence, copied here for the list heap. */
  when = 0;
  sequence = 0;

  constructor(delay: number) {
    this.delay = delay;
  }

  /** The deadline of the last timer; the caller checks the list is not empty. */
  lastWhen(): number {
    return this.whens[(this.head + this.length - 1) & this.mask]!;
  }

  push(timer: TimerHandle): void {
    if (this.length === this.handles.length) this.#grow();
    const index = (this.head + this.length) & this.mask;
    this.handles[index] = timer;
    this.whens[index] = timer._when;
    this.sequences[index] = timer._sequence;
    if (this.length++ === 0) {
      this.when = timer._when;
      this.sequence = timer._sequence;
    }
  }

  first(): TimerHandle {
    return this.handles[this.head]!;
  }

  /** Removes the first timer and copies the next one's keys; the caller checks `length` first. */
  shift(): TimerHandle {
    const head = this.head;
    const timer = this.handles[head]!;
    this.handles[head] = undefined;
    this.head = (head + 1) & this.mask;
    if (--this.length > 0) {
      this.when = this.whens[this.head]!;
      this.sequence = this.sequences[this.head]!;
    }
    return timer;
  }

  /** Keeps the timers `keep` accepts, in order; appends the others to `dropped`. */
  retain(keep: (timer: TimerHandle) => boolean, dropped: TimerHandle[]): void {
    let kept = 0;
    for (let index = 0; index < this.length; index++) {
      const from = (this.head + index) & this.mask;
      const timer = this.handles[from]!;
      this.handles[from] = undefined;
      if (!keep(timer)) {
        dropped.push(timer);
        continue;
      }
      const to = (this.head + kept++) & this.mask;
      this.handles[to] = timer;
      this.whens[to] = this.whens[from]!;
      this.sequences[to] = this.sequences[from]!;
    }
    this.length = kept;
    if (kept > 0) {
      this.when = this.whens[this.head]!;
      this.sequence = this.sequences[this.head]!;
    }
  }

  /** Removes every timer, appending them to `into`. */
  drain(into: TimerHandle[]): void {
    while (this.length > 0) into.push(this.shift());
  }

  #grow(): void {
    const capacity = this.handles.length * 2;
    const handles: (TimerHandle | undefined)[] = new Array(capacity);
    const whens = new Float64Array(capacity);
    const sequences = new Float64Array(capacity);
    for (let index = 0; index < this.length; index++) {
      const from = (this.head + index) & this.mask;
      handles[index] = this.handles[from];
      whens[index] = this.whens[from]!;
      sequences[index] = this.sequences[from]!;
    }
    this.handles = handles;
    this.whens = whens;
    this.sequences = sequences;
    this.head = 0;
    this.mask = capacity - 1;
  }
}

export class TimerQueue {
  /** The lists by delay; a list leaves the map (and the list heap) when it empties. */
  readonly #lists = new Map<number, TimerList>();
  /** Non-empty lists, a binary min-heap by (when, sequence) of their first timer. */
  #listHeap: TimerList[] = [];
  readonly #atHeap = new TimerHeap();
  #size = 0;
  /** The last moveDue moved every timer with a deadline up to this and a sequence below the next. */
  #movedUntil = -Infinity;
  #movedBefore = 0;

  /** Timers held, cancelled ones not dropped yet included. */
  get size(): number {
    return this.#size;
  }

  /** Adds a callLater timer: `timer._when` must be the loop's time() at the call plus `delay`. */
  pushLater(delay: number, timer: TimerHandle): void {
    let list = this.#lists.get(delay);
    if (list === undefined) {
      list = new TimerList(delay);
      this.#lists.set(delay, list);
    }
    if (list.length === 0) {
      list.push(timer);
      this.#insertList(list);
    } else if (timer._when >= list.lastWhen()) {
      list.push(timer);
    } else {
      // Only a clock that went backwards gets here; the heap keeps the order right anyway.
      this.#atHeap.push(timer);
    }
    this.#size++;
  }

  /** Adds a callAt timer (any deadline). */
  pushAt(timer: TimerHandle): void {
    this.#atHeap.push(timer);
    this.#size++;
  }

  /** The earliest timer, cancelled or not. */
  peek(): TimerHandle | undefined {
    const list = this.#listHeap[0];
    const at = this.#atHeap.peek();
    if (list === undefined) return at;
    if (at !== undefined && atFirst(at, list)) return at;
    return list.first();
  }

  /** Removes and returns the earliest timer, cancelled or not. */
  pop(): TimerHandle | undefined {
    const list = this.#listHeap[0];
    const at = this.#atHeap.peek();
    if (list === undefined || (at !== undefined && atFirst(at, list))) {
      if (at !== undefined) this.#size--;
      return this.#atHeap.pop();
    }
    this.#size--;
    return this.#shiftTopList(list);
  }

  /**
   * Moves every timer due by `endTime` to `ready`, earliest first, cancelled ones included (the
   * ready queue skips those and counts them); see ReadyQueue.pushTimer. Reads no handle of a list.
   */
  moveDue(endTime: number, ready: ReadyQueue): void {
    this.#movedUntil = endTime;
    this.#movedBefore = peekTimerSequence();
    const atHeap = this.#atHeap;
    for (;;) {
      const list = this.#listHeap[0];
      const at = atHeap.peek();
      if (list !== undefined && (at === undefined || !atFirst(at, list))) {
        if (list.when > endTime) return;
        this.#size--;
        ready.pushTimer(this.#shiftTopList(list));
      } else if (at !== undefined) {
        if (at._when > endTime) return;
        this.#size--;
        ready.pushTimer(atHeap.pop()!);
      } else {
        return;
      }
    }
  }

  /** Says the timers of the last moveDue have all been reached in the ready queue. */
  movedRan(): void {
    this.#movedUntil = -Infinity;
  }

  /**
   * True if `timer`, still flagged `_scheduled`, sits in the ready queue (moved by the last moveDue,
   * not reached yet) rather than here: due by then and scheduled before it. A timer due by then
   * but scheduled after it is here, because moveDue left nothing due behind.
   */
  isMovedToReady(timer: TimerHandle): boolean {
    return timer._when <= this.#movedUntil && timer._sequence < this.#movedBefore;
  }

  /** Keeps only the timers `keep` accepts; returns the others. */
  filter(keep: (timer: TimerHandle) => boolean): TimerHandle[] {
    const dropped = this.#atHeap.filter(keep);
    const heap: TimerList[] = [];
    for (const list of this.#listHeap) {
      list.retain(keep, dropped);
      if (list.length === 0) this.#lists.delete(list.delay);
      else heap.push(list);
    }
    this.#listHeap = heap;
    for (let index = (heap.length >> 1) - 1; index >= 0; index--) this.#siftDown(index);
    this.#size -= dropped.length;
    return dropped;
  }

  /** Removes every timer; returns them. */
  clear(): TimerHandle[] {
    const all = this.#atHeap.clear();
    for (const list of this.#listHeap) list.drain(all);
    this.#lists.clear();
    this.#listHeap = [];
    this.#size = 0;
    return all;
  }

  /** Takes the first timer of `list`, the top of the list heap, and restores the heap. */
  #shiftTopList(list: TimerList): TimerHandle {
    const timer = list.shift();
    if (list.length === 0) {
      this.#lists.delete(list.delay);
      const last = this.#listHeap.pop()!;
      if (last !== list) {
        this.#listHeap[0] = last;
        this.#siftDown(0);
      }
    } else {
      this.#siftDown(0);
    }
    return timer;
  }

  #insertList(list: TimerList): void {
    const heap = this.#listHeap;
    let index = heap.length;
    heap.push(list);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!listFirst(list, heap[parent]!)) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = list;
  }

  #siftDown(start: number): void {
    const heap = this.#listHeap;
    const length = heap.length;
    const list = heap[start]!;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && listFirst(heap[right]!, heap[left]!) ? right : left;
      if (!listFirst(heap[child]!, list)) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = list;
  }
}

function listFirst(a: TimerList, b: TimerList): boolean {
  return a.when < b.when || (a.when === b.when && a.sequence < b.sequence);
}

/** True if callAt timer `at` comes before the first timer of `list`. */
function atFirst(at: TimerHandle, list: TimerList): boolean {
  return at._when < list.when || (at._when === list.when && at._sequence < list.sequence);
}

/** The callAt timers: a binary min-heap by (deadline, sequence). */
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
