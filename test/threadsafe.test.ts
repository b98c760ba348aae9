// Cross-thread calls: loop.ref() gives a LoopRef any thread can use; ref.callSoonThreadsafe(name,
// ...args) runs what the target registered under `name` on the target's thread, in its loop
// order. Producers are real worker threads (test/fixtures/threadsafe-worker.mjs).
import * as comlink from 'comlink';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { type ExceptionContext, loopEndpoint, LoopRef, MAX_CALL_BYTES, newEventLoop } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { runForever, within, withLoop } from './helpers/loops.js';

trackLeaks();

const fixture = new URL('./fixtures/threadsafe-worker.mjs', import.meta.url);

type WorkerReport = { done?: true; error?: { name: string; message: string }; ref?: { buffer: SharedArrayBuffer } };

function startWorker(workerData: Record<string, unknown>): { worker: Worker; reports: WorkerReport[]; exited: Promise<number> } {
  const worker = new Worker(fixture, { workerData });
  const reports: WorkerReport[] = [];
  worker.on('message', (message: WorkerReport) => reports.push(message));
  const exited = new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', resolve);
  });
  return { worker, reports, exited };
}

function nextMessage(worker: Worker): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describe('callSoonThreadsafe across threads', () => {
  it('100,000 calls from 3 workers arrive exactly once and FIFO per producer', { timeout: 90_000 }, async () => {
    const producers = 3;
    const total = 100_000;
    const perProducer = Math.ceil(total / producers);
    const next = new Array<number>(producers).fill(0);
    const outOfOrder: string[] = [];
    let delivered = 0;
    let ended = 0;
    const gate = new SharedArrayBuffer(4);
    const workers: ReturnType<typeof startWorker>[] = [];
    try {
      await withLoop(async (loop) => {
        loop.registerThreadsafe('record', (producer: number, seq: number) => {
          delivered++;
          if (seq !== next[producer] && outOfOrder.length < 10) outOfOrder.push(`producer ${producer}: got ${seq}, expected ${next[producer]}`);
          next[producer] = seq + 1;
        });
        loop.registerThreadsafe('end', () => {
          if (++ended === producers) loop.stop();
        });
        const ref = loop.ref();
        for (let producer = 0; producer < producers; producer++) {
          workers.push(startWorker({ mode: 'produce', ref, producer, count: perProducer, gate }));
        }
        // Release the producers together once the target runs, so their calls interleave.
        loop.callSoon(() => {
          Atomics.store(new Int32Array(gate), 0, 1);
          Atomics.notify(new Int32Array(gate), 0);
        });
        await runForever(loop, 60_000);
      });
      expect(outOfOrder).toEqual([]);
      expect(next).toEqual(new Array(producers).fill(perProducer));
      expect(delivered).toBe(perProducer * producers);
      expect(delivered).toBeGreaterThanOrEqual(total);
      for (const { exited, reports } of workers) {
        expect(await within(exited, 10_000, 'producer exit')).toBe(0);
        expect(reports).toEqual([{ done: true }]);
      }
    } finally {
      await Promise.all(workers.map(({ worker }) => worker.terminate()));
    }
  });

  it('an idle target (loop running, nothing to do) wakes for a call from another thread', async () => {
    const times = 5;
    const delays: number[] = [];
    await withLoop(async (loop) => {
      loop.registerThreadsafe('ping', (index: number, sentAt: number) => {
        delays[index] = performance.timeOrigin + performance.now() - sentAt;
        if (index === times - 1) loop.stop();
      });
      // The worker waits 50 ms before each call, so the target is idle (nothing ready, no timer)
      // every time one arrives: only the mailbox wakeup can get it running.
      const { worker, exited } = startWorker({ mode: 'ping', ref: loop.ref(), times, idleMs: 50 });
      try {
        await runForever(loop, 10_000);
        expect(await within(exited, 5000, 'worker exit')).toBe(0);
      } finally {
        await worker.terminate();
      }
    });
    expect(delays).toHaveLength(times);
    // A generous bound, not a measurement: a target woken only by some later, unrelated event
    // (or never) fails.
    for (const delay of delays) expect(delay).toBeLessThan(1000);
  });

  it('arguments are structured-cloned: objects, arrays, strings, numbers, -0, null/undefined, booleans, Uint8Array', async () => {
    const values: unknown[] = [
      { a: 1, b: [1, 2, { c: 'x' }] },
      [1, 'two', null, undefined, false],
      '',
      'héllo wörld ✓ 🚀',
      'x'.repeat(100_000),
      0,
      42,
      -7,
      2 ** 31,
      -(2 ** 31),
      2 ** 53,
      3.14159,
      -1e-300,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      null,
      undefined,
      true,
      false,
      { nested: { deep: { deeper: [{ leaf: 'yes' }, new Uint8Array([9, 8])] } } },
      new Uint8Array([0, 1, 128, 255]),
      123n,
      new Map([[1, 'one']]),
      new Date(0),
    ];
    const single: unknown[] = [];
    let all: unknown[] = [];
    await withLoop(async (loop) => {
      loop.registerThreadsafe('value', (value: unknown) => single.push(value));
      loop.registerThreadsafe('all', (...args: unknown[]) => {
        all = args;
        loop.stop();
      });
      const { worker, exited } = startWorker({ mode: 'values', ref: loop.ref(), values });
      try {
        await runForever(loop, 10_000);
        expect(await within(exited, 5000, 'worker exit')).toBe(0);
      } finally {
        await worker.terminate();
      }
    });
    for (const received of [single, all]) {
      expect(received).toHaveLength(values.length);
      values.forEach((value, index) => {
        const got = received[index];
        if (typeof value === 'number') expect(Object.is(got, value), `${index}: ${String(got)} vs ${value}`).toBe(true);
        else expect(got, `value ${index}`).toEqual(value);
      });
      expect(received[values.findIndex((value) => Object.is(value, -0))]).toBe(-0);
      expect(received[21]).toBeInstanceOf(Uint8Array);
      expect(received[24]).toBeInstanceOf(Date);
    }
  });

  it('arguments are copied when the call is made, not when it runs', async () => {
    await withLoop(async (loop) => {
      const seen: unknown[] = [];
      loop.registerThreadsafe('keep', (value: unknown) => {
        seen.push(value);
        loop.stop();
      });
      const ref = LoopRef.from({ buffer: loop.ref().buffer });
      const sent = { count: 1, list: [1] };
      ref.callSoonThreadsafe('keep', sent);
      sent.count = 2;
      sent.list.push(2);
      await runForever(loop);
      expect(seen).toEqual([{ count: 1, list: [1] }]);
      expect(seen[0]).not.toBe(sent);
      // What cannot be cloned fails at the call, in the caller.
      expect(() => ref.callSoonThreadsafe('keep', () => 1)).toThrow(/could not be cloned|DataCloneError/i);
    });
  });

  it('any call up to MAX_CALL_BYTES arrives wherever the ring stood; a larger one is a RangeError and its neighbours arrive', async () => {
    await withLoop(async (loop) => {
      const sizes: number[] = [];
      loop.registerThreadsafe('big', (text: string) => sizes.push(text.length));
      loop.registerThreadsafe('small', (label: string) => sizes.push(Number(label)));
      loop.registerThreadsafe('stop', () => loop.stop());
      const ref = LoopRef.from({ buffer: loop.ref().buffer });
      // Each call lands where the previous one left the ring (near its middle), then is drained.
      const wanted = [2_500_000, 3_000_000, MAX_CALL_BYTES - 64, 1_000, MAX_CALL_BYTES - 64];
      for (const size of wanted) {
        ref.callSoonThreadsafe('big', 'x'.repeat(size));
        ref.callSoonThreadsafe('stop');
        await runForever(loop);
      }
      expect(sizes).toEqual(wanted);
      sizes.length = 0;
      ref.callSoonThreadsafe('small', '1');
      let error: unknown = null;
      try {
        ref.callSoonThreadsafe('big', 'x'.repeat(MAX_CALL_BYTES + 1));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(RangeError);
      expect(error).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      ref.callSoonThreadsafe('small', '2');
      ref.callSoonThreadsafe('stop');
      await runForever(loop);
      expect(sizes).toEqual([1, 2]);
    });
  });

  it('a call to a closed loop fails with a clear error, on this thread and on another', async () => {
    const loop = newEventLoop();
    loop.registerThreadsafe('noop', () => {});
    const ref = loop.ref();
    expect(ref.isOpen()).toBe(true);
    loop.close();
    expect(ref.isOpen()).toBe(false);
    expect(() => ref.callSoonThreadsafe('noop')).toThrow(/^Event loop is closed/);
    expect(() => loop.ref()).toThrow(/Event loop is closed/);
    const { worker, reports, exited } = startWorker({ mode: 'call', ref, name: 'noop', args: [1] });
    try {
      await within(exited, 10_000, 'worker exit');
      expect(reports).toEqual([{ error: { name: 'Error', message: expect.stringMatching(/^Event loop is closed/) } }]);
    } finally {
      await worker.terminate();
    }
  });

  // A LoopRef to a loop whose thread ended without loop.close() refuses calls: the reactor's
  // environment cleanup closes its mailbox.
  for (const ending of ['terminate', 'exit'] as const) {
    it(`a call to the loop of a thread that ended (${ending}) fails with 'Event loop is closed'`, async () => {
      const owner = newEventLoop();
      const { worker, exited } = startWorker({ mode: 'forever', ref: owner.ref() });
      try {
        const hello = await within(nextMessage(worker), 10_000, 'worker ref');
        const ref = LoopRef.from(hello.ref!);
        expect(ref.isOpen()).toBe(true);
        if (ending === 'terminate') await worker.terminate();
        else ref.callSoonThreadsafe('exit', 3);
        expect(await within(exited, 10_000, 'worker exit')).toBe(ending === 'terminate' ? 1 : 3);
        expect(ref.isOpen()).toBe(false);
        expect(() => ref.callSoonThreadsafe('noop')).toThrow(/^Event loop is closed/);
      } finally {
        await worker.terminate();
        owner.close();
      }
    });
  }

  it('an unregistered name goes to the target loop\'s exception handler; the loop keeps running', async () => {
    const contexts: ExceptionContext[] = [];
    await withLoop(async (loop) => {
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      loop.registerThreadsafe('later', () => loop.stop());
      loop.registerThreadsafe('gone', () => {});
      expect(loop.unregisterThreadsafe('gone')).toBe(true);
      expect(loop.unregisterThreadsafe('gone')).toBe(false);
      const ref = loop.ref();
      const first = startWorker({ mode: 'call', ref, name: 'nope', args: [1, 'a'] });
      const second = startWorker({ mode: 'call', ref, name: 'gone' });
      try {
        await within(Promise.all([first.exited, second.exited]), 10_000, 'workers exit');
        // Both calls are queued before the loop runs; a registered call afterwards still runs.
        ref.callSoonThreadsafe('later');
        await runForever(loop);
      } finally {
        await Promise.all([first.worker.terminate(), second.worker.terminate()]);
      }
    });
    expect(contexts.map((context) => context.message).sort()).toEqual([
      "No threadsafe function registered as 'gone'",
      "No threadsafe function registered as 'nope'",
    ]);
  });

  it('an exception thrown by a registered function goes to the exception handler', async () => {
    const contexts: ExceptionContext[] = [];
    await withLoop(async (loop) => {
      loop.setExceptionHandler((_loop, context) => contexts.push(context));
      loop.registerThreadsafe('boom', () => {
        throw new Error('registered function failed');
      });
      loop.registerThreadsafe('after', () => loop.stop());
      const { worker, exited } = startWorker({ mode: 'call', ref: loop.ref(), name: 'boom' });
      try {
        await within(exited, 10_000, 'worker exit');
        loop.ref().callSoonThreadsafe('after');
        await runForever(loop);
      } finally {
        await worker.terminate();
      }
    });
    expect(contexts).toHaveLength(1);
    expect((contexts[0]!.exception as Error).message).toBe('registered function failed');
  });

  it('bad arguments: TypeError for names and functions', () => {
    const loop = newEventLoop();
    try {
      expect(() => loop.registerThreadsafe('', () => {})).toThrow(TypeError);
      expect(() => loop.registerThreadsafe(1 as never, () => {})).toThrow(TypeError);
      expect(() => loop.registerThreadsafe('f', 'not a function' as never)).toThrow(TypeError);
      expect(() => loop.ref().callSoonThreadsafe(1 as never)).toThrow(TypeError);
      expect(() => LoopRef.from({} as never)).toThrow(TypeError);
      expect(() => LoopRef.from(new SharedArrayBuffer(8))).toThrow(TypeError);
      expect(() => new LoopRef(new ArrayBuffer(4096) as never)).toThrow(TypeError);
    } finally {
      loop.close();
    }
  });
});

describe('comlink between loops over loopEndpoint', () => {
  it('wrap/expose between the main thread\'s loop and a worker\'s loop', async () => {
    await withLoop(async (loop) => {
      const { worker, reports, exited } = startWorker({ mode: 'comlink', ref: loop.ref(), tag: 'A' });
      try {
        const hello = await within(nextMessage(worker), 10_000, 'worker ref');
        const remote = comlink.wrap<{
          add(a: number, b: number): number;
          slowUpper(text: string): Promise<string>;
          fail(message: string): void;
          threadName(): string;
          stop(): string;
        }>(loopEndpoint(loop, LoopRef.from(hello.ref!)));
        const results = await loop.runUntilComplete(async () => {
          const sums = await Promise.all(Array.from({ length: 100 }, (_, index) => remote.add(index, 1000)));
          const upper = await remote.slowUpper('abc');
          const name = await remote.threadName();
          const failure = await remote.fail('remote boom').then(
            () => null,
            (error: Error) => error,
          );
          const stopping = await remote.stop();
          return { sums, upper, name, failure, stopping };
        });
        expect(results.sums).toEqual(Array.from({ length: 100 }, (_, index) => index + 1000));
        expect(results.upper).toBe('ABC');
        expect(results.name).toBe('worker:A');
        expect(results.failure).toBeInstanceOf(Error);
        expect(results.failure!.message).toBe('remote boom');
        expect(results.stopping).toBe('stopping');
        expect(await within(exited, 10_000, 'worker exit')).toBe(0);
        expect(reports.at(-1)).toEqual({ done: true });
      } finally {
        await worker.terminate();
      }
    });
  });
});
