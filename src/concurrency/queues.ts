// asyncio's queues (queues.py, Python 3.13): Queue (FIFO), PriorityQueue and LifoQueue, with
// join()/taskDone() and shutdown(). Blocked put()/get() calls are served in the order they came.
// A get() whose signal aborts takes no item and a put() puts none; if either had already been
// woken, the next waiter is woken in its place, so no item and no free slot is left unclaimed.
import type { Future } from '../core/futures.js';
import { codedError, describeType, argTypeError } from '../core/validate.js';
import { Event } from './locks.js';
import { cancelledBy, isCancellation, runningLoop, signalOf, waitInLine, type WaitOptions } from './waiting.js';

/** getNowait() on an empty queue. */
export class QueueEmpty extends Error {
  override name = 'QueueEmpty';
}

/** putNowait() on a full queue. */
export class QueueFull extends Error {
  override name = 'QueueFull';
}

/** put() or get() on a queue that was shut down (get() only once it is empty). */
export class QueueShutDown extends Error {
  override name = 'QueueShutDown';
}

/** The items of a queue, in the order get() takes them. */
interface Store<T> {
  readonly size: number;
  add(item: T): void;
  take(): T;
}

/** FIFO without Array.shift's copying: a head index, compacted once half the array is spent. */
class FifoStore<T> implements Store<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get size(): number {
    return this.#items.length - this.#head;
  }

  add(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    const item = this.#items[this.#head] as T;
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && 2 * this.#head >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }
}

class LifoStore<T> implements Store<T> {
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    this.#items.push(item);
  }

  take(): T {
    return this.#items.pop() as T;
  }
}

/** Orders items for PriorityQueue: negative when `a` comes first. */
export type Compare<T> = (a: T, b: T) => number;

/**
 * The default order: numbers, strings and bigints by value; arrays element by element, as
 * Python compares the (priority, item) tuples asyncio's PriorityQueue is used with.
 */
export function naturalOrder(a: unknown, b: unknown): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let index = 0; index < a.length && index < b.length; index++) {
      const order = naturalOrder(a[index], b[index]);
      if (order !== 0) return order;
    }
    return a.length - b.length;
  }
  if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string' && typeof a !== 'bigint')) {
    throw argTypeError(`PriorityQueue cannot order ${describeType(a)} and ${describeType(b)}; pass a compare function`);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

/** A binary min-heap by `compare`; equal items leave in the order they came. */
class HeapStore<T> implements Store<T> {
  readonly #items: { item: T; order: number }[] = [];
  readonly #compare: Compare<T>;
  #added = 0;

  constructor(compare: Compare<T>) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#items.length;
  }

  add(item: T): void {
    const items = this.#items;
    const entry = { item, order: this.#added++ };
    let index = items.length;
    items.push(entry);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#before(entry, items[parent]!)) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = entry;
  }

  take(): T {
    const items = this.#items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let index = 0;
      for (;;) {
        const left = 2 * index + 1;
        if (left >= items.length) break;
        const child = left + 1 < items.length && this.#before(items[left + 1]!, items[left]!) ? left + 1 : left;
        if (!this.#before(items[child]!, last)) break;
        items[index] = items[child]!;
        index = child;
      }
      items[index] = last;
    }
    return top.item;
  }

  #before(a: { item: T; order: number }, b: { item: T; order: number }): boolean {
    const order = this.#compare(a.item, b.item);
    return order < 0 || (order === 0 && a.order < b.order);
  }
}

/** Wakes the first waiter that is still waiting; the others were cancelled. */
function wakeUpNext(waiters: Future<void>[]): void {
  while (waiters.length > 0) {
    const waiter = waiters.shift()!;
    if (!waiter.done()) {
      waiter.setResult();
      return;
    }
  }
}

export class Queue<T = unknown> {
  readonly #maxsize: number;
  /** Made on first use, so a subclass's _makeStore can use the fields its constructor set. */
  #items: Store<T> | null = null;
  readonly #getters: Future<void>[] = [];
  readonly #putters: Future<void>[] = [];
  #unfinished = 0;
  readonly #finished = new Event();
  #shutDown = false;

  /** `maxsize` <= 0: no bound. */
  constructor(maxsize = 0) {
    this.#maxsize = checkMaxsize(maxsize);
    this.#finished.set();
  }

  get #store(): Store<T> {
    return (this.#items ??= this._makeStore());
  }

  /** @internal The item order of this kind of queue. */
  protected _makeStore(): Store<T> {
    return new FifoStore<T>();
  }

  get maxsize(): number {
    return this.#maxsize;
  }

  qsize(): number {
    return this.#store.size;
  }

  empty(): boolean {
    return this.#store.size === 0;
  }

  full(): boolean {
    return this.#maxsize > 0 && this.#store.size >= this.#maxsize;
  }

  /** Waits for a free slot, then puts `item`. QueueShutDown once the queue is shut down. */
  async put(item: T, options?: WaitOptions): Promise<void> {
    const signal = signalOf(options, 'Queue.put()');
    while (this.full()) {
      // Woken by a get() but not putting after all: the free slot goes to the next putter.
      await this.#waitTurn(this.#putters, signal, () => !this.full());
    }
    this.putNowait(item);
  }

  /**
   * Waits in `waiters` until woken (by a get() or put(), or shutdown()). A wait that ends by its
   * signal hands the wake on when `wakeWasUsable()` says what woke it is still there to take.
   */
  async #waitTurn(waiters: Future<void>[], signal: AbortSignal | null, wakeWasUsable: () => boolean): Promise<void> {
    if (this.#shutDown) throw new QueueShutDown();
    if (signal?.aborted) throw cancelledBy(signal);
    try {
      await waitInLine(waiters, runningLoop().createFuture<void>(), signal);
    } catch (error) {
      if (isCancellation(error) && wakeWasUsable()) wakeUpNext(waiters);
      throw error;
    }
  }

  putNowait(item: T): void {
    if (this.#shutDown) throw new QueueShutDown();
    if (this.full()) throw new QueueFull();
    this.#store.add(item);
    this.#unfinished++;
    this.#finished.clear();
    wakeUpNext(this.#getters);
  }

  /** Waits for an item and takes it. QueueShutDown once the queue is shut down and empty. */
  async get(options?: WaitOptions): Promise<T> {
    const signal = signalOf(options, 'Queue.get()');
    while (this.empty()) {
      // Woken by a put() but not taking the item: it goes to the next getter.
      await this.#waitTurn(this.#getters, signal, () => !this.empty());
    }
    if (signal?.aborted) throw cancelledBy(signal);
    return this.getNowait();
  }

  getNowait(): T {
    if (this.empty()) {
      if (this.#shutDown) throw new QueueShutDown();
      throw new QueueEmpty();
    }
    const item = this.#store.take();
    wakeUpNext(this.#putters);
    return item;
  }

  /** One item that get() returned is processed; join() returns once every put item is. */
  taskDone(): void {
    if (this.#unfinished <= 0) throw new RangeError('taskDone() called too many times');
    this.#unfinished--;
    if (this.#unfinished === 0) this.#finished.set();
  }

  /** Waits until every item put has been got and marked with taskDone(). */
  async join(options?: WaitOptions): Promise<void> {
    if (this.#unfinished > 0) await this.#finished.wait(options);
  }

  /**
   * put() fails from now on; get() fails once the queue is empty. `immediate`: the items still
   * queued are dropped (counted as done for join()). Every blocked put() and get() wakes to see it.
   */
  shutdown(immediate = false): void {
    this.#shutDown = true;
    if (immediate) {
      while (!this.empty()) {
        this.#store.take();
        if (this.#unfinished > 0) this.#unfinished--;
      }
      if (this.#unfinished === 0) this.#finished.set();
    }
    for (const waiters of [this.#getters, this.#putters]) {
      for (const waiter of waiters.splice(0)) if (!waiter.done()) waiter.setResult();
    }
  }

  toString(): string {
    const parts = [`maxsize=${this.#maxsize}`, `qsize=${this.qsize()}`];
    if (this.#getters.length > 0) parts.push(`getters[${this.#getters.length}]`);
    if (this.#putters.length > 0) parts.push(`putters[${this.#putters.length}]`);
    if (this.#unfinished > 0) parts.push(`tasks=${this.#unfinished}`);
    if (this.#shutDown) parts.push('shutdown');
    return `<${this.constructor.name} ${parts.join(' ')}>`;
  }
}

/** get() takes the least item by `compare` (naturalOrder by default: numbers, strings, arrays). */
export class PriorityQueue<T = unknown> extends Queue<T> {
  readonly #compare: Compare<T>;

  constructor(maxsize = 0, compare: Compare<T> = naturalOrder) {
    super(maxsize);
    if (typeof compare !== 'function') throw argTypeError(`compare must be a function, not ${describeType(compare)}`);
    this.#compare = compare;
  }

  protected override _makeStore(): Store<T> {
    return new HeapStore<T>(this.#compare);
  }
}

/** get() takes the item put last. */
export class LifoQueue<T = unknown> extends Queue<T> {
  protected override _makeStore(): Store<T> {
    return new LifoStore<T>();
  }
}

function checkMaxsize(maxsize: unknown): number {
  if (typeof maxsize !== 'number' || !Number.isInteger(maxsize)) {
    throw codedError(new TypeError(`The "maxsize" argument must be an integer. Received ${describeType(maxsize)}`), 'ERR_INVALID_ARG_TYPE');
  }
  return maxsize;
}
