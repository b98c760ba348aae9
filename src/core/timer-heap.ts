// The timer queue: what callLater and callAt schedule, run in deadline order, equal deadlines in
// scheduling order (asyncio's heapq gets the same from TimerHandle comparing by `when` and
// insertion). Cancelled timers are dropped lazily, when reached or when the queue compacts.
//
// callLater timers go to one FIFO list per distinct delay, as Node's timers do: the loop's clock is
// monotonic, so within one list the deadlines (now + delay) never go down and appending keeps the
// list sorted, in O(1). A small heap orders the lists by their first timer. callAt timers, whose
// deadlines come in any order, go to a heap of handles (both heaps: keyed-heap.ts). runDue always
// takes the earliest (deadline, sequence) of both, so the order is that of one heap of all timers.
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
import { KeyedHeap } from './keyed-heap.js';
import { ListsByDelay } from './lists-by-delay.js';
import type { Callback, Invocable } from './validate.js';

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

/** The most per-delay lists a queue keeps at once (see pushLater). */
const LISTS_MAX = 256;
/**
 * A list takes at most this many timers; the next timer of its delay starts a new list, which
 * the table finds from then on while the full one drains. Its arrays (2 slots a timer) stay
 * under V8's large-object size: a list of 1e4 timers grew arrays past it, and every growth then
 * mapped fresh pages and unmapped the old (a third of a 10-delay burst's CPU was system time).
 */
const LIST_TIMERS_MAX = 4096;

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

  /** Appends a timer; returns its index, which stays valid until the entries move (shift, compact). */
  push(when: number, sequence: number, callback: Callback, args: unknown[]): number {
    const index = this.tail++;
    const at = 2 * index;
    // Writing at the arrays' length appends; below it, this reuses a spent slot.
    this.keys[at] = when;
    this.keys[at + 1] = sequence;
    this.calls[at] = callback;
    this.calls[at + 1] = args;
    return index;
  }

  /** Drops the first timer, whose slots the caller emptied. */
  advance(): void {
    const head = ++this.head;
    if (head === this.tail) this.head = this.tail = 0;
    else if (head >= LIST_SHIFT_MIN && 2 * head >= this.tail) this.#shiftDown();
  }

  /**
   * Empties the slots of the timer with `sequence`, pushed at index `hint`; false if it is not
   * here (ran, or never was). Sequences are unique, so a match at `hint` is that timer; after the
   * entries moved, a binary search over the sorted sequences finds it.
   */
  cancel(sequence: number, hint: number): boolean {
    const keys = this.keys;
    let low = hint;
    if (!(hint >= this.head && hint < this.tail && keys[2 * hint + 1] === sequence)) {
      low = this.head;
      let high = this.tail;
      while (low < high) {
        const middle = (low + high) >>> 1;
        if (keys[2 * middle + 1]! < sequence) low = middle + 1;
        else high = middle;
      }
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
  /** The non-empty lists by delay; a list leaves the table (and the list heap) when it empties. */
  readonly #lists = new ListsByDelay<TimerList>();
  /** The non-empty lists, by the (deadline, sequence) of their first timer. */
  readonly #listHeap = new KeyedHeap<TimerList>();
  /** callAt timers, and callLater timers that got no list (see pushLater). */
  readonly #atHeap = new KeyedHeap<TimerHandle>();
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
    if (list === undefined || list.tail >= LIST_TIMERS_MAX) {
      // A list pays for itself when its delay repeats; delays that do not (random jitter) would
      // each make a list, so past LISTS_MAX lists a new delay's timer goes to the heap of handles
      // instead (measured, 1e5 random delays: ~6 us per timer with a list each, ~1.1 us without,
      // about what Node's setTimeout costs there).
      if (this.#listHeap.size >= LISTS_MAX) {
        this.pushAt(timer);
        return;
      }
      // A full list stays in the list heap; ordered by its first timer, it drains before the new one.
      if (list !== undefined) this.#lists.delete(delay);
      list = takeList(delay);
      this.#lists.add(delay, list);
      timer._slot = list.push(when, timer._sequence, timer._callback!, timer._args!);
      this.#listHeap.push(list, when, timer._sequence);
    } else if (when >= list.lastWhen()) {
      timer._slot = list.push(when, timer._sequence, timer._callback!, timer._args!);
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
    this.#atHeap.push(timer, timer._when, timer._sequence);
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
      if (!list.cancel(timer._sequence, timer._slot)) return;
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
    const lists = this.#listHeap;
    const atHeap = this.#atHeap;
    for (;;) {
      if (lists.size > 0 && (atHeap.size === 0 || !this.#atFirst())) {
        const list = lists.top();
        if (list.calls[2 * list.head] !== null) return lists.topWhen();
        this.#dropTopListEntry(list);
      } else if (atHeap.size > 0) {
        const at = atHeap.top();
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
    const lists = this.#listHeap;
    const atHeap = this.#atHeap;
    for (;;) {
      if (lists.size > 0 && (atHeap.size === 0 || !this.#atFirst())) {
        const when = lists.topWhen();
        if (when > endTime) return;
        const sequence = lists.topSequence();
        const list = lists.top();
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
          if (args.length === 0) (callback as Invocable)();
          else (callback as Invocable)(...args);
        } catch (exception) {
          // The queue kept no handle: report one equal to the one callLater returned.
          callbackFailed(owner, new TimerHandle(when, callback, args, owner, asSmall(sequence)), callback, exception);
        }
      } else if (atHeap.size > 0) {
        if (atHeap.topWhen() > endTime) return;
        const at = this.#dropTopAt();
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
    for (const timer of this.#atHeap.drain()) timer._scheduled = false;
    for (const list of this.#listHeap.drain()) giveBackList(list);
    this.#lists.clear();
    this.#size = 0;
    this.#cancelled = 0;
  }

  /** True if the first timer with any deadline comes before the first timer of the top list. */
  #atFirst(): boolean {
    const atWhen = this.#atHeap.topWhen();
    const when = this.#listHeap.topWhen();
    return atWhen < when || (atWhen === when && this.#atHeap.topSequence() < this.#listHeap.topSequence());
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
      this.#forgetList(list);
      giveBackList(list);
      this.#listHeap.removeTop();
    } else {
      this.#listHeap.replaceTopKeys(list.keys[2 * list.head]!, list.keys[2 * list.head + 1]!);
    }
  }

  /** An emptied list leaves the table, unless a newer list of its delay took its place there. */
  #forgetList(list: TimerList): void {
    if (this.#lists.get(list.delay) === list) this.#lists.delete(list.delay);
  }

  #dropTopAt(): TimerHandle {
    const at = this.#atHeap.removeTop();
    at._scheduled = false;
    if (at._cancelled) this.#cancelled--;
    this.#size--;
    return at;
  }

  #compact(): void {
    let dropped = 0;
    for (const timer of this.#atHeap.drain()) {
      if (timer._cancelled) {
        timer._scheduled = false;
        dropped++;
      } else {
        this.#atHeap.push(timer, timer._when, timer._sequence);
      }
    }
    for (const list of this.#listHeap.drain()) {
      dropped += list.compact();
      if (list.tail > list.head) {
        this.#listHeap.push(list, list.keys[0]!, list.keys[1]!);
      } else {
        this.#forgetList(list);
        giveBackList(list);
      }
    }
    this.#size -= dropped;
    this.#cancelled = 0;
  }
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
