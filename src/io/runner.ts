// The module-level helpers of asyncio: run(), getEventLoop(), sleep(), waitFor().
import { CancelledError, TimeoutError } from '../core/errors.js';
import { ensureFuture, Future, type Task, type TaskTarget } from '../core/futures.js';
import { EventLoop, newEventLoop } from './event-loop.js';
import { _getCurrentLoop, _getRunningLoop, _setCurrentLoop } from '../core/running.js';
import { checkSeconds, isThenable, argTypeError } from '../core/validate.js';
import type { ExecutorTask } from '../process/executor.js';
import { awaitWithSignal, signalOf, type WaitOptions } from '../concurrency/waiting.js';

/** The running loop; throws asyncio's RuntimeError message when none runs on this thread. */
export function getRunningLoop(): EventLoop {
  const loop = _getRunningLoop();
  if (loop === null) throw new Error('no running event loop');
  // Only EventLoop registers itself as running.
  return loop as EventLoop;
}

/** Makes `loop` this thread's current loop, the one getEventLoop() returns when none runs. */
export function setEventLoop(loop: EventLoop | null): void {
  _setCurrentLoop(loop);
}

export type RunOptions = {
  /** Makes the loop run() uses; newEventLoop by default. */
  loopFactory?: () => EventLoop;
  debug?: boolean;
};

/**
 * asyncio.run: makes a new loop, runs `main` (an async function or a promise) to completion,
 * cancels the tasks left over, closes the loop, and returns main's result.
 */
export async function run<T>(main: TaskTarget<T>, options: RunOptions = {}): Promise<T> {
  if (_getRunningLoop() !== null) throw new Error('run() cannot be called from a running event loop');
  if (typeof main !== 'function' && !isThenable(main)) {
    throw argTypeError('main must be an async function or a promise');
  }
  const factory = options.loopFactory ?? newEventLoop;
  if (typeof factory !== 'function') throw argTypeError('options.loopFactory must be a function');
  const loop = factory();
  if (!(loop instanceof EventLoop)) throw argTypeError('options.loopFactory must return an EventLoop');
  if (options.debug !== undefined) loop.setDebug(options.debug);
  setEventLoop(loop);
  try {
    return await loop.runUntilComplete(loop.createTask(main));
  } finally {
    try {
      await cancelAllTasks(loop);
      await loop.shutdownDefaultExecutor();
    } finally {
      setEventLoop(null);
      loop.close();
    }
  }
}

async function cancelAllTasks(loop: EventLoop): Promise<void> {
  const tasks = loop.allTasks();
  if (tasks.size === 0) return;
  for (const task of tasks) task.cancel();
  // One more run delivers the tasks' done callbacks, as asyncio.run's gather() does.
  await loop.runUntilComplete(whenAllDone(loop, [...tasks]));
  for (const task of tasks) {
    if (task.cancelled()) continue;
    const exception = task.exception();
    if (exception !== null) {
      loop.callExceptionHandler({ message: 'unhandled exception during run() shutdown', exception, task });
    }
  }
}

/** A future that completes (with no value) once every one of `futures` is done. */
function whenAllDone(loop: EventLoop, futures: Future<unknown>[] | Task<unknown>[]): Future<void> {
  const all = loop.createFuture<void>();
  let remaining = futures.length;
  const onDone = (): void => {
    remaining--;
    if (remaining === 0 && !all.done()) all.setResult();
  };
  if (remaining === 0) all.setResult();
  for (const future of futures) future.addDoneCallback(onDone);
  return all;
}

/** The running loop, else this thread's current loop, made on first use. */
export function getEventLoop(): EventLoop {
  const running = _getRunningLoop();
  if (running !== null) return running as EventLoop;
  let current = _getCurrentLoop() as EventLoop | null;
  if (current === null) {
    current = newEventLoop();
    setEventLoop(current);
  }
  return current;
}

/**
 * Resolves with `value` after `delay` seconds, on the running loop's timers. Aborting
 * `options.signal` cancels the timer and rejects with CancelledError (a timeout()'s TimeoutError
 * when the signal is a timeout's), as every zloop wait does; see concurrency/waiting.ts.
 */
export async function sleep<T = undefined>(delay: number, value?: T, options?: WaitOptions): Promise<T> {
  checkSeconds(delay, 'delay');
  const signal = signalOf(options, 'sleep()');
  const loop = getRunningLoop();
  const future = loop.createFuture<T>();
  // sleep(0) only yields to the loop, as asyncio's does: one callSoon, no timer.
  if (delay <= 0) {
    loop.callSoon(setResultUnlessDone<T>, future, value as T);
    // Without a signal, the future itself: no extra async frame on the sleep(0) hot path.
    return await (signal === null ? future : awaitWithSignal(future, signal));
  }
  const timer = loop.callLater(delay, setResultUnlessDone<T>, future, value as T);
  try {
    return await (signal === null ? future : awaitWithSignal(future, signal));
  } finally {
    timer.cancel();
  }
}

/**
 * Waits for `awaitable` for at most `timeout` seconds (null: no limit). On timeout the awaitable is
 * cancelled and TimeoutError is thrown, as asyncio.wait_for does.
 */
export async function waitFor<T>(awaitable: Future<T> | TaskTarget<T>, timeout: number | null): Promise<T> {
  if (timeout !== null && timeout !== undefined) checkSeconds(timeout, 'timeout');
  const loop = getRunningLoop();
  const future = ensureFuture(awaitable, loop);
  if (timeout === null || timeout === undefined) return await future;
  if (timeout <= 0 && !future.done()) {
    future.cancel();
    throw new TimeoutError();
  }
  let timedOut = false;
  const timer = loop.callLater(timeout, () => {
    if (!future.done()) {
      timedOut = true;
      future.cancel();
    }
  });
  try {
    return await future;
  } catch (error) {
    if (timedOut && error instanceof CancelledError) throw new TimeoutError();
    throw error;
  } finally {
    timer.cancel();
  }
}

/**
 * asyncio.to_thread: runs `task` ({ filename, name }: a module and one of its exports, since a
 * function cannot cross threads in JavaScript) with `args` on the running loop's default
 * executor (a worker-thread pool), and resolves to its result.
 */
export async function toThread<T = unknown>(task: ExecutorTask, ...args: unknown[]): Promise<T> {
  return await getRunningLoop().runInExecutor<T>(null, task, ...args);
}

function setResultUnlessDone<T>(future: Future<T>, value: T): void {
  if (!future.done()) future.setResult(value);
}
