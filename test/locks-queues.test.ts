// asyncio's synchronization primitives and queues on zloop: FIFO fairness, asyncio's messages,
// and waiters cancelled through their signal leaving the primitive consistent. Plus a seeded model
// test of Queue: every item put is got exactly once or is still in the queue.
import { describe, expect, it } from 'vitest';
import {
  Barrier,
  BoundedSemaphore,
  BrokenBarrierError,
  CancelledError,
  Condition,
  Event,
  getRunningLoop,
  LifoQueue,
  Lock,
  PriorityQueue,
  Queue,
  QueueEmpty,
  QueueFull,
  QueueShutDown,
  run,
  Semaphore,
  sleep,
} from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { seededRandom } from './helpers/random.js';

trackLeaks();

/** Lets the loop run a few iterations, so woken waiters get to run. */
async function turns(count = 5): Promise<void> {
  for (let index = 0; index < count; index++) await sleep(0);
}

describe('Lock', () => {
  it('serves waiters in the order they came; release() without holding it is an error', async () => {
    await run(async () => {
      const lock = new Lock();
      const order: number[] = [];
      await lock.acquire();
      const waiters = [1, 2, 3].map((id) => lock.run(async () => void order.push(id)));
      await turns();
      expect(order).toEqual([]);
      lock.release();
      await Promise.all(waiters);
      expect(order).toEqual([1, 2, 3]);
      expect(lock.locked()).toBe(false);
      expect(() => lock.release()).toThrow('Lock is not acquired.');
    });
  });

  it('a waiter cancelled while blocked holds nothing; one cancelled after being woken passes the lock on', async () => {
    await run(async () => {
      const lock = new Lock();
      await lock.acquire();
      const first = new AbortController();
      const cancelledWait = lock.acquire({ signal: first.signal });
      const second = lock.acquire();
      await turns();
      first.abort();
      await expect(cancelledWait).rejects.toBeInstanceOf(CancelledError);
      lock.release();
      await second;
      expect(lock.locked()).toBe(true);
      // Woken by release(), then cancelled before it ran: the next waiter gets the lock.
      const woken = new AbortController();
      const wokenWait = lock.acquire({ signal: woken.signal });
      const next = lock.acquire();
      await turns();
      lock.release();
      woken.abort();
      await expect(wokenWait).rejects.toBeInstanceOf(CancelledError);
      await next;
      expect(lock.locked()).toBe(true);
      lock.release();
    });
  });

  it('a holder cancelled while holding releases the lock to the next waiter', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const lock = new Lock();
      const holder = loop.createTask(async (signal) => {
        await lock.run(() => new Event().wait({ signal }));
      });
      await turns();
      expect(lock.locked()).toBe(true);
      const next = lock.acquire();
      holder.cancel();
      await next;
      expect(lock.locked()).toBe(true);
      lock.release();
    });
  });

  it('run() releases a lock whose holder failed', async () => {
    await run(async () => {
      const lock = new Lock();
      await expect(lock.run(() => Promise.reject(new Error('holder failed')))).rejects.toThrow('holder failed');
      expect(lock.locked()).toBe(false);
      await expect(lock.acquire({ signal: 'no' as never })).rejects.toThrow(TypeError);
    });
  });
});

describe('Event', () => {
  it('set() wakes every waiter; wait() after set() returns at once; clear() resets', async () => {
    await run(async () => {
      const event = new Event();
      const woken: number[] = [];
      const waiters = [1, 2].map((id) => event.wait().then(() => woken.push(id)));
      await turns();
      expect(woken).toEqual([]);
      event.set();
      await Promise.all(waiters);
      expect(woken).toEqual([1, 2]);
      expect(await event.wait()).toBe(true);
      event.clear();
      const controller = new AbortController();
      const pending = event.wait({ signal: controller.signal });
      controller.abort();
      await expect(pending).rejects.toBeInstanceOf(CancelledError);
    });
  });
});

describe('Condition', () => {
  it('notify(n) wakes n waiters in order, each holding the lock on return', async () => {
    await run(async () => {
      const condition = new Condition();
      const order: number[] = [];
      const waiter = (id: number) =>
        condition.run(async () => {
          await condition.wait();
          expect(condition.locked()).toBe(true);
          order.push(id);
        });
      const waiters = [1, 2, 3].map(waiter);
      await turns();
      await condition.run(() => condition.notify(2));
      await turns();
      expect(order).toEqual([1, 2]);
      await condition.run(() => condition.notifyAll());
      await Promise.all(waiters);
      expect(order).toEqual([1, 2, 3]);
      expect(() => condition.notify()).toThrow('cannot notify on un-acquired lock');
      await expect(condition.wait()).rejects.toThrow('cannot wait on un-acquired lock');
    });
  });

  it('a cancelled wait() takes the lock back before it rejects; waitFor checks the predicate', async () => {
    await run(async () => {
      const condition = new Condition();
      const controller = new AbortController();
      let heldWhenRejected = false;
      const cancelled = condition.run(async () => {
        try {
          await condition.wait({ signal: controller.signal });
        } catch (error) {
          heldWhenRejected = condition.locked();
          throw error;
        }
      });
      await turns();
      controller.abort();
      await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
      expect(heldWhenRejected).toBe(true);
      expect(condition.locked()).toBe(false);
      let ready = false;
      const waitedFor = condition.run(() => condition.waitFor(() => ready && 'ready'));
      await turns();
      ready = true;
      await condition.run(() => condition.notifyAll());
      expect(await waitedFor).toBe('ready');
    });
  });
});

describe('Semaphore and BoundedSemaphore', () => {
  it('lets `value` holders in at once, then queues the rest in order', async () => {
    await run(async () => {
      const semaphore = new Semaphore(2);
      const order: string[] = [];
      await semaphore.acquire();
      await semaphore.acquire();
      expect(semaphore.locked()).toBe(true);
      const waiters = ['a', 'b'].map((id) => semaphore.acquire().then(() => order.push(id)));
      await turns();
      semaphore.release();
      await turns();
      expect(order).toEqual(['a']);
      semaphore.release();
      await Promise.all(waiters);
      expect(order).toEqual(['a', 'b']);
    });
  });

  it('a waiter woken then cancelled gives its unit back to the next waiter', async () => {
    await run(async () => {
      const semaphore = new Semaphore(0);
      const controller = new AbortController();
      const cancelled = semaphore.acquire({ signal: controller.signal });
      const next = semaphore.acquire();
      await turns();
      semaphore.release();
      controller.abort();
      await expect(cancelled).rejects.toBeInstanceOf(CancelledError);
      await next;
      expect(semaphore.locked()).toBe(true);
    });
  });

  it('bad values and a BoundedSemaphore released too often fail with clear errors', () => {
    expect(() => new Semaphore(-1)).toThrow(RangeError);
    expect(() => new Semaphore(1.5)).toThrow(TypeError);
    const bounded = new BoundedSemaphore(1);
    expect(() => bounded.release()).toThrow('BoundedSemaphore released too many times');
  });
});

describe('Barrier', () => {
  it('releases all parties together, with their arrival indexes, and can be used again', async () => {
    await run(async () => {
      const barrier = new Barrier(3);
      for (let round = 0; round < 2; round++) {
        const indexes = await Promise.all([barrier.wait(), barrier.wait(), barrier.wait()]);
        expect(indexes.sort()).toEqual([0, 1, 2]);
      }
      expect(barrier.nWaiting).toBe(0);
      expect(barrier.parties).toBe(3);
    });
  });

  it('a party cancelled while waiting leaves; the others still need a full set', async () => {
    await run(async () => {
      const barrier = new Barrier(2);
      const controller = new AbortController();
      const leaving = barrier.wait({ signal: controller.signal });
      await turns();
      expect(barrier.nWaiting).toBe(1);
      controller.abort();
      await expect(leaving).rejects.toBeInstanceOf(CancelledError);
      expect(barrier.nWaiting).toBe(0);
      expect(barrier.broken).toBe(false);
      expect((await Promise.all([barrier.wait(), barrier.wait()])).sort()).toEqual([0, 1]);
    });
  });

  it('abort() breaks waiters now and later with BrokenBarrierError; reset() breaks those waiting', async () => {
    await run(async () => {
      const barrier = new Barrier(3);
      const waiting = barrier.wait();
      await turns();
      expect(barrier.nWaiting).toBe(1);
      await barrier.reset();
      await expect(waiting).rejects.toBeInstanceOf(BrokenBarrierError);
      await barrier.abort();
      expect(barrier.broken).toBe(true);
      await expect(barrier.wait()).rejects.toBeInstanceOf(BrokenBarrierError);
      expect(() => new Barrier(0)).toThrow(RangeError);
    });
  });
});

describe('Queue, PriorityQueue, LifoQueue', () => {
  it('FIFO, priority and LIFO order; nowait errors; full() at maxsize', async () => {
    await run(async () => {
      const fifo = new Queue<number>(2);
      fifo.putNowait(1);
      fifo.putNowait(2);
      expect(fifo.full()).toBe(true);
      expect(() => fifo.putNowait(3)).toThrow(QueueFull);
      expect([fifo.getNowait(), fifo.getNowait()]).toEqual([1, 2]);
      expect(() => fifo.getNowait()).toThrow(QueueEmpty);
      const priority = new PriorityQueue<[number, string]>();
      for (const item of [[3, 'c'], [1, 'a'], [2, 'b'], [1, 'a2']] as [number, string][]) priority.putNowait(item);
      expect([1, 2, 3, 4].map(() => priority.getNowait()[1])).toEqual(['a', 'a2', 'b', 'c']);
      const lifo = new LifoQueue<number>();
      lifo.putNowait(1);
      lifo.putNowait(2);
      expect(await lifo.get()).toBe(2);
      expect(() => new Queue(1.5)).toThrow(TypeError);
    });
  });

  it('blocked getters and putters are served in order; join() waits for taskDone()', async () => {
    await run(async () => {
      const queue = new Queue<string>(1);
      const got: string[] = [];
      const getters = [1, 2].map(() => queue.get().then((item) => got.push(item)));
      await turns();
      await queue.put('x');
      await queue.put('y');
      await Promise.all(getters);
      expect(got).toEqual(['x', 'y']);
      let joined = false;
      const join = queue.join().then(() => (joined = true));
      await turns();
      expect(joined).toBe(false);
      queue.taskDone();
      queue.taskDone();
      await join;
      expect(() => queue.taskDone()).toThrow('taskDone() called too many times');
      queue.putNowait('z');
      const controller = new AbortController();
      const cancelledJoin = queue.join({ signal: controller.signal });
      controller.abort();
      await expect(cancelledJoin).rejects.toBeInstanceOf(CancelledError);
      expect(() => new PriorityQueue(0, 'order' as never)).toThrow(/compare must be a function/);
      const mixed = new PriorityQueue<unknown>();
      mixed.putNowait({});
      expect(() => mixed.putNowait({})).toThrow(/cannot order/);
      expect(() => new Condition({} as never)).toThrow(/lock must be a Lock/);
    });
  });

  it('a cancelled get() takes no item; a cancelled put() puts none', async () => {
    await run(async () => {
      const queue = new Queue<number>(1);
      const controller = new AbortController();
      const cancelledGet = queue.get({ signal: controller.signal });
      const nextGet = queue.get();
      await turns();
      queue.putNowait(7);
      controller.abort(); // woken by the put, cancelled before it ran
      await expect(cancelledGet).rejects.toBeInstanceOf(CancelledError);
      expect(await nextGet).toBe(7);
      queue.putNowait(8);
      const putController = new AbortController();
      const cancelledPut = queue.put(9, { signal: putController.signal });
      await turns();
      putController.abort();
      await expect(cancelledPut).rejects.toBeInstanceOf(CancelledError);
      expect(queue.qsize()).toBe(1);
      expect(queue.getNowait()).toBe(8);
    });
  });

  it('shutdown(): put fails, get drains then fails, immediate drops the items and releases join()', async () => {
    await run(async () => {
      const queue = new Queue<number>();
      const blocked = queue.get();
      queue.shutdown();
      await expect(blocked).rejects.toBeInstanceOf(QueueShutDown);
      await expect(queue.put(1)).rejects.toBeInstanceOf(QueueShutDown);
      const other = new Queue<number>();
      other.putNowait(1);
      other.putNowait(2);
      other.shutdown();
      expect(await other.get()).toBe(1);
      const third = new Queue<number>();
      third.putNowait(1);
      third.shutdown(true);
      expect(third.empty()).toBe(true);
      await third.join();
      await expect(third.get()).rejects.toBeInstanceOf(QueueShutDown);
    });
  });
});

describe('Queue model', () => {
  const seeds = Number(process.env.ZLOOP_MODEL_SEEDS ?? 40);
  const first = Number(process.env.ZLOOP_MODEL_SEED ?? 1);
  it(`random producers, consumers and cancellations (${seeds} seeds): every item is got once or still queued`, async () => {
    for (let seed = first; seed < first + seeds; seed++) {
      try {
        await run(() => queueProgram(seed));
      } catch (error) {
        throw new Error(`Queue model failed with seed ${seed} (ZLOOP_MODEL_SEED=${seed} ZLOOP_MODEL_SEEDS=1): ${(error as Error).message}`);
      }
    }
  });
});

/** One seeded program: producers put numbered items, consumers get them, some waits are aborted. */
async function queueProgram(seed: number): Promise<void> {
  const random = seededRandom(seed);
  const maxsize = Math.floor(random() * 4);
  const queue = new Queue<number>(maxsize);
  const got = new Map<number, number>();
  const put = new Set<number>();
  let next = 0;
  const loop = getRunningLoop();
  const operations: Promise<void>[] = [];
  /** A wait ends by its signal, or by the shutdown at the end of the program. */
  const ended = (error: unknown): void => {
    if (!(error instanceof CancelledError) && !(error instanceof QueueShutDown)) throw error;
  };
  /** Signals of gets that may still wait, oldest first. */
  const gets: AbortController[] = [];
  for (let step = 0; step < 60; step++) {
    const controller = new AbortController();
    const choice = random();
    if (choice < 0.45) {
      const item = next++;
      operations.push(
        queue.put(item, { signal: controller.signal }).then(
          () => void put.add(item),
          ended,
        ),
      );
      // The put may just have woken the oldest getter: cancel it before it runs (the window
      // where a woken waiter must hand its item on).
      if (random() < 0.3) gets.shift()?.abort();
    } else {
      gets.push(controller);
      operations.push(
        queue.get({ signal: controller.signal }).then(
          (item) => void got.set(item, (got.get(item) ?? 0) + 1),
          ended,
        ),
      );
    }
    if (random() < 0.3) {
      const when = random() < 0.5 ? 0 : Math.floor(random() * 3);
      if (when === 0) controller.abort();
      else loop.callSoon(() => controller.abort());
    }
    if (random() < 0.3) await sleep(0);
  }
  await turns();
  // No waiter is left stranded: items wait only with no live getter, and putters only while full.
  const state = String(queue);
  expect(queue.qsize() > 0 && state.includes('getters['), `items and getters both waiting: ${state}`).toBe(false);
  expect(!queue.full() && state.includes('putters['), `free slots and putters both waiting: ${state}`).toBe(false);
  const leftovers: number[] = [];
  while (!queue.empty()) leftovers.push(queue.getNowait());
  queue.shutdown();
  await Promise.all(operations);
  for (const [item, count] of got) {
    expect(count, `item ${item} got ${count} times`).toBe(1);
    expect(put.has(item), `item ${item} got but never put`).toBe(true);
  }
  for (const item of put) {
    const times = (got.get(item) ?? 0) + leftovers.filter((left) => left === item).length;
    expect(times, `item ${item} put, got or left ${times} times`).toBe(1);
  }
  if (maxsize > 0) expect(leftovers.length).toBeLessThanOrEqual(maxsize);
}
