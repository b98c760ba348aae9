// run(), the current/running loop, sleep(), waitFor(), runForever/stop and runUntilComplete.
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  EventLoop,
  getEventLoop,
  getRunningLoop,
  newEventLoop,
  run,
  setEventLoop,
  sleep,
  TimeoutError,
  waitFor,
  type Task,
} from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

describe('run', () => {
  it('runs an async function on a new loop and returns its result', async () => {
    let seenLoop: EventLoop | undefined;
    const result = await run(async () => {
      seenLoop = getRunningLoop();
      await sleep(0.001);
      return 'main result';
    });
    expect(result).toBe('main result');
    expect(seenLoop).toBeInstanceOf(EventLoop);
    expect(seenLoop!.isClosed()).toBe(true);
    expect(seenLoop!.isRunning()).toBe(false);
    expect(() => getRunningLoop()).toThrow(/^no running event loop$/);
  });

  it('passes main an AbortSignal', async () => {
    const signal = await run(async (received) => received);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
  });

  it('runs a promise to completion', async () => {
    expect(await run(new Promise((resolve) => setTimeout(resolve, 2, 'from promise')))).toBe('from promise');
  });

  it("rethrows main's exception and still closes the loop", async () => {
    let loop: EventLoop | undefined;
    const error = new Error('main failed');
    await expect(
      run(async () => {
        loop = getRunningLoop();
        await sleep(0);
        throw error;
      }),
    ).rejects.toBe(error);
    expect(loop!.isClosed()).toBe(true);
  });

  it('uses loopFactory to make its loop', async () => {
    let made: EventLoop | undefined;
    const result = await run(async () => getRunningLoop(), {
      loopFactory: () => {
        made = newEventLoop();
        return made;
      },
    });
    expect(result).toBe(made);
    expect(made!.isClosed()).toBe(true);
  });

  it('sets debug mode when asked', async () => {
    expect(await run(async () => getRunningLoop().getDebug(), { debug: true })).toBe(true);
    expect(await run(async () => getRunningLoop().getDebug(), { debug: false })).toBe(false);
    expect(await run(async () => getRunningLoop().getDebug())).toBe(false);
  });

  it('cancels the tasks left over when main returns, aborting their signals', async () => {
    let leftover: Task<any> | undefined;
    let finished: Task<any> | undefined;
    let aborted = false;
    const result = await run(async () => {
      const loop = getRunningLoop();
      leftover = loop.createTask(async (signal) => {
        signal.addEventListener('abort', () => {
          aborted = true;
        });
        await sleep(60);
      });
      finished = loop.createTask(async () => 'finished');
      await finished;
      return 'main done';
    });
    expect(result).toBe('main done');
    expect(leftover!.cancelled()).toBe(true);
    expect(aborted).toBe(true);
    expect(finished!.cancelled()).toBe(false);
    expect(finished!.result()).toBe('finished');
  });

  it('makes its loop the current loop while it runs, and unsets it after', async () => {
    const inside = await run(async () => getEventLoop() === getRunningLoop());
    expect(inside).toBe(true);
    // After run() no loop is current: getEventLoop() makes a fresh one.
    const fresh = getEventLoop();
    try {
      expect(fresh.isClosed()).toBe(false);
    } finally {
      fresh.close();
      setEventLoop(null);
    }
  });

  it('can run one after another on the same thread', async () => {
    const results: number[] = [];
    for (let index = 0; index < 5; index++) results.push(await run(async () => index));
    expect(results).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('getRunningLoop, getEventLoop, setEventLoop', () => {
  it("getRunningLoop throws 'no running event loop' outside a loop", () => {
    expect(() => getRunningLoop()).toThrow(/^no running event loop$/);
  });

  it('getRunningLoop returns the loop whose callback is running', async () => {
    await withLoop(async (loop) => {
      let seen: EventLoop | undefined;
      loop.callSoon(() => {
        seen = getRunningLoop();
        loop.stop();
      });
      await runForever(loop);
      expect(seen).toBe(loop);
      expect(() => getRunningLoop()).toThrow(/no running event loop/);
    });
  });

  it('getEventLoop returns the loop set with setEventLoop', () => {
    const loop = newEventLoop();
    try {
      setEventLoop(loop);
      expect(getEventLoop()).toBe(loop);
      expect(getEventLoop()).toBe(loop);
    } finally {
      setEventLoop(null);
      loop.close();
    }
  });

  it('getEventLoop makes one loop on first use and keeps returning it', () => {
    setEventLoop(null);
    const made = getEventLoop();
    try {
      expect(made).toBeInstanceOf(EventLoop);
      expect(getEventLoop()).toBe(made);
    } finally {
      setEventLoop(null);
      made.close();
    }
  });

  it('getEventLoop prefers the running loop over the current one', async () => {
    const current = newEventLoop();
    setEventLoop(current);
    try {
      await withLoop(async (loop) => {
        let seen: EventLoop | undefined;
        loop.callSoon(() => {
          seen = getEventLoop();
          loop.stop();
        });
        await runForever(loop);
        expect(seen).toBe(loop);
        expect(getEventLoop()).toBe(current);
      });
    } finally {
      setEventLoop(null);
      current.close();
    }
  });
});

describe('sleep', () => {
  it('resolves with the value after the delay, in deadline order', async () => {
    const order: string[] = [];
    const result = await run(async () => {
      const loop = getRunningLoop();
      const start = loop.time();
      const values = await Promise.all([
        sleep(0.02, 'slow').then((value) => (order.push(value), value)),
        sleep(0.005, 'fast').then((value) => (order.push(value), value)),
        sleep(0).then((value) => (order.push(String(value)), value)),
      ]);
      return { values, elapsed: loop.time() - start };
    });
    expect(result.values).toEqual(['slow', 'fast', undefined]);
    expect(order).toEqual(['undefined', 'fast', 'slow']);
    // Behaviour, not timing: the timer did not fire before its deadline.
    expect(result.elapsed).toBeGreaterThanOrEqual(0.02 - 1e-6);
  });

  it('treats a negative delay as zero', async () => {
    expect(await run(async () => sleep(-1, 'now'))).toBe('now');
  });

  it('uses one timer, dropped once it fired', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const sleeping = sleep(0.001);
      expect(loop.scheduledTimerCount).toBe(1);
      await sleeping;
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('in a cancelled task: awaiting the task rejects with CancelledError at once', async () => {
    // Note: JavaScript cannot throw into the pending await, so the sleep's own timer stays
    // scheduled until it fires or the loop closes (asyncio would cancel it with the task).
    await run(async () => {
      const loop = getRunningLoop();
      const sleeper = loop.createTask(() => sleep(30));
      await sleep(0.001);
      sleeper.cancel();
      await expect(within(Promise.resolve(sleeper), 5000, 'cancelled sleeper')).rejects.toBeInstanceOf(CancelledError);
    });
  });

  it("rejects with 'no running event loop' outside a loop", async () => {
    await expect(sleep(0)).rejects.toThrow(/^no running event loop$/);
  });
});

describe('waitFor', () => {
  it('returns the result when it comes within the timeout, and cancels its timer', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      expect(await waitFor(sleep(0.001, 'in time'), 10)).toBe('in time');
      expect(await waitFor(async () => 'function', 10)).toBe('function');
      const future = loop.createFuture<number>();
      loop.callLater(0.001, () => future.setResult(9));
      expect(await waitFor(future, 10)).toBe(9);
      await sleep(0);
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('throws TimeoutError after the timeout and cancels what it waited for', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let aborted = false;
      const inner = loop.createTask(async (signal) => {
        signal.addEventListener('abort', () => {
          aborted = true;
        });
        await sleep(60);
      });
      const error = await waitFor(inner, 0.005).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(inner.cancelled()).toBe(true);
      expect(aborted).toBe(true);
      const future = loop.createFuture();
      await expect(waitFor(future, 0.001)).rejects.toBeInstanceOf(TimeoutError);
      expect(future.cancelled()).toBe(true);
    });
  });

  it('with a timeout of zero or less cancels a pending awaitable at once, but returns a done one', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const pending = loop.createFuture();
      await expect(waitFor(pending, 0)).rejects.toBeInstanceOf(TimeoutError);
      expect(pending.cancelled()).toBe(true);
      const done = loop.createFuture<string>();
      done.setResult('ready');
      expect(await waitFor(done, -1)).toBe('ready');
    });
  });

  it('with timeout null waits as long as it takes', async () => {
    await run(async () => {
      expect(await waitFor(sleep(0.01, 'no limit'), null)).toBe('no limit');
      expect(getRunningLoop().scheduledTimerCount).toBe(0);
    });
  });

  it('passes on an exception or a cancellation that is not its timeout', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const error = new Error('inner failed');
      await expect(
        waitFor(async () => {
          throw error;
        }, 10),
      ).rejects.toBe(error);
      const future = loop.createFuture();
      loop.callSoon(() => future.cancel());
      await expect(waitFor(future, 10)).rejects.toBeInstanceOf(CancelledError);
    });
  });

  it("rejects with 'no running event loop' outside a loop", async () => {
    await expect(waitFor(Promise.resolve(1), 1)).rejects.toThrow(/^no running event loop$/);
  });
});

describe('runForever and stop', () => {
  it('runForever returns a promise that resolves once stop() is called', async () => {
    await withLoop(async (loop) => {
      let stopped = false;
      const running = loop.runForever();
      expect(running).toBeInstanceOf(Promise);
      expect(loop.isRunning()).toBe(true);
      running.then(() => {
        stopped = true;
      });
      loop.callLater(0.005, () => loop.stop());
      await within(running, 5000, 'runForever');
      expect(stopped).toBe(true);
      expect(loop.isRunning()).toBe(false);
    });
  });

  it('stop() finishes the current iteration; callbacks it scheduled wait for the next run', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('a');
        loop.stop();
        loop.callSoon(() => order.push('next run'));
      });
      loop.callSoon(() => order.push('b, same iteration'));
      await runForever(loop);
      expect(order).toEqual(['a', 'b, same iteration']);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(order).toEqual(['a', 'b, same iteration', 'next run']);
    });
  });

  it('stop() before runForever makes it run one iteration and return', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('ran');
        loop.callSoon(() => order.push('later'));
      });
      loop.stop();
      await runForever(loop);
      expect(order).toEqual(['ran']);
      expect(loop.isRunning()).toBe(false);
    });
  });

  it('stop() from a Node timer stops an idle loop', async () => {
    await withLoop(async (loop) => {
      const running = runForever(loop);
      setTimeout(() => loop.stop(), 5);
      await running;
      expect(loop.isRunning()).toBe(false);
    });
  });
});

describe('runUntilComplete', () => {
  it('returns the result of an async function, a promise, or a task', async () => {
    await withLoop(async (loop) => {
      expect(await loop.runUntilComplete(async () => 'fn')).toBe('fn');
      expect(await loop.runUntilComplete(Promise.resolve('promise'))).toBe('promise');
      const task = loop.createTask(async () => 'task');
      expect(await loop.runUntilComplete(task)).toBe('task');
      expect(loop.isRunning()).toBe(false);
    });
  });

  it('throws the exception', async () => {
    await withLoop(async (loop) => {
      await expect(
        loop.runUntilComplete(async () => {
          await sleep(0.001);
          throw new RangeError('out of range');
        }),
      ).rejects.toThrow(RangeError);
    });
  });

  it('throws when the loop is stopped before the future is done', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture();
      loop.callSoon(() => loop.stop());
      await expect(loop.runUntilComplete(future)).rejects.toThrow(/^Event loop stopped before Future completed\.$/);
      future.cancel();
    });
  });

  it('returns at once for a future that is already done', async () => {
    await withLoop(async (loop) => {
      const future = loop.createFuture<number>();
      future.setResult(5);
      expect(await within(loop.runUntilComplete(future), 5000, 'runUntilComplete')).toBe(5);
    });
  });
});
