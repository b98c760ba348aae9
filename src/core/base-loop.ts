// BaseLoop: asyncio's base_events without I/O. The ready queue, the timer queue, running and
// stopping, futures and tasks, the exception handler and debug mode live here, and so does the
// one place that runs callbacks (_iterate -> #runOnce). An I/O layer (io/event-loop.ts) extends
// it: it polls, wakes and arms a timer through the hooks at the end of this class, and calls
// _iterate() once per batch of readiness.
import { type ExceptionContext } from './errors.js';
import { Future, Task, type TaskTarget } from './futures.js';
import { type Handle, NO_ARGS, TimerHandle } from './handles.js';
import { ReadyQueue } from './ready-queue.js';
import { _getRunningLoop, _setRunningLoop } from './running.js';
import { TimerQueue } from './timer-heap.js';
import { type Callback, checkCallback, checkSeconds, type Invocable, argTypeError } from './validate.js';

const CLOCK_RESOLUTION = 1e-6;
/**
 * Node's global `performance` is a lazy getter on globalThis: reading it costs a getter call, a
 * fifth of what time() costs (and callLater calls time()). The object itself does not change.
 */
const clock = performance;

export abstract class BaseLoop {
  readonly #ready = new ReadyQueue();
  readonly #timers = new TimerQueue();
  /**
   * While an iteration runs, timers due by this time are the ones it runs; a timer scheduled
   * meanwhile that is due by then waits in #lateTimers for the next iteration, as in asyncio.
   */
  #dueUntil = -Infinity;
  #lateTimers: TimerHandle[] = [];
  readonly #tasks = new Set<Task<unknown>>();
  #taskFactory: ((loop: this, target: TaskTarget<unknown>, options: { name?: string }) => Task<unknown>) | null = null;
  #tasksAfterPrune = 0;
  #closed = false;
  #running = false;
  /** The run is _runInBackground(): it does not hold the thread's running-loop slot. */
  #background = false;
  #stopping = false;
  #inRunOnce = false;
  /** The deadline the I/O layer's timer is armed for (Infinity: disarmed). */
  #armedDeadline = Infinity;
  #finishRun: (() => void) | null = null;
  #exceptionHandler: ((loop: this, context: ExceptionContext) => void) | null = null;
  #debug = false;
  /** In debug mode, callbacks that take longer than this many seconds are logged. */
  slowCallbackDuration = 0.1;

  /** `closed`: a loop that is closed from the start (the I/O layer's dormant loop). */
  constructor(closed = false) {
    this.#closed = closed;
  }

  // ---- scheduling -------------------------------------------------------------------------

  /** The loop's clock in seconds: monotonic, the clock callAt deadlines are measured on. */
  time(): number {
    return clock.now() / 1000;
  }

  callSoon<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  callSoon(callback: Callback): Handle {
    this._checkClosed();
    checkCallback(callback, 'callback');
    // `arguments`, not a rest parameter: the usual call without arguments allocates no array.
    // The copy is written out here and in callLater/callAt: one helper taking `arguments` was
    // measured (1e6 callSoon(cb, 1, 2)) at 350-510 ns a call against 260 ns inline, since passing
    // `arguments` on materializes it.
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 1) {
      args = new Array(count - 1);
      for (let index = 1; index < count; index++) args[index - 1] = arguments[index];
    }
    const handle = this.#ready.pushCallback(callback, args, this);
    if (!this.#inRunOnce) this.#requestIteration();
    return handle;
  }

  /**
   * callSoon that may be called from outside the loop's own callbacks (a Node timer or I/O
   * callback on this thread). Functions cannot cross threads in JavaScript; for other threads
   * see LoopRef.callSoonThreadsafe.
   */
  callSoonThreadsafe<A extends unknown[]>(callback: (...args: A) => unknown, ...args: A): Handle;
  callSoonThreadsafe(): Handle {
    return this.callSoon.apply(this, arguments as unknown as [Invocable]);
  }

  callLater<A extends unknown[]>(delay: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  callLater(delay: number, callback: Callback): TimerHandle {
    checkSeconds(delay, 'delay');
    this._checkClosed();
    checkCallback(callback, 'callback');
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 2) {
      args = new Array(count - 2);
      for (let index = 2; index < count; index++) args[index - 2] = arguments[index];
    }
    const when = this.time() + delay;
    const timer = new TimerHandle(when, callback, args, this);
    // One FIFO list per delay (timer-heap.ts): when() is time() + delay, as asyncio's call_later.
    if (when > this.#dueUntil) this.#timers.pushLater(delay, timer);
    else this.#lateTimers.push(timer);
    if (!this.#inRunOnce && when < this.#armedDeadline) this.#armTimer();
    return timer;
  }

  callAt<A extends unknown[]>(when: number, callback: (...args: A) => unknown, ...args: A): TimerHandle;
  callAt(when: number, callback: Callback): TimerHandle {
    checkSeconds(when, 'when');
    this._checkClosed();
    checkCallback(callback, 'callback');
    let args = NO_ARGS;
    const count = arguments.length;
    if (count > 2) {
      args = new Array(count - 2);
      for (let index = 2; index < count; index++) args[index - 2] = arguments[index];
    }
    const timer = new TimerHandle(when, callback, args, this);
    if (when > this.#dueUntil) this.#timers.pushAt(timer);
    else this.#lateTimers.push(timer);
    if (!this.#inRunOnce && when < this.#armedDeadline) this.#armTimer();
    return timer;
  }

  /** @internal Called by TimerHandle.cancel(). */
  _timerHandleCancelled(timer: TimerHandle): void {
    this.#timers.cancel(timer);
  }

  /** Diagnostics: timers scheduled and not run yet, cancelled ones not yet dropped included. */
  get scheduledTimerCount(): number {
    return this.#timers.size + this.#lateTimers.length;
  }

  // ---- running ----------------------------------------------------------------------------

  /** Runs until stop() is called; the promise resolves once the loop has stopped. */
  runForever(): Promise<void> {
    try {
      this._checkClosed();
      this.#checkNotRunning();
    } catch (error) {
      return Promise.reject(error);
    }
    _setRunningLoop(this);
    return this.#startRun();
  }

  /**
   * @internal Runs until stop(), like runForever(), but without becoming the thread's running
   * loop: zloop/net's per-thread loop runs this way, so that it never stands in the way of a
   * user's own run() on the same thread.
   */
  _runInBackground(): Promise<void> {
    this._checkClosed();
    if (this.#running) throw new Error('This event loop is already running');
    this.#background = true;
    return this.#startRun();
  }

  /** The promise resolves once the loop has stopped. */
  #startRun(): Promise<void> {
    this.#running = true;
    this._startPolling();
    this.#armedDeadline = Infinity;
    this.#armTimer();
    return new Promise<void>((resolve) => {
      this.#finishRun = resolve;
    });
  }

  /** Runs until `awaitable` (a Future, a promise, or an async function) is done; returns its result. */
  async runUntilComplete<T>(awaitable: Future<T> | TaskTarget<T>): Promise<T> {
    this._checkClosed();
    this.#checkNotRunning();
    const future = awaitable instanceof Future ? awaitable : this.createTask(awaitable);
    if (future.getLoop() !== this) throw new Error('The future belongs to a different loop than the one specified as the loop argument');
    const stopWhenDone = (): void => this.stop();
    future.addDoneCallback(stopWhenDone);
    try {
      await this.runForever();
    } finally {
      future.removeDoneCallback(stopWhenDone);
    }
    if (!future.done()) throw new Error('Event loop stopped before Future completed.');
    return future.result();
  }

  /** Stops after the current iteration; a loop that is not running stops after its next one. */
  stop(): void {
    this.#stopping = true;
    if (this.#running) this.#requestIteration();
  }

  isRunning(): boolean {
    return this.#running;
  }

  isClosed(): boolean {
    return this.#closed;
  }

  /** Drops pending callbacks and timers and releases what the loop holds (_releaseAll). Idempotent. */
  close(): void {
    if (this.#running) throw new Error('Cannot close a running event loop');
    if (this.#closed) return;
    this.#closed = true;
    this.#ready.clear();
    this.#timers.clear();
    this.#lateTimers = [];
    this._releaseAll();
  }

  /** Waits for the default executor's threads to finish; a loop without executors has none. */
  async shutdownDefaultExecutor(): Promise<void> {}

  /**
   * `await using loop = newEventLoop()`: what asyncio.Runner does on exit: the default executor
   * is shut down (and waited for), then the loop is closed. A running loop cannot be closed.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.isClosed()) return;
    await this.shutdownDefaultExecutor();
    this.close();
  }

  // ---- futures and tasks --------------------------------------------------------------------

  createFuture<T = unknown>(): Future<T> {
    this._checkClosed();
    return new Future<T>(this);
  }

  createTask<T>(fnOrPromise: TaskTarget<T>, options: { name?: string } = {}): Task<T> {
    this._checkClosed();
    const factory = this.#taskFactory;
    const task = factory === null ? new Task<T>(this, fnOrPromise, options.name) : (factory(this, fnOrPromise, options) as Task<T>);
    this.#tasks.add(task);
    // Done tasks are dropped in bulk once the set doubles, so tracking costs O(1) per task.
    if (this.#tasks.size > 2 * this.#tasksAfterPrune + 64) this.allTasks();
    return task;
  }

  /**
   * Makes createTask call `factory(loop, target, options)` instead of `new Task(...)`; null
   * restores the default. As asyncio's, the factory must return a Task (or a subclass) of this loop.
   */
  setTaskFactory(factory: ((loop: this, target: TaskTarget<unknown>, options: { name?: string }) => Task<unknown>) | null): void {
    if (factory !== null && typeof factory !== 'function') throw argTypeError('task factory must be a callable or None');
    this.#taskFactory = factory;
  }

  getTaskFactory(): ((loop: this, target: TaskTarget<unknown>, options: { name?: string }) => Task<unknown>) | null {
    return this.#taskFactory;
  }

  /** The tasks of this loop that are not done yet. */
  allTasks(): Set<Task<unknown>> {
    for (const task of this.#tasks) if (task.done()) this.#tasks.delete(task);
    this.#tasksAfterPrune = this.#tasks.size;
    return new Set(this.#tasks);
  }

  // ---- errors and debug -------------------------------------------------------------------

  setExceptionHandler(handler: ((loop: this, context: ExceptionContext) => void) | null): void {
    if (handler !== null && typeof handler !== 'function') {
      throw argTypeError(`A callable object or None is expected, got ${String(handler)}`);
    }
    this.#exceptionHandler = handler;
  }

  getExceptionHandler(): ((loop: this, context: ExceptionContext) => void) | null {
    return this.#exceptionHandler;
  }

  /** Routes an error to the exception handler; never throws (handler failures are logged). */
  callExceptionHandler(context: ExceptionContext): void {
    const handler = this.#exceptionHandler;
    if (handler === null) {
      try {
        this.defaultExceptionHandler(context);
      } catch (error) {
        console.error('Exception in default exception handler', error);
      }
      return;
    }
    try {
      handler(this, context);
    } catch (exception) {
      try {
        this.defaultExceptionHandler({ message: 'Unhandled error in exception handler', exception, context });
      } catch (error) {
        console.error('Exception in default exception handler while handling an unexpected error in custom exception handler', error);
      }
    }
  }

  /** Logs the context with console.error, as asyncio logs it with logger.error. */
  defaultExceptionHandler(context: ExceptionContext): void {
    const lines = [context.message || 'Unhandled exception in event loop'];
    for (const [key, value] of Object.entries(context)) {
      if (key === 'message' || key === 'exception') continue;
      lines.push(`${key}: ${String(value)}`);
    }
    const exception = context.exception;
    if (exception !== undefined) {
      lines.push(exception instanceof Error ? (exception.stack ?? String(exception)) : String(exception));
    }
    console.error(lines.join('\n'));
  }

  setDebug(enabled: boolean): void {
    this.#debug = Boolean(enabled);
  }

  getDebug(): boolean {
    return this.#debug;
  }


  // ---- what the I/O layer provides and calls ----------------------------------------------

  /** Start watching for I/O (the run begins) and make one iteration come soon. */
  protected abstract _startPolling(): void;
  /** Stop watching for I/O: the run is over. */
  protected abstract _stopPolling(): void;
  /** Make an iteration come soon (the loop runs and callbacks are ready). */
  protected abstract _wake(): void;
  /** Fire once after `delayMs` milliseconds; a negative delay disarms. */
  protected abstract _setTimer(delayMs: number): void;
  /** Release what the I/O layer holds: close() is under way. */
  protected abstract _releaseAll(): void;

  /**
   * @internal One iteration, after the I/O layer queued what its batch made ready: runs the
   * ready callbacks and the due timers, ends a stopped run, and re-arms the timer. Returns true
   * if callbacks are ready again (the I/O layer then runs another iteration soon).
   */
  _iterate(): boolean {
    this.#runOnce();
    if (this.#stopping) {
      this.#endRun();
      return false;
    }
    if (this.#ready.length > 0) return true;
    if (this.#timers.size > 0 && this.#timers.nextDeadline() !== this.#armedDeadline) this.#armTimer();
    return false;
  }

  /** @internal The I/O layer's timer fired: it is disarmed. */
  _timerFired(): void {
    this.#armedDeadline = Infinity;
  }

  /** @internal Queues a handle to run in this iteration (an fd watcher whose fd is ready). */
  _pushReady(handle: Handle): void {
    this.#ready.push(handle);
  }

  /** @internal Queues `callback(...args)` without a handle (a batch of cross-thread calls). */
  _pushReadyCallback(callback: Callback, args: unknown[]): void {
    this.#ready.pushCallback(callback, args, this);
  }

  /**
   * Runs the callbacks that were ready at its start, then the timers due at its start, as
   * asyncio's _run_once does (it moves those timers behind the ready callbacks; they run here
   * straight from the timer queue, which is the same order).
   */
  #runOnce(): void {
    this.#inRunOnce = true;
    const timers = this.#timers;
    const dueUntil = timers.size > 0 ? this.time() + CLOCK_RESOLUTION : -Infinity;
    this.#dueUntil = dueUntil;
    const ready = this.#ready;
    const count = ready.length;
    const debug = this.#debug;
    if (debug) {
      for (let index = 0; index < count; index++) {
        const handle = ready.shift(this);
        if (handle !== null && !handle._cancelled) this.#runTimed(handle);
      }
    } else {
      ready.run(count, this);
    }
    if (dueUntil !== -Infinity) timers.runDue(dueUntil, this, debug ? this.#runTimed : null);
    this.#dueUntil = -Infinity;
    if (this.#lateTimers.length > 0) this.#queueLateTimers();
    this.#inRunOnce = false;
  }

  /** Queues the timers scheduled during the iteration that were due by its start (see #dueUntil). */
  #queueLateTimers(): void {
    const late = this.#lateTimers;
    this.#lateTimers = [];
    for (const timer of late) if (!timer._cancelled) this.#timers.pushAt(timer);
  }

  readonly #runTimed = (handle: Handle): void => {
    const started = this.time();
    handle._run();
    const elapsed = this.time() - started;
    if (elapsed >= this.slowCallbackDuration) {
      console.warn(`Executing ${handle.toString()} took ${elapsed.toFixed(3)} seconds`);
    }
  };

  #endRun(): void {
    this.#stopping = false;
    this.#running = false;
    if (this.#background) this.#background = false;
    else _setRunningLoop(null);
    this._stopPolling();
    const finish = this.#finishRun;
    this.#finishRun = null;
    finish?.();
  }

  /** Makes sure an iteration follows soon (the I/O layer wakes its poller). */
  #requestIteration(): void {
    if (this.#running) this._wake();
  }

  /** Arms the I/O layer's timer for the earliest live deadline, only when that deadline changed. */
  #armTimer(): void {
    if (!this.#running) return;
    const next = this.#timers.nextDeadline();
    if (next === this.#armedDeadline) return;
    this.#armedDeadline = next;
    this._setTimer(next === Infinity ? -1 : Math.max(0, (next - this.time()) * 1000));
  }

  /** @internal */
  _checkClosed(): void {
    if (this.#closed) throw new Error('Event loop is closed');
  }

  #checkNotRunning(): void {
    if (this.#running) throw new Error('This event loop is already running');
    if (_getRunningLoop() !== null) {
      throw new Error('Cannot run the event loop while another loop is running');
    }
  }
}
