// The ready queue's chunks and the timer queue's per-delay lists: order, ties and cancellation
// across the places those structures have edges (chunk boundaries, many lists, callLater mixed
// with callAt, timers cancelled after they were found due). No timing assertions.
import { describe, expect, it } from 'vitest';
import { type EventLoop, newEventLoop, type TimerHandle } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, withLoop } from './helpers/loops.js';

trackLeaks();

/** More than one ready-queue chunk's worth of callbacks. */
const MANY = 20_000;

function stopLater(loop: EventLoop, delay = 0.02): void {
  loop.callLater(delay, () => loop.stop());
}

describe('ready queue', () => {
  it('runs many callbacks in FIFO order with their arguments, across chunk boundaries', async () => {
    await withLoop(async (loop) => {
      const seen: number[] = [];
      for (let index = 0; index < MANY; index++) {
        if (index % 3 === 0) loop.callSoon(() => seen.push(index));
        else loop.callSoon((value: number, extra: string) => seen.push(value + extra.length), index, '');
      }
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(seen).toEqual(Array.from({ length: MANY }, (_, index) => index));
    });
  });

  it('skips exactly the cancelled handles, wherever they sit', async () => {
    await withLoop(async (loop) => {
      const seen: number[] = [];
      const handles = Array.from({ length: MANY }, (_, index) => loop.callSoon(() => seen.push(index)));
      for (let index = 0; index < MANY; index += 7) handles[index]!.cancel();
      expect(handles[7]!.cancelled()).toBe(true);
      expect(handles[8]!.cancelled()).toBe(false);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(seen).toEqual(Array.from({ length: MANY }, (_, index) => index).filter((index) => index % 7 !== 0));
    });
  });

  it('a stale handle cannot cancel the callback that reuses its slot', async () => {
    await withLoop(async (loop) => {
      const seen: string[] = [];
      // `old` runs first and alone, so the queue empties and starts its chunk over: the next
      // callSoon ('kept') takes the slot `old` had. Cancelling `old` then must not touch it.
      const old = loop.callSoon(() => {
        seen.push('old');
        loop.callSoon(() => seen.push('kept'));
        old.cancel();
        expect(old.cancelled()).toBe(true);
        loop.callSoon(() => loop.stop());
      });
      await runForever(loop);
      expect(seen).toEqual(['old', 'kept']);
    });
  });

  it("a handle of a closed loop cannot cancel another loop's callback in the chunk it used", async () => {
    // Chunks go back to a pool of the thread when a loop closes. Two chunks' worth, so the first
    // chunk (holding `stale`) stays in the pool and the next loop's queue starts in it.
    const first = newEventLoop();
    const stale = first.callSoon(() => {});
    for (let index = 0; index < 9000; index++) first.callSoon(() => {});
    first.close();
    await withLoop(async (loop) => {
      const seen: string[] = [];
      loop.callSoon(() => seen.push('kept'));
      stale.cancel();
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(seen).toEqual(['kept']);
    });
  });

  it('cancel() drops the callback and its arguments', () => {
    const loop = newEventLoop();
    try {
      const argument = { big: true };
      const handle = loop.callSoon(function named(_value: unknown) {}, argument);
      handle.cancel();
      expect(String(handle)).toBe('<Handle cancelled >');
      expect(Object.values(handle)).not.toContain(argument);
    } finally {
      loop.close();
    }
  });

  it('callbacks scheduled while the queue runs wait for the next iteration, also in bulk', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      let iteration = 0;
      loop.callSoon(() => {
        for (let index = 0; index < MANY; index++) loop.callSoon(() => order.push(`second ${iteration}`));
        order.push('first');
      });
      loop.callSoon(() => order.push('same iteration'));
      loop.callSoon(() => {
        iteration++;
        loop.callSoon(() => loop.stop());
      });
      await runForever(loop);
      expect(order.slice(0, 2)).toEqual(['first', 'same iteration']);
      expect(order.length).toBe(2 + MANY);
      expect(new Set(order.slice(2))).toEqual(new Set(['second 1']));
    });
  });

  it('an exception names the callback, and the handle in the context describes it', async () => {
    await withLoop(async (loop) => {
      const contexts: Record<string, unknown>[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      loop.callSoon(function thrower(value: number) {
        throw new Error(`bad ${value}`);
      }, 3);
      loop.callSoon(() => loop.stop());
      await runForever(loop);
      expect(contexts).toHaveLength(1);
      expect(contexts[0]!.message).toBe('Exception in callback thrower()');
      expect(String(contexts[0]!.handle)).toBe('<Handle thrower()>');
    });
  });
});

describe('timer queue', () => {
  it('fires callLater timers of many delays in deadline order, ties in scheduling order', async () => {
    await withLoop(async (loop) => {
      const fired: TimerHandle[] = [];
      const timers: TimerHandle[] = [];
      for (let index = 0; index < 2000; index++) {
        const delay = (index % 37) / 10_000; // 37 delays, 0 to 3.6 ms
        const timer: TimerHandle = loop.callLater(delay, () => fired.push(timer));
        timers.push(timer);
      }
      // Equal deadlines on purpose: callAt with the deadline of an existing callLater timer.
      const twin = timers[100]!;
      const atTwin: TimerHandle = loop.callAt(twin.when(), () => fired.push(atTwin));
      stopLater(loop);
      await runForever(loop);
      expect(fired).toHaveLength(timers.length + 1);
      const expected = [...timers, atTwin].sort((a, b) => a.when() - b.when() || order(a, b, timers, atTwin));
      expect(fired).toEqual(expected);
      expect(fired.indexOf(atTwin)).toBeGreaterThan(fired.indexOf(twin));
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('when() is time() at the call plus the delay', () => {
    const loop = newEventLoop();
    try {
      const before = loop.time();
      const timer = loop.callLater(0.5, () => {});
      const after = loop.time();
      expect(timer.when()).toBeGreaterThanOrEqual(before + 0.5);
      expect(timer.when()).toBeLessThanOrEqual(after + 0.5);
      timer.cancel();
    } finally {
      loop.close();
    }
  });

  it('interleaves callLater and callAt by deadline', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      // callAt deadlines are placed between the callLater ones, so a slow machine cannot reorder them.
      const later2 = loop.callLater(0.002, () => order.push('later 2'));
      const later3 = loop.callLater(0.003, () => order.push('later 3'));
      loop.callAt(later3.when() + 0.0005, () => order.push('at 4'));
      loop.callLater(0.005, () => order.push('later 5'));
      loop.callAt(later2.when() - 0.0005, () => order.push('at 1'));
      stopLater(loop);
      await runForever(loop);
      expect(order).toEqual(['at 1', 'later 2', 'later 3', 'at 4', 'later 5']);
    });
  });

  it('a due timer cancelled by an earlier callback of its iteration neither runs nor is counted twice', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const when = loop.time() + 0.002;
      const victims: TimerHandle[] = [];
      loop.callAt(when, () => {
        order.push('first');
        for (const victim of victims) victim.cancel();
      });
      for (let index = 0; index < 300; index++) victims.push(loop.callAt(when, () => order.push('victim')));
      // Many more timers far away, so a miscount would show up in compaction and the count.
      const far = Array.from({ length: 150 }, () => loop.callLater(10, () => order.push('far')));
      loop.callAt(when, () => order.push('last'));
      stopLater(loop);
      await runForever(loop);
      expect(order).toEqual(['first', 'last']);
      expect(loop.scheduledTimerCount).toBe(150);
      for (const timer of far) timer.cancel();
      // Most of the queue is cancelled now: compaction dropped them.
      expect(loop.scheduledTimerCount).toBeLessThan(150);
    });
  });

  it('compacts per-delay lists and keeps the survivors in order', async () => {
    await withLoop(async (loop) => {
      const fired: number[] = [];
      const timers: TimerHandle[] = [];
      for (let index = 0; index < 1000; index++) {
        timers.push(loop.callLater(0.001 + (index % 10) / 1000, (value: number) => fired.push(value), index));
      }
      expect(loop.scheduledTimerCount).toBe(1000);
      for (let index = 0; index < 1000; index++) if (index % 4 !== 0) timers[index]!.cancel();
      expect(loop.scheduledTimerCount).toBeLessThan(1000);
      expect(loop.scheduledTimerCount).toBeGreaterThanOrEqual(250);
      stopLater(loop, 0.03);
      await runForever(loop);
      const kept = timers.filter((_, index) => index % 4 === 0);
      const expected = [...kept].sort((a, b) => a.when() - b.when() || timers.indexOf(a) - timers.indexOf(b));
      expect(fired).toEqual(expected.map((timer) => timers.indexOf(timer)));
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('a timer scheduled already due while timers run waits for the next iteration, behind the ready callbacks', async () => {
    await withLoop(async (loop) => {
      const order: string[] = [];
      const when = loop.time() + 0.001;
      loop.callAt(when, () => {
        order.push('first');
        loop.callAt(loop.time() - 1, () => order.push('past callAt'));
        loop.callLater(-1, () => order.push('negative callLater'));
        loop.callSoon(() => order.push('callSoon'));
      });
      loop.callAt(when, () => order.push('second'));
      stopLater(loop);
      await runForever(loop);
      expect(order).toEqual(['first', 'second', 'callSoon', 'past callAt', 'negative callLater']);
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('keeps order and cancellation right in a per-delay list that is refilled while it runs', async () => {
    await withLoop(async (loop) => {
      // 3000 timers of one delay, with more added while the first ones run: the list moves its
      // live entries to the front of its arrays on the way, and handles must still find theirs.
      const fired: number[] = [];
      const handles: TimerHandle[] = [];
      const schedule = (index: number): void => {
        handles[index] = loop.callLater(0.001, () => {
          fired.push(index);
          if (index < 1000) schedule(index + 2000);
          if (index === 1500) handles[2500]!.cancel();
        });
      };
      for (let index = 0; index < 2000; index++) schedule(index);
      stopLater(loop, 0.05);
      await runForever(loop);
      const expected = Array.from({ length: 3000 }, (_, index) => index).filter((index) => index !== 2500);
      expect(fired).toEqual(expected);
      expect(loop.scheduledTimerCount).toBe(0);
    });
  });

  it('a handle whose timer ran cannot cancel a later timer that reuses its list', async () => {
    await withLoop(async (loop) => {
      const fired: string[] = [];
      const first = loop.callLater(0.001, () => fired.push('first'));
      loop.callLater(0.002, () => loop.stop());
      await runForever(loop);
      const second = loop.callLater(0.001, () => fired.push('second'));
      const third = loop.callLater(0.003, () => fired.push('third'));
      expect(loop.scheduledTimerCount).toBe(2);
      first.cancel();
      expect(loop.scheduledTimerCount).toBe(2);
      loop.callLater(0.005, () => loop.stop());
      await runForever(loop);
      expect(fired).toEqual(['first', 'second', 'third']);
      expect(second.cancelled() || third.cancelled()).toBe(false);
    });
  });

  it("an exception in a callLater timer reports a TimerHandle equal to the one callLater returned", async () => {
    await withLoop(async (loop) => {
      const contexts: Record<string, unknown>[] = [];
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      const timer = loop.callLater(0.001, function failingTimer() {
        throw new Error('boom');
      });
      stopLater(loop);
      await runForever(loop);
      expect(contexts).toHaveLength(1);
      const reported = contexts[0]!.handle as TimerHandle;
      expect(reported.when()).toBe(timer.when());
      expect(String(reported)).toBe('<TimerHandle failingTimer()>');
      expect(contexts[0]!.message).toBe('Exception in callback failingTimer()');
    });
  });

  it('close() drops timers and callbacks, and their handles stay usable', () => {
    const loop = newEventLoop();
    const timer = loop.callLater(0.001, () => {});
    const handle = loop.callSoon(() => {});
    expect(loop.scheduledTimerCount).toBe(1);
    loop.close();
    expect(loop.scheduledTimerCount).toBe(0);
    timer.cancel();
    handle.cancel();
    expect(timer.cancelled()).toBe(true);
    expect(handle.cancelled()).toBe(true);
  });
});

function order(a: TimerHandle, b: TimerHandle, timers: TimerHandle[], extra: TimerHandle): number {
  // `extra` was scheduled after all of `timers`.
  const rank = (timer: TimerHandle): number => (timer === extra ? timers.length : timers.indexOf(timer));
  return rank(a) - rank(b);
}
