// Future and Task (asyncio futures.py and tasks.py). A Future is awaitable: `await future`
// resolves with its result or rejects with its exception (CancelledError when cancelled). Done
// callbacks are scheduled with the loop's callSoon, never called inline, as in asyncio.
import { AsyncLocalStorage } from 'node:async_hooks';
import { CancelledError, type ExceptionContext, InvalidStateError } from './errors.js';
import type { Handle, TimerHandle } from './handles.js';
import { checkCallback, isThenable, argTypeError } from './validate.js';

/**
 * The scheduling surface of a loop (asyncio's AbstractEventLoop without I/O): what futures, tasks
 * and the feature modules use. Declared beside Future, which it returns and which refers to it.
 */
export interface Loop {
  time(): number;
  callSoon<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  callSoonThreadsafe<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  callLater<A extends unknown[]>(delay: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  callAt<A extends unknown[]>(when: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  createFuture<T = unknown>(): Future<T>;
  createTask<T>(fnOrPromise: TaskTarget<T>, options?: { name?: string }): Task<T>;
  /** The loop's tasks that are not done yet. */
  allTasks(): Set<Task<unknown>>;
  callExceptionHandler(context: ExceptionContext): void;
  getDebug(): boolean;
  isClosed(): boolean;
  isRunning(): boolean;
}

// Method syntax makes the parameter bivariant, so a Future<number> is also a Future<unknown>
// (a set of every task, gather over mixed results), as readers of a result expect.
type DoneCallback<T> = { bivariant(future: Future<T>): unknown }['bivariant'];

const PENDING = 0;
const CANCELLED = 1;
const FINISHED = 2;
const STATE_NAMES = ['PENDING', 'CANCELLED', 'FINISHED'] as const;

export class Future<T = unknown> implements PromiseLike<T> {
  readonly #loop: Loop;
  #state: 0 | 1 | 2 = PENDING;
  #result: T | undefined;
  #exception: unknown = undefined;
  #hasException = false;
  #cancelMessage: string | undefined;
  #callbacks: DoneCallback<T>[] = [];
  #promise: Promise<T> | undefined;

  constructor(loop: Loop) {
    this.#loop = loop;
  }

  getLoop(): Loop {
    return this.#loop;
  }

  done(): boolean {
    return this.#state !== PENDING;
  }

  cancelled(): boolean {
    return this.#state === CANCELLED;
  }

  /** The result; throws the exception if one was set, CancelledError if cancelled. */
  result(): T {
    if (this.#state === CANCELLED) throw this.#cancelledError();
    if (this.#state === PENDING) throw new InvalidStateError('Result is not ready.');
    if (this.#hasException) throw this.#exception;
    return this.#result as T;
  }

  /** The exception set on this future, or null; throws CancelledError if cancelled. */
  exception(): unknown {
    if (this.#state === CANCELLED) throw this.#cancelledError();
    if (this.#state === PENDING) throw new InvalidStateError('Exception is not set.');
    return this.#hasException ? this.#exception : null;
  }

  setResult(value: T): void {
    this.#checkPending();
    this._resolve(value);
  }

  setException(exception: unknown): void {
    this.#checkPending();
    this._reject(exception);
  }

  /** Cancels the future and schedules its callbacks. Returns false if it was already done. */
  cancel(message?: string): boolean {
    if (this.#state !== PENDING) return false;
    this.#state = CANCELLED;
    this.#cancelMessage = message;
    this.#scheduleCallbacks();
    return true;
  }

  addDoneCallback(callback: DoneCallback<T>): void {
    checkCallback(callback, 'callback');
    if (this.#state !== PENDING) this.#loop.callSoon(callback, this);
    else this.#callbacks.push(callback);
  }

  /** Removes every registration of `callback`; returns how many were removed. */
  removeDoneCallback(callback: DoneCallback<T>): number {
    const before = this.#callbacks.length;
    this.#callbacks = this.#callbacks.filter((registered) => registered !== callback);
    return before - this.#callbacks.length;
  }

  then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#asPromise().then(onFulfilled, onRejected);
  }

  catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#asPromise().catch(onRejected);
  }

  finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#asPromise().finally(onFinally);
  }

  toString(): string {
    return `<${this.constructor.name} ${this._stateName()}>`;
  }

  /** @internal 'pending', 'cancelled' or 'finished', for toString(). */
  protected _stateName(): string {
    return STATE_NAMES[this.#state].toLowerCase();
  }

  /** @internal Completes with a value, skipping the public state check. */
  protected _resolve(value: T): void {
    this.#result = value;
    this.#state = FINISHED;
    this.#scheduleCallbacks();
  }

  /** @internal Completes with an exception, skipping the public state check. */
  protected _reject(exception: unknown): void {
    this.#exception = exception;
    this.#hasException = true;
    this.#state = FINISHED;
    this.#scheduleCallbacks();
  }

  #checkPending(): void {
    if (this.#state !== PENDING) {
      throw new InvalidStateError(`invalid state: the future is already ${STATE_NAMES[this.#state]}`);
    }
  }

  #cancelledError(): CancelledError {
    return new CancelledError(this.#cancelMessage ?? '');
  }

  #scheduleCallbacks(): void {
    const callbacks = this.#callbacks;
    if (callbacks.length === 0) return;
    this.#callbacks = [];
    for (const callback of callbacks) this.#loop.callSoon(callback, this);
  }

  /** Made on first `await`/`then`, so an exception nobody awaits is no unhandled rejection. */
  #asPromise(): Promise<T> {
    if (this.#promise === undefined) {
      this.#promise = new Promise<T>((resolve, reject) => {
        const settle = (): void => {
          if (this.#state === CANCELLED) reject(this.#cancelledError());
          else if (this.#hasException) reject(this.#exception);
          else resolve(this.#result as T);
        };
        if (this.#state !== PENDING) settle();
        else this.#callbacks.push(settle);
      });
    }
    return this.#promise;
  }
}

/** What createTask runs: an async function that receives an AbortSignal, or a promise. */
export type TaskTarget<T> = ((signal: AbortSignal) => T | PromiseLike<T>) | PromiseLike<T>;

let nextTaskNumber = 0;

/** Which task's code runs, across its awaits; made by the first _currentTask() (see tasks.ts). */
let taskStorage: AsyncLocalStorage<Task<unknown>> | null = null;

/** @internal The running task, or null; the first call switches tracking on. */
export function _currentTask(): Task<unknown> | null {
  taskStorage ??= new AsyncLocalStorage<Task<unknown>>();
  return taskStorage.getStore() ?? null;
}

/**
 * A Future that drives an async function. The function starts on the loop's next iteration and
 * receives an AbortSignal. `cancel()` aborts the signal (reason: CancelledError) and cancels the
 * task at once, so `await task` rejects with CancelledError; JavaScript cannot throw into a
 * pending `await`, so a function that wants to stop early listens to its signal.
 */
export class Task<T = unknown> extends Future<T> {
  #name: string;
  readonly #controller = new AbortController();

  /** @internal Use loop.createTask(). */
  constructor(loop: Loop, target: TaskTarget<T>, name?: string) {
    super(loop);
    if (typeof target !== 'function' && !isThenable(target)) {
      throw argTypeError('fnOrPromise must be an async function or a promise');
    }
    this.#name = name ?? `Task-${++nextTaskNumber}`;
    loop.callSoon(() => this.#start(target));
    // The task owns a promise's outcome from now on: mark it handled at once, or a promise that
    // is already rejected is reported as an unhandled rejection (fatal under Node's default
    // --unhandled-rejections=throw) at the microtask checkpoint before #start runs.
    if (typeof target !== 'function') Promise.resolve(target).then(undefined, () => {});
  }

  getName(): string {
    return this.#name;
  }

  setName(name: string): void {
    this.#name = String(name);
  }

  /** The signal given to the task's function; aborted by cancel(). */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  override setResult(_value: T): void {
    throw new Error('Task does not support setResult operation');
  }

  override setException(_exception: unknown): void {
    throw new Error('Task does not support setException operation');
  }

  override cancel(message?: string): boolean {
    if (this.done()) return false;
    this.#controller.abort(new CancelledError(message ?? ''));
    return super.cancel(message);
  }

  override toString(): string {
    return `<Task ${this.#name} ${this._stateName()}>`;
  }

  #start(target: TaskTarget<T>): void {
    if (this.done()) return; // cancelled before its first step
    let outcome: T | PromiseLike<T>;
    try {
      if (typeof target !== 'function') outcome = target;
      else if (taskStorage === null) outcome = target(this.#controller.signal);
      else outcome = taskStorage.run(this as Task<unknown>, target, this.#controller.signal);
    } catch (exception) {
      this.#fail(exception);
      return;
    }
    Promise.resolve(outcome).then(
      (value) => {
        if (!this.done()) this._resolve(value);
      },
      (exception: unknown) => {
        if (!this.done()) this.#fail(exception);
      },
    );
  }

  #fail(exception: unknown): void {
    if (exception instanceof CancelledError) super.cancel(exception.message || undefined);
    else this._reject(exception);
  }
}

/**
 * A Future whose cancel() also aborts an operation in flight; made by cancellable(). `await`
 * settles straight from the operation's promise (a microtask), not a loop iteration later through
 * done callbacks: a connection is handed over before the next batch of reads.
 */
class OperationFuture<T> extends Future<T> {
  readonly #controller: AbortController;
  readonly #settled: Promise<T>;
  #resolve!: (value: T) => void;
  #reject!: (reason: unknown) => void;

  constructor(loop: Loop, controller: AbortController) {
    super(loop);
    this.#controller = controller;
    this.#settled = new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // An outcome nobody awaits is no unhandled rejection, as for any Future.
    this.#settled.catch(() => {});
  }

  override cancel(message?: string): boolean {
    if (!super.cancel(message)) return false;
    // At once, not from a done callback: the operation must not complete in between.
    this.#controller.abort(new CancelledError(message ?? ''));
    this.#reject(new CancelledError(message ?? ''));
    return true;
  }

  /** @internal */
  _settle(value: T): void {
    this.setResult(value);
    this.#resolve(value);
  }

  /** @internal */
  _fail(exception: unknown): void {
    this.setException(exception);
    this.#reject(exception);
  }

  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#settled.then(onFulfilled, onRejected);
  }

  override catch<R = never>(onRejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#settled.catch(onRejected);
  }

  override finally(onFinally?: (() => void) | null): Promise<T> {
    return this.#settled.finally(onFinally);
  }
}

/**
 * Runs `operation` at once and returns a Future of its outcome whose cancel() aborts the signal
 * `operation` receives, so an operation under waitFor() undoes itself (a pending connect closes
 * its socket) as asyncio's cancellation does. Aborting `signal` (the caller's option) aborts the
 * operation too. A value that arrives once the Future is done anyway goes to `discard` (a
 * connection made in the same turn as the cancel is closed, not leaked).
 */
export function cancellable<T>(
  loop: Loop,
  signal: AbortSignal | null | undefined,
  operation: (signal: AbortSignal) => Promise<T>,
  discard: (value: T) => void,
): Future<T> {
  if (signal !== null && signal !== undefined && !(signal instanceof AbortSignal)) {
    throw argTypeError('options.signal must be an AbortSignal');
  }
  const controller = new AbortController();
  const future = new OperationFuture<T>(loop, controller);
  const forward = (): void => controller.abort(signal!.reason);
  if (signal?.aborted) forward();
  else signal?.addEventListener('abort', forward, { once: true });
  let outcome: Promise<T>;
  try {
    outcome = operation(controller.signal);
  } catch (exception) {
    outcome = Promise.reject(exception);
  }
  outcome.then(
    (value) => {
      signal?.removeEventListener('abort', forward);
      if (future.done()) discard(value);
      else future._settle(value);
    },
    (exception: unknown) => {
      signal?.removeEventListener('abort', forward);
      if (!future.done()) future._fail(exception);
    },
  );
  return future;
}

/** Wraps a promise or async function in a Task of `loop`; passes Futures through. */
export function ensureFuture<T>(awaitable: Future<T> | TaskTarget<T>, loop: Loop): Future<T> {
  if (awaitable instanceof Future) return awaitable;
  if (typeof awaitable === 'function' || isThenable(awaitable)) return loop.createTask(awaitable);
  throw argTypeError('An asyncio.Future, a coroutine or an awaitable is required');
}
