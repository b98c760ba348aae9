// Scheduling: the ready queue (callSoon), timers (callLater/callAt), handles, and the clock.
import { describe, expect, it } from 'vitest';
import { EventLoop, Handle, newEventLoop, TimerHandle } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

describe('newEventLoop', () => {
  it('makes a fresh loop that is neither running nor closed', async () => {
    const loop = newEventLoop();
    expect(loop).toBeInstanceOf(EventLoop);
    expect(loop.isRunning()).toBe(false);
    expect(loop.isClosed()).toBe(false);
    loop.close();
    expect(loop.isClosed()).toBe(true);
    loop.close(); // idempotent
    expect(loop.isClosed()).toBe(true);
  });

  it('reports isRunning() inside its callbacks', async () => {
    await withLoop(async (loop) => {
      let seen: boolean | undefined;
      loop.callSoon(() => {
        seen = loop.isRunning();
        loop.stop();
      });
      await runForever(loop);
      expect(seen).toBe(true);
      expect(loop.isRunning()).toBe(false);
    });
  });
});

describe('callSoon', () => {
  it('returns a Handle and runs callbacks in FIFO order with their arguments', async () => {
    await withLoop(async (loop) => {
      const calls: unknown[][] = [];
      const record = (...args: unknown[]): void => {
        calls.push(args);
      };
      const handle = loop.callSoon(record, 'a', 1);
      expect(handle).toBeInstanceOf(Handle);
      expect(handle).not.toBeInstanceOf(TimerHandle);
      loop.callSoon(record);
      loop.callSoon(record, 'c', { x: 3 }, null);
      for (let index = 0; index < 100; index++) loop.callSoon(record, index);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(calls.slice(0, 3)).toEqual([['a', 1], [], ['c', { x: 3 }, null]]);
      expect(calls.slice(3)).toEqual(Array.from({ length: 100 }, (_, index) => [index]));
    });
  });

  it('runs a callback scheduled while the ready queue runs in the next iteration', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('A');
        loop.callSoon(() => order.push('C (scheduled by A)'));
        // Microtasks run once per iteration, after the batch: if C ran in A's iteration,
        // it would come before this.
        queueMicrotask(() => order.push('end of first iteration'));
      });
      loop.callSoon(() => order.push('B'));
      loop.callSoon(() => loop.callSoon(() => loop.stop()));
      await runForever(loop);
      expect(order).toEqual(['A', 'B', 'end of first iteration', 'C (scheduled by A)']);
    });
  });

  it('counts one iteration per link of a callSoon chain', async () => {
    await withLoop(async (loop) => {
      // Each link queues a microtask, which runs at the end of its iteration. If a link
      // scheduled by callSoon ran in the same iteration, it would see fewer boundaries.
      let boundaries = 0;
      const seen: number[] = [];
      const link = (remaining: number): void => {
        seen.push(boundaries);
        queueMicrotask(() => boundaries++);
        if (remaining > 0) loop.callSoon(link, remaining - 1);
        else loop.stop();
      };
      loop.callSoon(link, 199);
      await runForever(loop);
      expect(seen).toEqual(Array.from({ length: 200 }, (_, index) => index));
    });
  });

  it('does not starve timers: a due timer runs while a callSoon chain goes on', async () => {
    await withLoop(async (loop) => {
      let links = 0;
      let timerRanAt = -1;
      const link = (): void => {
        links++;
        if (timerRanAt < 0) loop.callSoon(link);
        else loop.stop();
      };
      loop.callLater(0.005, () => {
        timerRanAt = links;
      });
      loop.callSoon(link);
      await runForever(loop);
      expect(timerRanAt).toBeGreaterThan(0);
      expect(links).toBe(timerRanAt + 1);
    });
  });
});

describe('callLater and callAt', () => {
  it('return TimerHandles whose when() is the absolute deadline on loop.time()', async () => {
    await withLoop(async (loop) => {
      const before = loop.time();
      const later = loop.callLater(10, () => {});
      const after = loop.time();
      expect(later).toBeInstanceOf(TimerHandle);
      expect(later).toBeInstanceOf(Handle);
      expect(later.when()).toBeGreaterThanOrEqual(before + 10);
      expect(later.when()).toBeLessThanOrEqual(after + 10);
      const at = loop.callAt(12345.5, () => {});
      expect(at.when()).toBe(12345.5);
      later.cancel();
      at.cancel();
    });
  });

  it('fire in deadline order, not scheduling order', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callLater(0.03, () => {
        order.push('c');
        loop.stop();
      });
      loop.callLater(0.01, () => order.push('a'));
      loop.callLater(0.02, () => order.push('b'));
      const now = loop.time();
      loop.callAt(now + 0.015, () => order.push('a2'));
      await runForever(loop);
      expect(order).toEqual(['a', 'a2', 'b', 'c']);
    });
  });

  it('fire equal deadlines in scheduling order', async () => {
    await withLoop(async (loop) => {
      const order: number[] = [];
      const when = loop.time() + 0.01;
      for (let index = 0; index < 50; index++) loop.callAt(when, (value: number) => order.push(value), index);
      loop.callAt(when, () => loop.stop());
      await runForever(loop);
      expect(order).toEqual(Array.from({ length: 50 }, (_, index) => index));
    });
  });

  it('never fire before their deadline, and pass their arguments', async () => {
    await withLoop(async (loop) => {
      const seen: { now: number; when: number; args: unknown[] }[] = [];
      const handles: TimerHandle[] = [];
      const record = (index: number, tag: string): void => {
        seen.push({ now: loop.time(), when: handles[index]!.when(), args: [index, tag] });
        if (seen.length === 3) loop.stop();
      };
      handles.push(loop.callLater(0.02, record, 0, 'x'));
      handles.push(loop.callLater(0.001, record, 1, 'y'));
      handles.push(loop.callAt(loop.time() + 0.01, record, 2, 'z'));
      await runForever(loop);
      expect(seen.map((entry) => entry.args)).toEqual([
        [1, 'y'],
        [2, 'z'],
        [0, 'x'],
      ]);
      // The loop treats deadlines within 1 µs of now as due (its clock resolution).
      for (const entry of seen) expect(entry.now).toBeGreaterThanOrEqual(entry.when - 1e-6);
    });
  });

  it('run a timer with a zero or negative delay, or a deadline in the past, on the next iteration', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callLater(-5, () => order.push('negative'));
      loop.callLater(0, () => order.push('zero'));
      loop.callAt(loop.time() - 10, () => order.push('past'));
      loop.callLater(0.001, () => loop.stop());
      await runForever(loop);
      expect(order).toEqual(['past', 'negative', 'zero']);
    });
  });

  it('accepts Infinity as a deadline that never comes', async () => {
    await withLoop(async (loop) => {
      let fired = false;
      const never = loop.callLater(Infinity, () => {
        fired = true;
      });
      expect(never.when()).toBe(Infinity);
      loop.callLater(0.01, () => loop.stop());
      await runForever(loop);
      expect(fired).toBe(false);
      never.cancel();
    });
  });

  it('accept huge delays: the reactor timer is armed for them without firing', async () => {
    await withLoop(async (loop) => {
      let fired = 0;
      const handles = [1e10, 1e300, Number.MAX_VALUE].map((delay) => loop.callLater(delay, () => fired++));
      loop.callSoon(() => loop.callLater(0.005, () => loop.stop()));
      const running = runForever(loop);
      // Armed for the huge deadline while the loop idles, then re-armed for the earlier timer.
      await running;
      expect(fired).toBe(0);
      for (const handle of handles) handle.cancel();
    });
  });

  it('arm the reactor timer when scheduled from outside the loop while it idles', async () => {
    await withLoop(async (loop) => {
      let fired = false;
      const running = runForever(loop);
      setTimeout(() => {
        loop.callLater(0.005, () => {
          fired = true;
          loop.stop();
        });
      }, 5);
      await running;
      expect(fired).toBe(true);
    });
  });

  it('arm an earlier deadline when a timer is added before an armed later one', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const late = loop.callLater(30, () => order.push('late'));
      loop.callSoon(() => {
        loop.callLater(0.005, () => {
          order.push('early');
          loop.stop();
        });
      });
      await runForever(loop);
      expect(order).toEqual(['early']);
      late.cancel();
    });
  });
});

describe('Handle.cancel', () => {
  it('stops a callSoon callback from running and is idempotent', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const handle = loop.callSoon(() => order.push('cancelled one'));
      loop.callSoon(() => order.push('kept'));
      expect(handle.cancelled()).toBe(false);
      handle.cancel();
      handle.cancel();
      expect(handle.cancelled()).toBe(true);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(order).toEqual(['kept']);
    });
  });

  it('skips a handle cancelled by an earlier callback of the same iteration', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      loop.callSoon(() => {
        order.push('first');
        second.cancel();
      });
      const second = loop.callSoon(() => order.push('second'));
      loop.callSoon(() => {
        order.push('third');
        loop.stop();
      });
      await runForever(loop);
      expect(order).toEqual(['first', 'third']);
    });
  });

  it('shows the state in toString()', () => {
    const loop = newEventLoop();
    try {
      const handle = loop.callSoon(function named() {});
      expect(String(handle)).toMatch(/^<Handle named\(\)>$/);
      handle.cancel();
      expect(String(handle)).toMatch(/^<Handle cancelled/);
      const timer = loop.callLater(1, () => {});
      expect(String(timer)).toMatch(/^<TimerHandle /);
      timer.cancel();
    } finally {
      loop.close();
    }
  });
});

describe('cancelled timers', () => {
  it('never fire, even the one the reactor timer is armed for', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const first = loop.callLater(0.005, () => order.push('cancelled first'));
      loop.callLater(0.01, () => order.push('cancelled before running'))
        .cancel();
      loop.callLater(0.02, () => {
        order.push('kept');
        loop.stop();
      });
      const running = runForever(loop);
      first.cancel();
      expect(first.cancelled()).toBe(true);
      await running;
      expect(order).toEqual(['kept']);
    });
  });

  it('cancelled from a callback of the iteration in which they were due, do not run', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const when = loop.time() + 0.005;
      loop.callAt(when, () => {
        order.push('a');
        victim.cancel();
      });
      const victim = loop.callAt(when, () => order.push('victim'));
      loop.callAt(when, () => {
        order.push('c');
        loop.stop();
      });
      await runForever(loop);
      expect(order).toEqual(['a', 'c']);
    });
  });

  it('are dropped from the heap once most of it is cancelled', async () => {
    await withLoop(async (loop) => {
      const fired: number[] = [];
      const timers: TimerHandle[] = [];
      for (let index = 0; index < 1000; index++) {
        timers.push(loop.callLater(0.005, (value: number) => fired.push(value), index));
      }
      expect(loop.scheduledTimerCount).toBe(1000);
      for (let index = 0; index < 1000; index++) if (index % 10 !== 0) timers[index]!.cancel();
      expect(loop.scheduledTimerCount).toBeLessThan(1000);
      expect(loop.scheduledTimerCount).toBeLessThan(200);
      expect(loop.scheduledTimerCount).toBeGreaterThanOrEqual(100);
      loop.callLater(0.02, () => loop.stop());
      await runForever(loop);
      expect(fired).toEqual(Array.from({ length: 100 }, (_, index) => index * 10));
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('do not pile up when timers are scheduled and cancelled over and over', async () => {
    await withLoop(async (loop) => {
      const keep = Array.from({ length: 150 }, () => loop.callLater(60, () => {}));
      let maxCount = 0;
      let round = 0;
      const churn = (): void => {
        for (let index = 0; index < 500; index++) loop.callLater(30 + index, () => {}).cancel();
        maxCount = Math.max(maxCount, loop.scheduledTimerCount);
        if (++round < 20) loop.callSoon(churn);
        else loop.stop();
      };
      loop.callSoon(churn);
      await runForever(loop);
      // 10,000 cancelled timers went through a heap that holds 150 live ones.
      expect(maxCount).toBeLessThan(1000);
      expect(loop.scheduledTimerCount).toBeGreaterThanOrEqual(150);
      expect(loop.scheduledTimerCount).toBeLessThan(1000);
      for (const timer of keep) timer.cancel();
      expect(loop.scheduledTimerCount).toBeLessThan(1000);
    });
  });

  it('are dropped when popped even below the compaction threshold', async () => {
    await withLoop(async (loop) => {
      const timers = Array.from({ length: 10 }, () => loop.callLater(0.001, () => {}));
      for (const timer of timers) timer.cancel();
      expect(loop.scheduledTimerCount).toBe(10); // lazily: still in the heap
      loop.callLater(0.005, () => loop.stop());
      await runForever(loop);
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('are forgotten by close()', () => {
    const loop = newEventLoop();
    loop.callLater(1, () => {});
    loop.callLater(2, () => {});
    expect(loop.scheduledTimerCount).toBe(2);
    loop.close();
    expect(loop.scheduledTimerCount).toBe(0);
  });
});

describe('time()', () => {
  it('is a monotonic clock in seconds', async () => {
    await withLoop(async (loop) => {
      const samples: number[] = [];
      for (let index = 0; index < 1000; index++) samples.push(loop.time());
      for (let index = 1; index < samples.length; index++) {
        expect(samples[index]).toBeGreaterThanOrEqual(samples[index - 1]!);
      }
      const start = loop.time();
      const wallStart = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const elapsed = loop.time() - start;
      const wallElapsedSeconds = (Date.now() - wallStart) / 1000;
      // Seconds, not milliseconds: the clock moved by about what the wall clock did.
      expect(elapsed).toBeGreaterThan(0.02);
      expect(elapsed).toBeLessThan(wallElapsedSeconds * 2 + 1);
    });
  });
});

describe('callSoonThreadsafe', () => {
  it('wakes an idle running loop from a Node timer callback', async () => {
    await withLoop(async (loop) => {
      const seen: unknown[] = [];
      const running = runForever(loop);
      setTimeout(() => {
        const handle = loop.callSoonThreadsafe(
          (...args: unknown[]) => {
            seen.push(args);
            loop.stop();
          },
          'x',
          2,
        );
        expect(handle).toBeInstanceOf(Handle);
      }, 10);
      await running;
      expect(seen).toEqual([['x', 2]]);
    });
  });

  it('wakes the loop with callSoon from a Node timer too', async () => {
    await withLoop(async (loop) => {
      const running = runForever(loop);
      let ran = false;
      setTimeout(() => {
        loop.callSoon(() => {
          ran = true;
          loop.stop();
        });
      }, 10);
      await within(running, 5000, 'loop woken by callSoon');
      expect(ran).toBe(true);
    });
  });
});
