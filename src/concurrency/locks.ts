// asyncio's synchronization primitives (locks.py): Lock, Event, Condition, Semaphore,
// BoundedSemaphore and Barrier, with asyncio's FIFO fairness: waiters are served in the order
// they came, and one that arrives while others wait queues behind them even if the primitive is
// free. A waiter cancelled through its signal (waiting.ts) leaves the primitive consistent: a
// cancelled acquire() holds nothing, and the next waiter is woken in its place.
import { CancelledError } from '../core/errors.js';
import type { Future } from '../core/futures.js';
import { checkCallback, codedError, describeType, argTypeError } from '../core/validate.js';
import { awaitWithSignal, cancelledBy, isCancellation, removeWaiter, runningLoop, signalOf, waitInLine, type WaitOptions } from './waiting.js';

export class Lock {
  #locked = false;
  readonly #waiters: Future<boolean>[] = [];

  locked(): boolean {
    return this.#locked;
  }

  /** Waits until the lock is free and takes it; resolves true. */
  async acquire(options?: WaitOptions): Promise<true> {
    const signal = signalOf(options, 'Lock.acquire()');
    if (!this.#locked && this.#waiters.every((waiter) => waiter.cancelled())) {
      if (signal?.aborted) throw cancelledBy(signal);
      this.#locked = true;
      return true;
    }
    const waiter = runningLoop().createFuture<boolean>();
    try {
      await waitInLine(this.#waiters, waiter, signal);
    } catch (error) {
      // Cancelled, perhaps after being woken: take nothing, pass the turn on.
      if (isCancellation(error) && !this.#locked) this.#wakeUpFirst();
      throw error;
    }
    this.#locked = true;
    return true;
  }

  /** Frees the lock and wakes the first waiter. RuntimeError's message when it is not held. */
  release(): void {
    if (!this.#locked) throw new Error('Lock is not acquired.');
    this.#locked = false;
    this.#wakeUpFirst();
  }

  /** `async with lock:`: runs `body` holding the lock, and releases it however `body` ends. */
  async run<T>(body: () => T | PromiseLike<T>, options?: WaitOptions): Promise<T> {
    checkCallback(body, 'body');
    await this.acquire(options);
    try {
      return await body();
    } finally {
      this.release();
    }
  }

  #wakeUpFirst(): void {
    const first = this.#waiters[0];
    if (first !== undefined && !first.done()) first.setResult(true);
  }

  toString(): string {
    return `<Lock [${this.#locked ? 'locked' : 'unlocked'}${this.#waiters.length > 0 ? `, waiters:${this.#waiters.length}` : ''}]>`;
  }
}

export class Event {
  #value = false;
  readonly #waiters: Future<boolean>[] = [];

  isSet(): boolean {
    return this.#value;
  }

  /** Sets the flag and wakes every waiter; wait() then returns at once until clear(). */
  set(): void {
    if (this.#value) return;
    this.#value = true;
    for (const waiter of this.#waiters) if (!waiter.done()) waiter.setResult(true);
  }

  clear(): void {
    this.#value = false;
  }

  /** Resolves true once the flag is set. */
  async wait(options?: WaitOptions): Promise<true> {
    const signal = signalOf(options, 'Event.wait()');
    if (this.#value) return true;
    const waiter = runningLoop().createFuture<boolean>();
    this.#waiters.push(waiter);
    try {
      await awaitWithSignal(waiter, signal);
      return true;
    } finally {
      removeWaiter(this.#waiters, waiter);
    }
  }

  toString(): string {
    return `<Event [${this.#value ? 'set' : 'unset'}${this.#waiters.length > 0 ? `, waiters:${this.#waiters.length}` : ''}]>`;
  }
}

export class Condition {
  readonly #lock: Lock;
  readonly #waiters: Future<boolean>[] = [];

  /** `lock`: the Lock this condition uses (a new one by default). */
  constructor(lock: Lock = new Lock()) {
    if (!(lock instanceof Lock)) throw argTypeError(`lock must be a Lock, not ${describeType(lock)}`);
    this.#lock = lock;
  }

  locked(): boolean {
    return this.#lock.locked();
  }

  acquire(options?: WaitOptions): Promise<true> {
    return this.#lock.acquire(options);
  }

  release(): void {
    this.#lock.release();
  }

  run<T>(body: () => T | PromiseLike<T>, options?: WaitOptions): Promise<T> {
    return this.#lock.run(body, options);
  }

  /**
   * Releases the lock, waits for notify(), and takes the lock again before it returns or throws
   * (also when its signal aborted, as asyncio re-acquires before raising CancelledError).
   */
  async wait(options?: WaitOptions): Promise<true> {
    const signal = signalOf(options, 'Condition.wait()');
    if (!this.locked()) throw new Error('cannot wait on un-acquired lock');
    const waiter = runningLoop().createFuture<boolean>();
    this.release();
    let failure: unknown = null;
    try {
      this.#waiters.push(waiter);
      try {
        await awaitWithSignal(waiter, signal);
      } finally {
        removeWaiter(this.#waiters, waiter);
      }
    } catch (error) {
      failure = error;
    }
    // Take the lock back whatever happened, with no signal: the caller holds it on return.
    for (;;) {
      try {
        await this.#lock.acquire();
        break;
      } catch (error) {
        if (!(error instanceof CancelledError)) throw error;
      }
    }
    if (failure !== null) throw failure;
    if (signal?.aborted) {
      // Woken by notify() but cancelled before this ran: hand the notification on, as asyncio does.
      this.notify(1);
      throw cancelledBy(signal);
    }
    return true;
  }

  /** Waits until `predicate()` is true (checked with the lock held); returns its last value. */
  async waitFor<T>(predicate: () => T, options?: WaitOptions): Promise<T> {
    checkCallback(predicate, 'predicate');
    let result = predicate();
    while (!result) {
      await this.wait(options);
      result = predicate();
    }
    return result;
  }

  /** Wakes up to `n` waiters; the lock must be held. */
  notify(n = 1): void {
    if (!this.locked()) throw new Error('cannot notify on un-acquired lock');
    let woken = 0;
    for (const waiter of this.#waiters) {
      if (woken >= n) break;
      if (!waiter.done()) {
        woken++;
        waiter.setResult(false);
      }
    }
  }

  notifyAll(): void {
    this.notify(this.#waiters.length);
  }
}

export class Semaphore {
  #value: number;
  readonly #waiters: Future<boolean>[] = [];

  constructor(value = 1) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw codedError(new TypeError(`The "value" argument must be an integer. Received ${describeType(value)}`), 'ERR_INVALID_ARG_TYPE');
    }
    if (value < 0) throw codedError(new RangeError('Semaphore initial value must be >= 0'), 'ERR_OUT_OF_RANGE');
    this.#value = value;
  }

  /** True when acquire() would wait (no units left, or others already waiting). */
  locked(): boolean {
    return this.#value === 0 || this.#waiters.some((waiter) => !waiter.cancelled());
  }

  /** @internal The units left, for BoundedSemaphore and toString. */
  protected get _value(): number {
    return this.#value;
  }

  async acquire(options?: WaitOptions): Promise<true> {
    const signal = signalOf(options, 'Semaphore.acquire()');
    if (!this.locked()) {
      if (signal?.aborted) throw cancelledBy(signal);
      this.#value--;
      return true;
    }
    const waiter = runningLoop().createFuture<boolean>();
    try {
      await waitInLine(this.#waiters, waiter, signal);
    } catch (error) {
      // Woken (a unit was counted for us) but not taking it: give the unit back.
      if (isCancellation(error) && waiter.done() && !waiter.cancelled()) this.#value++;
      throw error;
    } finally {
      // Waiters that came while units were free queued behind us (FIFO): wake as many as fit.
      while (this.#value > 0 && this.#wakeUpNext());
    }
    return true;
  }

  release(): void {
    this.#value++;
    this.#wakeUpNext();
  }

  run<T>(body: () => T | PromiseLike<T>, options?: WaitOptions): Promise<T> {
    checkCallback(body, 'body');
    return this.acquire(options).then(async () => {
      try {
        return await body();
      } finally {
        this.release();
      }
    });
  }

  #wakeUpNext(): boolean {
    for (const waiter of this.#waiters) {
      if (!waiter.done()) {
        this.#value--;
        waiter.setResult(true);
        return true;
      }
    }
    return false;
  }

  toString(): string {
    return `<${this.constructor.name} [${this.locked() ? 'locked' : `unlocked, value:${this.#value}`}]>`;
  }
}

export class BoundedSemaphore extends Semaphore {
  readonly #bound: number;

  constructor(value = 1) {
    super(value);
    this.#bound = value;
  }

  /** release() past the initial value is a bug: ValueError's message, as asyncio. */
  override release(): void {
    if (this._value >= this.#bound) throw new RangeError('BoundedSemaphore released too many times');
    super.release();
  }
}

/** A Barrier was aborted or reset while a task waited, or is broken. */
export class BrokenBarrierError extends Error {
  override name = 'BrokenBarrierError';
}

type BarrierState = 'filling' | 'draining' | 'resetting' | 'broken';

/** asyncio.Barrier: `parties` tasks wait() until all have arrived, then all go on. */
export class Barrier {
  readonly #condition = new Condition();
  readonly #parties: number;
  #state: BarrierState = 'filling';
  #count = 0;

  constructor(parties: number) {
    if (typeof parties !== 'number' || !Number.isInteger(parties)) {
      throw codedError(new TypeError(`The "parties" argument must be an integer. Received ${describeType(parties)}`), 'ERR_INVALID_ARG_TYPE');
    }
    if (parties < 1) throw codedError(new RangeError('parties must be > 0'), 'ERR_OUT_OF_RANGE');
    this.#parties = parties;
  }

  /** Waits for the other parties; resolves to this party's arrival index (0 .. parties - 1). */
  wait(options?: WaitOptions): Promise<number> {
    return this.#condition.run(async () => {
      await this.#block(options);
      try {
        const index = this.#count++;
        if (index + 1 === this.#parties) {
          this.#state = 'draining';
          this.#condition.notifyAll();
        } else {
          await this.#condition.waitFor(() => this.#state !== 'filling', options);
          if (this.#state === 'broken' || this.#state === 'resetting') throw new BrokenBarrierError('Abort or reset of barrier');
        }
        return index;
      } finally {
        this.#count--;
        this.#exit();
      }
    });
  }

  /** Back to empty; parties waiting now get BrokenBarrierError. */
  reset(): Promise<void> {
    return this.#condition.run(() => {
      if (this.#count > 0) this.#state = 'resetting';
      else this.#state = 'filling';
      this.#condition.notifyAll();
    });
  }

  /** Broken for good: every wait(), now and later, gets BrokenBarrierError. */
  abort(): Promise<void> {
    return this.#condition.run(() => {
      this.#state = 'broken';
      this.#condition.notifyAll();
    });
  }

  get parties(): number {
    return this.#parties;
  }

  /** Parties waiting for the barrier to fill. */
  get nWaiting(): number {
    return this.#state === 'filling' ? this.#count : 0;
  }

  get broken(): boolean {
    return this.#state === 'broken';
  }

  async #block(options?: WaitOptions): Promise<void> {
    await this.#condition.waitFor(() => this.#state !== 'draining' && this.#state !== 'resetting', options);
    if (this.#state === 'broken') throw new BrokenBarrierError('Barrier aborted');
  }

  #exit(): void {
    if (this.#count === 0) {
      if (this.#state === 'resetting' || this.#state === 'draining') this.#state = 'filling';
      this.#condition.notifyAll();
    }
  }

  toString(): string {
    return `<Barrier [${this.#state}, waiters:${this.nWaiting}/${this.#parties}]>`;
  }
}
