// Future: state, result/exception, done callbacks (always through callSoon) and `await`.
import { describe, expect, it } from 'vitest';
import { CancelledError, Future, InvalidStateError, newEventLoop, type EventLoop } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

/** Runs the loop for a few iterations so scheduled done callbacks get delivered. */
async function spin(loop: EventLoop, iterations = 3): Promise<void> {
  const step = (remaining: number): void => {
    if (remaining === 0) loop.stop();
    else loop.callSoon(step, remaining - 1);
  };
  loop.callSoon(step, iterations);
  await runForever(loop);
}

describe('Future state', () => {
  it('starts pending; result() and exception() raise InvalidStateError', () => {
    const loop = newEventLoop();
    try {
      const future = loop.createFuture<number>();
      expect(future).toBeInstanceOf(Future);
      expect(future.getLoop()).toBe(loop);
      expect(future.done()).toBe(false);
      expect(future.cancelled()).toBe(false);
      expect(() => future.result()).toThrow(InvalidStateError);
      expect(() => future.result()).toThrow(/^Result is not ready\.$/);
      expect(() => future.exception()).toThrow(InvalidStateError);
      expect(() => future.exception()).toThrow(/^Exception is not set\.$/);
      expect(String(future)).toBe('<Future pending>');
    } finally {
      loop.close();
    }
  });

  it('setResult makes it done with that result and no exception', () => {
    const loop = newEventLoop();
    try {
      const future = loop.createFuture<{ a: number }>();
      const value = { a: 1 };
      future.setResult(value);
      expect(future.done()).toBe(true);
      expect(future.cancelled()).toBe(false);
      expect(future.result()).toBe(value);
      expect(future.exception()).toBe(null);
      expect(String(future)).toBe('<Future finished>');
    } finally {
      loop.close();
    }
  });

  it('setException makes result() throw that exception', () => {
    const loop = newEventLoop();
    try {
      const future = loop.createFuture();
      const error = new RangeError('bad');
      future.setException(error);
      expect(future.done()).toBe(true);
      expect(future.exception()).toBe(error);
      expect(() => future.result()).toThrow(error);
      // Non-Error exceptions are kept as they are.
      const other = loop.createFuture();
      other.setException('a string');
      expect(other.exception()).toBe('a string');
    } finally {
      loop.close();
    }
  });

  it('cancel(msg) cancels a pending future once; result() and exception() raise CancelledError', () => {
    const loop = newEventLoop();
    try {
      const future = loop.createFuture();
      expect(future.cancel('stop it')).toBe(true);
      expect(future.cancel('again')).toBe(false);
      expect(future.cancelled()).toBe(true);
      expect(future.done()).toBe(true);
      expect(() => future.result()).toThrow(CancelledError);
      expect(() => future.result()).toThrow(/^stop it$/);
      expect(() => future.exception()).toThrow(CancelledError);
      const plain = loop.createFuture();
      plain.cancel();
      expect(() => plain.result()).toThrow(CancelledError);
      expect(String(plain)).toBe('<Future cancelled>');
    } finally {
      loop.close();
    }
  });

  it('cancel() of a done future returns false and changes nothing', () => {
    const loop = newEventLoop();
    try {
      const future = loop.createFuture<number>();
      future.setResult(3);
      expect(future.cancel()).toBe(false);
      expect(future.cancelled()).toBe(false);
      expect(future.result()).toBe(3);
    } finally {
      loop.close();
    }
  });

  it('setting a done future raises InvalidStateError', () => {
    const loop = newEventLoop();
    try {
      const finished = loop.createFuture<number>();
      finished.setResult(1);
      expect(() => finished.setResult(2)).toThrow(InvalidStateError);
      expect(() => finished.setException(new Error('x'))).toThrow(/invalid state.*FINISHED/);
      expect(finished.result()).toBe(1);
      const cancelled = loop.createFuture<number>();
      cancelled.cancel();
      expect(() => cancelled.setResult(2)).toThrow(/invalid state.*CANCELLED/);
      expect(() => cancelled.setException(new Error('x'))).toThrow(InvalidStateError);
    } finally {
      loop.close();
    }
  });
});

describe('done callbacks', () => {
  it('run through callSoon, never inline, with the future as argument, in order', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<string>();
      const calls: string[] = [];
      future.addDoneCallback((done) => calls.push(`first ${done === future} ${done.result()}`));
      future.addDoneCallback(() => calls.push('second'));
      future.setResult('ok');
      expect(calls).toEqual([]);
      await spin(loop);
      expect(calls).toEqual(['first true ok', 'second']);
    });
  });

  it('added to a done future are scheduled with callSoon too', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture();
      future.cancel();
      let called = 0;
      future.addDoneCallback((done) => {
        expect(done.cancelled()).toBe(true);
        called++;
      });
      expect(called).toBe(0);
      await spin(loop);
      expect(called).toBe(1);
    });
  });

  it('do not run inline when the future completes inside a loop callback either', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      const order: string[] = [];
      future.addDoneCallback(() => order.push('done callback'));
      loop.callSoon(() => {
        future.setResult(1);
        order.push('after setResult');
      });
      await spin(loop);
      expect(order).toEqual(['after setResult', 'done callback']);
    });
  });

  it('removeDoneCallback removes every registration and returns how many', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture();
      const calls: string[] = [];
      const removed = (): void => {
        calls.push('removed');
      };
      const kept = (): void => {
        calls.push('kept');
      };
      future.addDoneCallback(removed);
      future.addDoneCallback(kept);
      future.addDoneCallback(removed);
      expect(future.removeDoneCallback(removed)).toBe(2);
      expect(future.removeDoneCallback(removed)).toBe(0);
      expect(future.removeDoneCallback(() => {})).toBe(0);
      future.setException(new Error('e'));
      await spin(loop);
      expect(calls).toEqual(['kept']);
    });
  });

  it('an exception in a done callback goes to the exception handler', async () => {
    await withLoop(async (loop) => {
      const contexts: Record<string, unknown>[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      const future = loop.createFuture();
      const error = new Error('callback failed');
      future.addDoneCallback(function failing() {
        throw error;
      });
      let later = false;
      future.addDoneCallback(() => {
        later = true;
      });
      future.setResult(undefined);
      await spin(loop);
      expect(contexts).toHaveLength(1);
      expect(contexts[0]).toMatchObject({ message: 'Exception in callback failing()', exception: error });
      expect(later).toBe(true);
    });
  });
});

describe('await future', () => {
  it('resolves with the result', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      loop.callLater(0.001, () => future.setResult(42));
      const value = await loop.runUntilComplete(async () => await future);
      expect(value).toBe(42);
      // A done future can be awaited again, and then() works.
      await expect(loop.runUntilComplete(async () => future.then((x) => x + 1))).resolves.toBe(43);
    });
  });

  it('rejects with the exception', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      const error = new TypeError('nope');
      loop.callSoon(() => future.setException(error));
      let caught: unknown;
      await loop.runUntilComplete(async () => {
        try {
          await future;
        } catch (exception) {
          caught = exception;
        }
      });
      expect(caught).toBe(error);
    });
  });

  it('rejects with CancelledError (carrying the message) when cancelled', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      loop.callSoon(() => future.cancel('went away'));
      let caught: unknown;
      await loop.runUntilComplete(async () => {
        try {
          await future;
        } catch (exception) {
          caught = exception;
        }
      });
      expect(caught).toBeInstanceOf(CancelledError);
      expect(caught).toMatchObject({ name: 'CancelledError', message: 'went away' });
    });
  });

  it('awaiting a future completed before the await still settles (through the loop)', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<string>();
      future.setResult('early');
      const result = await within(loop.runUntilComplete(async () => await future), 5000, 'await');
      expect(result).toBe('early');
    });
  });

  it('a future with an exception that nobody awaits raises no unhandled rejection', async () => {
    await withLoop(async (loop) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(reason);
      };
      process.on('unhandledRejection', onUnhandled);
      try {
        const future = loop.createFuture();
        future.setException(new Error('never awaited'));
        await spin(loop);
        await new Promise((resolve) => setTimeout(resolve, 10));
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });

  it('runUntilComplete(future) returns its result or throws its exception', async () => {
    await withLoop(async (loop) => {
      const good = loop.createFuture<string>();
      loop.callLater(0.001, () => good.setResult('fine'));
      expect(await loop.runUntilComplete(good)).toBe('fine');
      const bad = loop.createFuture<string>();
      loop.callLater(0.001, () => bad.setException(new Error('broken')));
      await expect(loop.runUntilComplete(bad)).rejects.toThrow(/^broken$/);
      const cancelled = loop.createFuture<string>();
      loop.callSoon(() => cancelled.cancel());
      await expect(loop.runUntilComplete(cancelled)).rejects.toBeInstanceOf(CancelledError);
    });
  });
});
