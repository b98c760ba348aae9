// Task: a Future that drives an async function (or follows a promise), cancelled through its
// AbortSignal.
import { describe, expect, it } from 'vitest';
import { CancelledError, ensureFuture, Future, newEventLoop, Task, type EventLoop } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

async function spin(loop: EventLoop, iterations = 3): Promise<void> {
  const step = (remaining: number): void => {
    if (remaining === 0) loop.stop();
    else loop.callSoon(step, remaining - 1);
  };
  loop.callSoon(step, iterations);
  await runForever(loop);
}

/** Collects unhandled rejections while `body` runs, plus a few turns after it. */
async function collectUnhandled(body: () => Promise<void>): Promise<unknown[]> {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return unhandled;
}

describe('createTask', () => {
  it('runs an async function to its result, starting on the next iteration', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const task = loop.createTask(async () => {
        order.push('task started');
        await Promise.resolve();
        return 'value';
      });
      expect(task).toBeInstanceOf(Task);
      expect(task).toBeInstanceOf(Future);
      expect(task.getLoop()).toBe(loop);
      expect(order).toEqual([]);
      expect(task.done()).toBe(false);
      expect(await loop.runUntilComplete(task)).toBe('value');
      expect(order).toEqual(['task started']);
      expect(task.result()).toBe('value');
      expect(task.exception()).toBe(null);
    });
  });

  it('follows a promise', async () => {
    await withLoop(async (loop) => {
      const task = loop.createTask(new Promise<number>((resolve) => setTimeout(resolve, 5, 7)));
      expect(await loop.runUntilComplete(task)).toBe(7);
    });
  });

  it('accepts a plain function returning a value', async () => {
    await withLoop(async (loop) => {
      const task = loop.createTask(() => 5);
      expect(await loop.runUntilComplete(task)).toBe(5);
    });
  });

  it('can be awaited by another task', async () => {
    await withLoop(async (loop) => {
      const inner = loop.createTask(async () => {
        await new Promise((resolve) => setTimeout(resolve, 2));
        return 2;
      });
      const outer = loop.createTask(async () => (await inner) * 10);
      expect(await loop.runUntilComplete(outer)).toBe(20);
    });
  });

  it('records an exception thrown by the function, synchronously or after an await', async () => {
    await withLoop(async (loop) => {
      const syncError = new Error('sync throw');
      const sync = loop.createTask(() => {
        throw syncError;
      });
      const asyncError = new TypeError('async throw');
      const later = loop.createTask(async () => {
        await Promise.resolve();
        throw asyncError;
      });
      await expect(loop.runUntilComplete(later)).rejects.toBe(asyncError);
      expect(sync.done()).toBe(true);
      expect(sync.cancelled()).toBe(false);
      expect(sync.exception()).toBe(syncError);
      expect(() => sync.result()).toThrow(syncError);
      expect(later.exception()).toBe(asyncError);
    });
  });

  it('records the rejection of a promise', async () => {
    await withLoop(async (loop) => {
      const error = new Error('rejected later');
      const task = loop.createTask(new Promise((_, reject) => setTimeout(reject, 2, error)));
      await expect(loop.runUntilComplete(task)).rejects.toBe(error);
      expect(task.exception()).toBe(error);
    });
  });

  // Bug found by this test, fixed in src/futures.ts: a task made from an already rejected
  // promise attached its handlers only when it started (next iteration), after Node's
  // microtask checkpoint had reported the rejection as unhandled (a process crash under
  // Node's default --unhandled-rejections=throw).
  it('makes a rejected promise handled at once, so Node reports no unhandled rejection', async () => {
    const unhandled = await collectUnhandled(async () => {
      await withLoop(async (loop) => {
        const error = new Error('already rejected');
        const task = loop.createTask(Promise.reject(error));
        await new Promise((resolve) => setTimeout(resolve, 5)); // a microtask checkpoint or two
        await expect(loop.runUntilComplete(task)).rejects.toBe(error);
      });
    });
    expect(unhandled).toEqual([]);
  });

  it('treats a CancelledError thrown by the function as cancellation', async () => {
    await withLoop(async (loop) => {
      const task = loop.createTask(async () => {
        throw new CancelledError('gave up');
      });
      await expect(loop.runUntilComplete(task)).rejects.toBeInstanceOf(CancelledError);
      expect(task.cancelled()).toBe(true);
      expect(() => task.result()).toThrow(/^gave up$/);
    });
  });

  it('refuses setResult and setException', () => {
    const loop = newEventLoop();
    try {
      const task = loop.createTask(async () => 1);
      expect(() => task.setResult(2)).toThrow(/^Task does not support setResult operation$/);
      expect(() => task.setException(new Error('x'))).toThrow(/^Task does not support setException operation$/);
      task.cancel();
    } finally {
      loop.close();
    }
  });
});

describe('cancelling a task', () => {
  it('aborts the signal the function received, with a CancelledError reason', async () => {
    await withLoop(async (loop) => {
      let received: AbortSignal | undefined;
      let sawAbort = false;
      const task = loop.createTask(
        (signal) =>
          new Promise<string>((resolve) => {
            received = signal;
            signal.addEventListener('abort', () => {
              sawAbort = true;
              resolve('ignored: the task is already cancelled');
            });
          }),
      );
      loop.callLater(0.002, () => {
        expect(task.cancel('enough')).toBe(true);
      });
      await expect(loop.runUntilComplete(task)).rejects.toBeInstanceOf(CancelledError);
      expect(received).toBeInstanceOf(AbortSignal);
      expect(received).toBe(task.signal);
      expect(received!.aborted).toBe(true);
      expect(received!.reason).toBeInstanceOf(CancelledError);
      expect(received!.reason.message).toBe('enough');
      expect(sawAbort).toBe(true);
      expect(task.cancelled()).toBe(true);
      expect(task.cancel()).toBe(false);
    });
  });

  it('makes `await task` reject with CancelledError even if the function never stops', async () => {
    await withLoop(async (loop) => {
      const task = loop.createTask(() => new Promise<never>(() => {}));
      const waiter = loop.createTask(async () => {
        try {
          await task;
          return 'not cancelled';
        } catch (error) {
          return error;
        }
      });
      loop.callLater(0.002, () => task.cancel('stop'));
      const error = await within(loop.runUntilComplete(waiter), 5000, 'waiter');
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).toMatchObject({ message: 'stop' });
    });
  });

  it('before it started: the function never runs', async () => {
    await withLoop(async (loop) => {
      let started = false;
      const task = loop.createTask(async () => {
        started = true;
      });
      expect(task.cancel()).toBe(true);
      expect(task.signal.aborted).toBe(true);
      await spin(loop);
      expect(started).toBe(false);
      expect(task.cancelled()).toBe(true);
    });
  });

  it('once done returns false and leaves the signal alone', async () => {
    await withLoop(async (loop) => {
      const task = loop.createTask(async () => 1);
      await loop.runUntilComplete(task);
      expect(task.cancel()).toBe(false);
      expect(task.signal.aborted).toBe(false);
      expect(task.result()).toBe(1);
    });
  });
});

describe('task names and allTasks', () => {
  it('names tasks Task-N by default, or as given; setName renames', () => {
    const loop = newEventLoop();
    try {
      const first = loop.createTask(async () => 1);
      const second = loop.createTask(async () => 2);
      const named = loop.createTask(async () => 3, { name: 'worker' });
      const number = (task: Task<any>): number => Number(/^Task-(\d+)$/.exec(task.getName())![1]);
      expect(number(second)).toBe(number(first) + 1);
      expect(named.getName()).toBe('worker');
      named.setName('renamed');
      expect(named.getName()).toBe('renamed');
      expect(String(named)).toBe('<Task renamed pending>');
      for (const task of [first, second, named]) task.cancel();
      expect(String(first)).toMatch(/^<Task Task-\d+ cancelled>$/);
    } finally {
      loop.close();
    }
  });

  it('allTasks lists the tasks that are not done', async () => {
    await withLoop(async (loop) => {
      const quick = loop.createTask(async () => 1);
      const slow = loop.createTask(() => new Promise<number>((resolve) => setTimeout(resolve, 20, 2)));
      expect(loop.allTasks()).toEqual(new Set([quick, slow]));
      await loop.runUntilComplete(quick);
      expect(loop.allTasks()).toEqual(new Set([slow]));
      await loop.runUntilComplete(slow);
      expect(loop.allTasks().size).toBe(0);
      // A snapshot: changing it does not change the loop's set.
      const snapshot = loop.allTasks();
      const third = loop.createTask(async () => 3);
      expect(snapshot.size).toBe(0);
      expect(loop.allTasks().has(third)).toBe(true);
      await loop.runUntilComplete(third);
    });
  });

  it('allTasks stays correct across many finished tasks', async () => {
    await withLoop(async (loop) => {
      for (let index = 0; index < 500; index++) loop.createTask(async () => index);
      const pending = loop.createTask(() => new Promise<void>((resolve) => setTimeout(resolve, 20)));
      await spin(loop, 5);
      expect(loop.allTasks()).toEqual(new Set([pending]));
      await loop.runUntilComplete(pending);
    });
  });
});

describe('ensureFuture', () => {
  it('passes Futures through and wraps functions and promises in Tasks of the loop', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      expect(ensureFuture(future, loop)).toBe(future);
      const fromFunction = ensureFuture(async () => 'f', loop);
      const fromPromise = ensureFuture(Promise.resolve('p'), loop);
      expect(fromFunction).toBeInstanceOf(Task);
      expect(fromPromise).toBeInstanceOf(Task);
      expect(fromFunction.getLoop()).toBe(loop);
      future.setResult(1);
      expect(await loop.runUntilComplete(fromFunction)).toBe('f');
      expect(await loop.runUntilComplete(fromPromise)).toBe('p');
    });
  });
});
