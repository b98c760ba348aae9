// asyncio's task helpers (tasks.py): gather, wait, asCompleted, shield, currentTask, allTasks.
// Awaitables are Futures (Tasks included), promises, or async functions (run as Tasks of the
// running loop, getting the task's AbortSignal), as ensureFuture takes them.
import { CancelledError, TimeoutError } from '../core/errors.js';
import { ensureFuture, Future, type Loop, type Task, type TaskTarget, _currentTask } from '../core/futures.js';
import { checkSeconds, describeType, isThenable, argRangeError, argTypeError } from '../core/validate.js';
import { runningLoop } from './waiting.js';

/** What gather, wait, asCompleted and shield take. */
export type Awaitable<T> = Future<T> | TaskTarget<T>;

export const FIRST_COMPLETED = 'FIRST_COMPLETED';
export const FIRST_EXCEPTION = 'FIRST_EXCEPTION';
export const ALL_COMPLETED = 'ALL_COMPLETED';
export type ReturnWhen = typeof FIRST_COMPLETED | typeof FIRST_EXCEPTION | typeof ALL_COMPLETED;

export type GatherOptions = {
  /** Failures (and cancellations) become results in their place instead of failing the gather. */
  returnExceptions?: boolean;
};

function isOptions(value: unknown): value is GatherOptions {
  return value !== null && typeof value === 'object' && !(value instanceof Future) && !isThenable(value) && !Array.isArray(value);
}

/** The cancellation a child's outcome stands for in gather's results. */
function outcomeOf(future: Future<unknown>): unknown {
  if (future.cancelled()) return new CancelledError();
  const exception = future.exception();
  return exception !== null ? exception : future.result();
}

/** gather's Future: cancelling it cancels every child still running. */
class GatheringFuture<T> extends Future<T> {
  readonly #children: Future<unknown>[];
  /** @internal Set by cancel(): the gather ends as cancelled once its children are done. */
  _cancelRequested = false;

  constructor(loop: Loop, children: Future<unknown>[]) {
    super(loop);
    this.#children = children;
  }

  override cancel(message?: string): boolean {
    if (this.done()) return false;
    let any = false;
    for (const child of this.#children) if (child.cancel(message)) any = true;
    // The children's done callbacks settle the gather (as cancelled); if none could be
    // cancelled (all done already), it stays as it will be settled.
    if (any) this._cancelRequested = true;
    return any;
  }
}

/**
 * asyncio.gather: a Future of every awaitable's result, in the order given. The first failure
 * fails the gather (the others keep running) unless `returnExceptions`; cancelling the gather
 * cancels the children. The options object, if any, comes last:
 * `await gather(a, b, { returnExceptions: true })`.
 */
export function gather<T extends unknown[] = unknown[]>(...args: [...Awaitable<unknown>[], GatherOptions] | Awaitable<unknown>[]): Future<T> {
  const last = args.at(-1);
  const options: GatherOptions = isOptions(last) ? (args.pop() as GatherOptions) : {};
  const returnExceptions = Boolean(options.returnExceptions);
  const loop = runningLoop();
  const awaitables = args as Awaitable<unknown>[];
  if (awaitables.length === 0) {
    const empty = loop.createFuture<T>();
    empty.setResult([] as unknown as T);
    return empty;
  }
  // The same Future twice is one child whose result appears twice, as in asyncio.
  const children: Future<unknown>[] = [];
  const byAwaitable = new Map<unknown, Future<unknown>>();
  for (const awaitable of awaitables) {
    let child = byAwaitable.get(awaitable);
    if (child === undefined) {
      child = ensureFuture(awaitable, loop);
      byAwaitable.set(awaitable, child);
    }
    children.push(child);
  }
  const unique = new Set(children);
  const outer = new GatheringFuture<T>(loop, children);
  let finished = 0;
  const onChildDone = (child: Future<unknown>): void => {
    finished++;
    if (outer.done()) {
      // Mark a late failure as seen, as asyncio does, so it is not reported as never retrieved.
      if (!child.cancelled()) child.exception();
      return;
    }
    if (!returnExceptions) {
      if (child.cancelled()) {
        outer.setException(new CancelledError());
        return;
      }
      const exception = child.exception();
      if (exception !== null) {
        outer.setException(exception);
        return;
      }
    }
    if (finished === unique.size) {
      if (outer._cancelRequested) {
        Future.prototype.cancel.call(outer);
        return;
      }
      outer.setResult(children.map(outcomeOf) as unknown as T);
    }
  };
  for (const child of unique) child.addDoneCallback(onChildDone);
  return outer;
}

export type WaitOptions = {
  /** Seconds to wait at most (null: no limit); what is not done by then is in `pending`. */
  timeout?: number | null;
  returnWhen?: ReturnWhen;
};

/** Futures of the running loop for `awaitables` (an iterable); ValueError's message when empty. */
function futuresOf(awaitables: Iterable<Awaitable<unknown>>, loop: Loop, where: string): Future<unknown>[] {
  if (awaitables === null || typeof (awaitables as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    throw argTypeError(`${where} expects an iterable of futures, not ${describeType(awaitables)}`);
  }
  const futures = [...new Set(Array.from(awaitables, (awaitable) => ensureFuture(awaitable, loop)))];
  return futures;
}

function checkTimeout(timeout: number | null | undefined, where: string): number | null {
  if (timeout === undefined || timeout === null) return null;
  checkSeconds(timeout, `${where}: timeout`);
  return timeout;
}

/**
 * asyncio.wait: waits until `returnWhen` (ALL_COMPLETED by default) or the timeout, and resolves
 * to [done, pending], two Sets. Nothing is cancelled on timeout.
 */
export async function wait<T>(awaitables: Iterable<Awaitable<T>>, options: WaitOptions = {}): Promise<[done: Set<Future<T>>, pending: Set<Future<T>>]> {
  const loop = runningLoop();
  const returnWhen = options.returnWhen ?? ALL_COMPLETED;
  if (returnWhen !== FIRST_COMPLETED && returnWhen !== FIRST_EXCEPTION && returnWhen !== ALL_COMPLETED) {
    throw argRangeError(`Invalid returnWhen value: ${String(returnWhen)}`, 'ERR_INVALID_ARG_VALUE');
  }
  const timeout = checkTimeout(options.timeout, 'wait()');
  const futures = futuresOf(awaitables, loop, 'wait()') as Future<T>[];
  if (futures.length === 0) throw argRangeError('Set of Tasks/Futures is empty.', 'ERR_INVALID_ARG_VALUE');
  const isDoneEnough = (): boolean => {
    if (returnWhen === FIRST_COMPLETED) return futures.some((future) => future.done());
    if (returnWhen === FIRST_EXCEPTION && futures.some((future) => future.done() && !future.cancelled() && future.exception() !== null)) return true;
    return futures.every((future) => future.done());
  };
  if (!isDoneEnough()) {
    const waiter = loop.createFuture<void>();
    const timer = timeout === null ? null : loop.callLater(Math.max(0, timeout), () => waiter.done() || waiter.setResult());
    const onDone = (): void => {
      if (!waiter.done() && isDoneEnough()) waiter.setResult();
    };
    for (const future of futures) future.addDoneCallback(onDone);
    try {
      await waiter;
    } finally {
      timer?.cancel();
      for (const future of futures) future.removeDoneCallback(onDone);
    }
  }
  const done = new Set<Future<T>>();
  const pending = new Set<Future<T>>();
  for (const future of futures) (future.done() ? done : pending).add(future);
  return [done, pending];
}

/**
 * asyncio.as_completed: `for await (const result of asCompleted(fs))` gets the results in the order
 * the awaitables finish; a failure is thrown where its result would come (as `await f` raises in
 * asyncio's loop). An async generator cannot yield a Future itself (`yield` awaits a thenable),
 * so it yields results, the form `for f in as_completed(fs): await f` gives in Python.
 * TimeoutError if they are not all done within `timeout` seconds.
 */
export async function* asCompleted<T>(awaitables: Iterable<Awaitable<T>>, options: { timeout?: number | null } = {}): AsyncGenerator<T, void, undefined> {
  const loop = runningLoop();
  const timeout = checkTimeout(options.timeout, 'asCompleted()');
  const futures = futuresOf(awaitables, loop, 'asCompleted()') as Future<T>[];
  const finished: Future<T>[] = [];
  let wake: Future<void> | null = null;
  const onDone = (future: Future<T>): void => {
    finished.push(future);
    if (wake !== null && !wake.done()) wake.setResult();
  };
  for (const future of futures) future.addDoneCallback(onDone);
  const deadline = timeout === null ? Infinity : loop.time() + timeout;
  try {
    for (let yielded = 0; yielded < futures.length; yielded++) {
      while (finished.length === 0) {
        const waiter = loop.createFuture<void>();
        wake = waiter;
        const timer = deadline === Infinity ? null : loop.callAt(deadline, () => waiter.done() || waiter.setResult());
        try {
          await waiter;
        } finally {
          timer?.cancel();
          wake = null;
        }
        if (finished.length === 0 && loop.time() >= deadline) throw new TimeoutError();
      }
      yield finished.shift()!.result();
    }
  } finally {
    for (const future of futures) future.removeDoneCallback(onDone);
  }
}

/**
 * asyncio.shield: a Future with `awaitable`'s outcome that can be cancelled without cancelling
 * `awaitable` (which keeps running; its outcome is then dropped).
 */
export function shield<T>(awaitable: Awaitable<T>): Future<T> {
  const loop = runningLoop();
  const inner = ensureFuture(awaitable, loop);
  if (inner.done()) return inner;
  const outer = loop.createFuture<T>();
  inner.addDoneCallback(() => {
    if (outer.cancelled()) {
      if (!inner.cancelled()) inner.exception(); // seen: no "never retrieved" report
      return;
    }
    if (inner.cancelled()) outer.cancel();
    else if (inner.exception() !== null) outer.setException(inner.exception());
    else outer.setResult(inner.result());
  });
  return outer;
}

/**
 * The Task whose code is running (across its awaits), or null outside any task. Tasks are
 * tracked with an AsyncLocalStorage switched on by the first call (it costs every promise a
 * little), so tasks started before that first call are not seen: call it once at startup if a
 * library relies on it.
 */
export function currentTask(): Task<unknown> | null {
  return _currentTask();
}

/** The tasks of `loop` (the running loop by default) that are not done yet. */
export function allTasks(loop: Loop = runningLoop()): Set<Task<unknown>> {
  return loop.allTasks();
}
