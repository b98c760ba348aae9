// The timer queue: what callLater and callAt schedule, run in deadline order, equal deadlines in
// scheduling order (asyncio's heapq gets the same from TimerHandle comparing by `when` and
// insertion). Cancelled timers are dropped lazily, when reached or when the queue compacts.
//
// callLater timers go to one FIFO list per distinct delay, as Node's timers do: the loop's clock is
// monotonic, so within one list the deadlines (now + delay) never go down and appending keeps the
// list sorted, in O(1). A small heap orders the lists by their first timer. callAt timers, whose
// deadlines come in any order, go to a binary heap of handles (TimerHeap). runDue always takes the
// earliest (deadline, sequence) of both, so the order is exactly that of one heap of every timer.
//
// A list keeps each timer's callback, arguments, deadline and sequence in two arrays, not the
// TimerHandle that callLater returns: the handle finds its entry again by sequence (binary search)
// to cancel it. So a handle the caller drops dies young, as Node's Timeout objects cannot, and
// 1e5 pending timers leave the scavenger nothing per timer to copy but four array slots.
// Due timers run straight from the lists, after the callbacks that were ready when the iteration
// began (EventLoop.#runOnce), rather than being copied into the ready queue first.
// Measured on the bench (1e5 callLater over 100 delays, fresh loop): handles held by the queue
// and copied into the ready queue cost ~2.6 µs of CPU per timer, ~30% of it GC; see "Timers" in
// docs/architecture.md for the rest of what made this fast.
import { callbackFailed, DORMANT_OWNER, type Handle, type HandleOwner, NO_ARGS, TimerHandle } from './handles.js';
import { ListsByDelay } from './lists-by-delay.js';
import type { Callback } from './validate.js';

// asyncio's numbers: compact once the queue holds over 100 timers, more than half of them cancelled.
const MIN_SCHEDULED_TIMERS_FOR_COMPACTION = 100;
const MIN_CANCELLED_TIMERS_FRACTION = 0.5;
/** A list moves its live entries to the front once this many dead ones lead them (and they are half). */
const LIST_SHIFT_MIN = 1024;
/**
 * Emptied lists kept per thread for reuse by any loop, with at most POOLED_LIST_TIMERS timers of
 * capacity each (at most 4 MiB in all): a list's arrays otherwise grow again from nothing, and
 * the growing (allocating, copying, and scavenging the copies) was a fifth of a callLater burst.
 */
const POOLED_LISTS_MAX = 128;
const POOLED_LIST_TIMERS = 1024;

/** Runs one due timer in debug mode (timed); the fast path calls the callback itself. */
export type TimedRun = (handle: Handle) => void;

/**
 * @internal The callLater timers of one delay, earliest first. Timer i (head <= i < tail) has its
 * deadline and sequence at keys[2i] and keys[2i + 1] (a double array, no boxing) and its callback
 * and arguments at calls[2i] and calls[2i + 1]; a cancelled timer's callback is null. Slots past
 * the tail may hold stale keys, never a callback.
 */
export class TimerList {
  delay = Number.NaN;
  keys: number[] = emptyDoubleArray();
  calls: unknown[] = [];
  head = 0;
  tail = 0;

  /** The deadline of the last timer; the caller checks the list is not empty. */
  lastWhen(): number {
    return this.keys[2 * this.tail - 2]!;
  }

  push(when: number, sequence: number, callback: Callback, args: unknown[]): void {
    const at = 2 * this.tail++;
    // Writing at the arrays' length appends; below it, this reuses a spent slot.
    this.keys[at] = when;
    this.keys[at + 1] = sequence;
    this.calls[at] = callback;
    this.calls[at + 1] = args;
  }

  /** Drops the first timer, whose slots the caller emptied. */
  advance(): void {
    const head = ++this.head;
    if (head === this.tail) this.head = this.tail = 0;
    else if (head >= LIST_SHIFT_MIN && 2 * head >= this.tail) this.#shiftDown();
  }

  /** Empties the slots of the timer with `sequence`; false if it is not here (ran, or never was). */
  cancel(sequence: number): boolean {
    const keys = this.keys;
    let low = this.head;
    let high = this.tail;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (keys[2 * middle + 1]! < sequence) low = middle + 1;
      else high = middle;
    }
    if (low === this.tail || keys[2 * low + 1] !== sequence || this.calls[2 * low] === null) return false;
    this.calls[2 * low] = null;
    this.calls[2 * low + 1] = null;
    return true;
  }

  /** Keeps the live timers, in order, at the front; returns how many cancelled ones were dropped. */
  compact(): number {
    const { keys, calls } = this;
    let kept = 0;
    for (let index = this.head; index < this.tail; index++) {
      if (calls[2 * index] === null) continue;
      keys[2 * kept] = keys[2 * index]!;
      keys[2 * kept + 1] = keys[2 * index + 1]!;
      calls[2 * kept] = calls[2 * index];
      calls[2 * kept + 1] = calls[2 * index + 1];
      kept++;
    }
    const dropped = this.length - kept;
    this.#truncate(kept, kept);
    return dropped;
  }

  get length(): number {
    return this.tail - this.head;
  }

  /** Forgets every timer; keeps up to `capacity` timers of array space for reuse. */
  release(capacity: number): void {
    for (let index = 2 * this.head; index < 2 * this.tail; index++) this.calls[index] = null;
    this.#truncate(0, capacity);
  }

  /** Moves the timers to the front of the arrays, so the spent slots before them are reused. */
  #shiftDown(): void {
    const { keys, calls, head } = this;
    const count = this.tail - head;
    for (let index = 0; index < 2 * count; index++) {
      keys[index] = keys[2 * head + index]!;
      calls[index] = calls[2 * head + index];
    }
    this.#truncate(count, count);
  }

  /**
   * Leaves `count` timers from index 0, and array space for `capacity` (>= count) of them. The
   * caller made sure no callback is left past `count` within the space kept.
   */
  #truncate(count: number, capacity: number): void {
    this.head = 0;
    this.tail = count;
    if (this.keys.length > 2 * capacity) this.keys.length = 2 * capacity;
    if (this.calls.length > 2 * capacity) this.calls.length = 2 * capacity;
  }
}

/** An empty array whose elements are unboxed doubles from the start (no transition on first use). */
function emptyDoubleArray(): number[] {
  const array = [0.5];
  array.length = 0;
  return array;
}

/**
 * A sequence read back from a Float64Array, as the small integer it was when it was handed out,
 * so TimerHandle's sequence field stays an unboxed small integer (no number box per timer).
 */
function asSmall(sequence: number): number {
  return sequence <= 0x3fffffff ? sequence | 0 : sequence;
}

/** Emptied lists of any loop on this thread, waiting to be reused (see POOLED_LISTS_MAX). */
const listPool: TimerList[] = [];

function takeList(delay: number): TimerList {
  const list = listPool.pop() ?? new TimerList();
  list.delay = delay;
  return list;
}

/** Takes back an emptied list. A handle may still point at it: sequences never repeat, so it finds nothing. */
function giveBackList(list: TimerList): void {
  if (listPool.length < POOLED_LISTS_MAX) {
    list.release(POOLED_LIST_TIMERS);
    listPool.push(list);
  } else {
    list.release(0);
  }
}

/** Keeps TimerList's hidden class alive between loops (see DORMANT_HANDLES in handles.ts). */
export const DORMANT_LIST = new TimerList();

export class TimerQueue {
  /** The non-empty lists by delay; a list leaves the map (and the list heap) when it empties. */
  readonly #lists = new ListsByDelay();
  // The non-empty lists: a binary min-heap by the (deadline, sequence) of their first timer. The
  // heap holds a number per list (its index in #listsById) and the keys, all in typed arrays, so
  // sifting reads no list object: the keys of all lists sit together in a few cache lines.
  #listsById: (TimerList | undefined)[] = [];
  #freeIds: number[] = [];
  #heapIds = new Int32Array(16);
  /** Past #heapLength, up to its end, this holds Infinity (see #siftDown). */
  #heapWhens = new Float64Array(16).fill(Infinity);
  #heapSequences = new Float64Array(16);
  #heapLength = 0;
  readonly #atHeap = new TimerHeap();
  #size = 0;
  #cancelled = 0;

  /** Timers held, cancelled ones not dropped yet included. */
  get size(): number {
    return this.#size;
  }

  /** Adds a callLater timer whose `_when` is the loop's time() at the call plus `delay`. */
  pushLater(delay: number, timer: TimerHandle): void {
    const when = timer._when;
    let list = this.#lists.get(delay);
    if (list === undefined) {
      list = takeList(delay);
      this.#lists.add(delay, list);
      list.push(when, timer._sequence, timer._callback!, timer._args!);
      this.#insertList(list, when, timer._sequence);
    } else if (when >= list.lastWhen()) {
      list.push(when, timer._sequence, timer._callback!, timer._args!);
    } else {
      // Only a clock that went backwards gets here; the heap keeps the order right anyway.
      this.pushAt(timer);
      return;
    }
    timer._list = list;
    this.#size++;
  }

  /** Adds a callAt timer (any deadline). */
  pushAt(timer: TimerHandle): void {
    timer._scheduled = true;
    this.#atHeap.push(timer);
    this.#size++;
  }

  /**
   * Told that `timer` was cancelled. Counts it if it is still queued, and compacts the queue once
   * most of it is cancelled (asyncio's rule), so cancelled timers do not pile up.
   */
  cancel(timer: TimerHandle): void {
    const list = timer._list;
    if (list !== null) {
      timer._list = null;
      if (!list.cancel(timer._sequence)) return;
    } else if (!timer._scheduled) {
      return;
    }
    this.#cancelled++;
    if (this.#size > MIN_SCHEDULED_TIMERS_FOR_COMPACTION && this.#cancelled / this.#size > MIN_CANCELLED_TIMERS_FRACTION) {
      this.#compact();
    }
  }

  /** The earliest live deadline (cancelled timers in front of it are dropped), or Infinity. */
  nextDeadline(): number {
    for (;;) {
      const at = this.#atHeap.peek();
      if (this.#heapLength > 0 && (at === undefined || !this.#atFirst(at))) {
        const list = this.#listsById[this.#heapIds[0]!]!;
        if (list.calls[2 * list.head] !== null) return this.#heapWhens[0]!;
        this.#dropTopListEntry(list);
      } else if (at !== undefined) {
        if (!at._cancelled) return at._when;
        this.#dropTopAt();
      } else {
        return Infinity;
      }
    }
  }

  /**
   * Runs every timer due by `endTime`, earliest first. Callbacks may schedule and cancel timers;
   * the caller keeps timers scheduled meanwhile that are due by `endTime` out of the queue until
   * this returns (asyncio runs those in the next iteration). In debug mode `timed` runs each timer.
   */
  runDue(endTime: number, owner: HandleOwner, timed: TimedRun | null): void {
    const atHeap = this.#atHeap;
    for (;;) {
      const at = atHeap.peek();
      if (this.#heapLength > 0 && (at === undefined || !this.#atFirst(at))) {
        const when = this.#heapWhens[0]!;
        if (when > endTime) return;
        const sequence = this.#heapSequences[0]!;
        const list = this.#listsById[this.#heapIds[0]!]!;
        const calls = list.calls;
        const slot = 2 * list.head;
        const callback = calls[slot] as Callback | null;
        const args = calls[slot + 1] as unknown[];
        this.#dropTopListEntry(list);
        if (callback === null) continue;
        if (timed !== null) {
          timed(new TimerHandle(when, callback, args, owner, asSmall(sequence)));
          continue;
        }
        try {
          if (args.length === 0) callback();
          else callback(...args);
        } catch (exception) {
          // The queue kept no handle: report one equal to the one callLater returned.
          callbackFailed(owner, new TimerHandle(when, callback, args, owner, asSmall(sequence)), callback, exception);
        }
      } else if (at !== undefined) {
        if (at._when > endTime) return;
        this.#dropTopAt();
        if (at._cancelled) continue;
        if (timed !== null) timed(at);
        else at._run();
      } else {
        return;
      }
    }
  }

  /** Removes every timer. */
  clear(): void {
    for (const timer of this.#atHeap.clear()) timer._scheduled = false;
    for (let index = 0; index < this.#heapLength; index++) giveBackList(this.#listsById[this.#heapIds[index]!]!);
    this.#lists.clear();
    this.#listsById = [];
    this.#freeIds = [];
    this.#heapWhens.fill(Infinity, 0, this.#heapLength);
    this.#heapLength = 0;
    this.#size = 0;
    this.#cancelled = 0;
  }

  /** True if callAt timer `at` comes before the first timer of the top list. */
  #atFirst(at: TimerHandle): boolean {
    const when = this.#heapWhens[0]!;
    return at._when < when || (at._when === when && at._sequence < this.#heapSequences[0]!);
  }

  /** Removes the first entry of `list`, the top of the list heap, and restores the heap. */
  #dropTopListEntry(list: TimerList): void {
    const slot = 2 * list.head;
    const calls = list.calls;
    if (calls[slot] === null) this.#cancelled--;
    calls[slot] = null;
    calls[slot + 1] = null;
    this.#size--;
    list.advance();
    if (list.tail === list.head) {
      this.#lists.delete(list.delay);
      giveBackList(list);
      const id = this.#heapIds[0]!;
      this.#listsById[id] = undefined;
      this.#freeIds.push(id);
      const last = --this.#heapLength;
      this.#heapIds[0] = this.#heapIds[last]!;
      this.#heapWhens[0] = this.#heapWhens[last]!;
      this.#heapSequences[0] = this.#heapSequences[last]!;
      this.#heapWhens[last] = Infinity;
      if (last === 0) return;
    } else {
      this.#heapWhens[0] = list.keys[2 * list.head]!;
      this.#heapSequences[0] = list.keys[2 * list.head + 1]!;
    }
    this.#siftDown(0);
  }

  #dropTopAt(): void {
    const at = this.#atHeap.pop()!;
    at._scheduled = false;
    if (at._cancelled) this.#cancelled--;
    this.#size--;
  }

  #compact(): void {
    let dropped = 0;
    for (const timer of this.#atHeap.filter((timer) => !timer._cancelled)) {
      timer._scheduled = false;
      dropped++;
    }
    const lists = Array.from(this.#heapIds.subarray(0, this.#heapLength), (id) => this.#listsById[id]!);
    this.#listsById = [];
    this.#freeIds = [];
    this.#heapWhens.fill(Infinity, 0, this.#heapLength);
    this.#heapLength = 0;
    for (const list of lists) {
      dropped += list.compact();
      if (list.tail > list.head) {
        this.#insertList(list, list.keys[0]!, list.keys[1]!);
      } else {
        this.#lists.delete(list.delay);
        giveBackList(list);
      }
    }
    this.#size -= dropped;
    this.#cancelled = 0;
  }

  #insertList(list: TimerList, when: number, sequence: number): void {
    // One slot to spare past the heap, so #siftDown can always read a right child.
    if (this.#heapLength + 1 === this.#heapIds.length) {
      const ids = new Int32Array(2 * this.#heapIds.length);
      const whens = new Float64Array(2 * this.#heapIds.length).fill(Infinity);
      const sequences = new Float64Array(2 * this.#heapIds.length);
      ids.set(this.#heapIds);
      whens.set(this.#heapWhens);
      sequences.set(this.#heapSequences);
      this.#heapIds = ids;
      this.#heapWhens = whens;
      this.#heapSequences = sequences;
    }
    const id = this.#freeIds.pop() ?? this.#listsById.length;
    this.#listsById[id] = list;
    const ids = this.#heapIds;
    const whens = this.#heapWhens;
    const sequences = this.#heapSequences;
    let index = this.#heapLength++;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const parentWhen = whens[parent]!;
      if (parentWhen < when || (parentWhen === when && sequences[parent]! < sequence)) break;
      ids[index] = ids[parent]!;
      whens[index] = parentWhen;
      sequences[index] = sequences[parent]!;
      index = parent;
    }
    ids[index] = id;
    whens[index] = when;
    sequences[index] = sequence;
  }

  #siftDown(start: number): void {
    const ids = this.#heapIds;
    const whens = this.#heapWhens;
    const sequences = this.#heapSequences;
    const length = this.#heapLength;
    const id = ids[start]!;
    const when = whens[start]!;
    const sequence = sequences[start]!;
    let index = start;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      // The earlier child, chosen without a branch: which child is earlier is a coin toss when the
      // lists interleave, and a mispredicted branch per level cost more than the rest of the sift.
      // Slots past the heap hold Infinity, so the right child always compares.
      const leftWhen = whens[left]!;
      const rightWhen = whens[left + 1]!;
      let child = left + (((rightWhen < leftWhen) as unknown as number) | 0);
      if (rightWhen === leftWhen && left + 1 < length) child = sequences[left + 1]! < sequences[left]! ? left + 1 : left;
      const childWhen = whens[child]!;
      if (when < childWhen || (when === childWhen && sequence < sequences[child]!)) break;
      ids[index] = ids[child]!;
      whens[index] = childWhen;
      sequences[index] = sequences[child]!;
      index = child;
    }
    ids[index] = id;
    whens[index] = when;
    sequences[index] = sequence;
  }
}

/** The callAt timers: a binary min-heap of handles by (deadline, sequence). */
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

  /** Keeps only the timers `keep` accepts and restores heap order in O(n); returns the others. */
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

primeDispatch();

/**
 * Calls runDue with a few different callbacks before any loop exists, so that its call site for
 * user callbacks is megamorphic from the start. Otherwise V8 inlines the only callback it has
 * seen into runDue, and when a branch of that callback that never ran before is taken (a
 * benchmark's "last one" check, say) the whole optimized runDue is thrown away in the middle of
 * a burst, and the next burst starts unoptimized until an on-stack replacement is compiled
 * (--trace-deopt showed it once per bench repetition). Real programs, whose timers call many
 * different functions, get this call site anyway. On the timer bench the difference was within
 * the noise; it is kept because it removes the deopt, not for a measured gain.
 */
function primeDispatch(): void {
  const queue = new TimerQueue();
  const callbacks: Callback[] = [() => {}, () => {}, (value: unknown) => value];
  // V8 allocates a function's type feedback only after several calls: enough rounds to record.
  for (let round = 0; round < 32; round++) {
    for (const callback of callbacks) {
      queue.pushLater(0, new TimerHandle(0, callback, callback.length === 0 ? NO_ARGS : [round], DORMANT_OWNER));
    }
    queue.pushAt(new TimerHandle(0, callbacks[round % 2]!, NO_ARGS, DORMANT_OWNER));
    queue.runDue(0, DORMANT_OWNER, null);
  }
}
