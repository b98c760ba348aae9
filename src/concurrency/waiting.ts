// How the primitives of this folder wait: a Future of the running loop, and an optional
// AbortSignal that cancels the wait. JavaScript cannot throw into a pending `await`, so where
// asyncio cancels the waiting task, a zloop waiter is cancelled through the signal it was given
// (a task's own signal: `createTask(async (signal) => queue.get({ signal }))`). A wait whose signal
// aborts rejects with CancelledError and leaves the primitive as if it had never waited.
import { CancelledError, TimeoutError } from '../core/errors.js';
import type { Future, Loop } from '../core/futures.js';
import { _getRunningLoop } from '../core/running.js';
import { argTypeError, checkSignal, describeType } from '../core/validate.js';

export type WaitOptions = {
  /** Aborting it cancels the wait: the call rejects with CancelledError and takes nothing. */
  signal?: AbortSignal | null;
};

/** The running loop, or asyncio's RuntimeError message. */
export function runningLoop(): Loop {
  const loop = _getRunningLoop();
  if (loop === null) throw new Error('no running event loop');
  return loop;
}

/** The signal of `options` (validated), or null. */
export function signalOf(options: WaitOptions | undefined, where: string): AbortSignal | null {
  if (options === undefined || options === null) return null;
  if (typeof options !== 'object') throw argTypeError(`${where}: options must be an object, not ${describeType(options)}`);
  return checkSignal(options.signal, `${where}: options.signal`);
}

/**
 * What a wait rejects with when `signal` aborted: CancelledError, or the TimeoutError of a
 * timeout()'s signal (so code under a timeout sees TimeoutError, as in asyncio).
 */
export function cancelledBy(signal: AbortSignal): CancelledError | TimeoutError {
  const reason: unknown = signal.reason;
  if (reason instanceof CancelledError || reason instanceof TimeoutError) return reason;
  const error = new CancelledError(reason instanceof Error ? reason.message : '');
  (error as { cause?: unknown }).cause = reason;
  return error;
}

/**
 * Awaits `future`; if `signal` aborts first, `future` is cancelled (so `await` rejects with
 * CancelledError). Throws at once, without waiting, when `signal` is already aborted.
 */
export async function awaitWithSignal<T>(future: Future<T>, signal: AbortSignal | null): Promise<T> {
  if (signal === null) return await future;
  if (signal.aborted) {
    future.cancel();
    throw cancelledBy(signal);
  }
  const onAbort = (): void => {
    future.cancel();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await future;
  } catch (error) {
    if (error instanceof CancelledError && signal.aborted) throw cancelledBy(signal);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** Removes `waiter` from `waiters` if it is still there. */
export function removeWaiter<T>(waiters: Future<T>[], waiter: Future<T>): void {
  const index = waiters.indexOf(waiter);
  if (index >= 0) waiters.splice(index, 1);
}

/** A wait ended by its signal (CancelledError, or a timeout's TimeoutError). */
export function isCancellation(error: unknown): boolean {
  return error instanceof CancelledError || error instanceof TimeoutError;
}

/**
 * Puts `waiter` in line on `waiters`, waits for it to be woken (or for `signal`), and takes it
 * out of the line again. A waiter woken but whose signal aborted before it ran throws too: the
 * caller hands on what the wake gave it.
 */
export async function waitInLine<T>(waiters: Future<T>[], waiter: Future<T>, signal: AbortSignal | null): Promise<void> {
  waiters.push(waiter);
  try {
    await awaitWithSignal(waiter, signal);
  } finally {
    removeWaiter(waiters, waiter);
  }
  if (signal?.aborted) throw cancelledBy(signal);
}
