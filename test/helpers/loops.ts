// Small helpers shared by the suites. Waits are bounded so a loop that never wakes fails the test
// instead of hanging it; nothing here measures how long anything took.
import { type EventLoop, newEventLoop } from 'zloop';
import { settle } from './leaks.js';

/** Resolves or rejects as `promise` does, or rejects if nothing happened within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing happened within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Runs `body` with a fresh loop and closes the loop afterwards, whatever happens. */
export async function withLoop<T>(body: (loop: EventLoop) => Promise<T> | T): Promise<T> {
  const loop = newEventLoop();
  try {
    return await body(loop);
  } finally {
    if (loop.isRunning()) {
      // The body failed while the loop ran: stop it so it can be closed and the leak check passes.
      loop.stop();
      await settle(() => !loop.isRunning());
    }
    loop.close();
  }
}

/** Runs the loop until `stop()` is called, failing the test if that does not happen within `ms`. */
export function runForever(loop: EventLoop, ms = 5000): Promise<void> {
  return within(loop.runForever(), ms, 'runForever');
}

/** Busy-waits (blocks the thread) for `ms` milliseconds. */
export function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin
  }
}
