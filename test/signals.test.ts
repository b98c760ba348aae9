// Signal handlers: addSignalHandler/removeSignalHandler with real signals sent to this process
// (process.kill(process.pid, ...)); a worker thread gets a clear error.
import { Worker } from 'node:worker_threads';
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { getRunningLoop, newEventLoop, run } from 'zloop';
import { trackLeaks } from './helpers/leaks.js';
import { within } from './helpers/loops.js';

trackLeaks();

function listeners(signal: NodeJS.Signals): number {
  return process.listenerCount(signal);
}

describe('addSignalHandler', () => {
  it('runs the callback with its arguments on the loop when the signal arrives', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const before = listeners('SIGUSR1');
      const calls: unknown[][] = [];
      let runningLoop: unknown = null;
      let received!: () => void;
      const got = new Promise<void>((resolve) => (received = resolve));
      loop.addSignalHandler(
        'SIGUSR1',
        (...args: unknown[]) => {
          calls.push(args);
          runningLoop = getRunningLoop();
          received();
        },
        'a',
        2,
      );
      expect(listeners('SIGUSR1')).toBe(before + 1);
      process.kill(process.pid, 'SIGUSR1');
      await within(got, 5000, 'SIGUSR1 handler');
      expect(calls).toEqual([['a', 2]]);
      expect(runningLoop).toBe(loop);
      expect(loop.removeSignalHandler('SIGUSR1')).toBe(true);
      expect(listeners('SIGUSR1')).toBe(before);
      expect(loop.removeSignalHandler('SIGUSR1')).toBe(false);
    });
  });

  it('takes signal numbers; a second handler for one signal replaces the first', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      const before = listeners('SIGUSR2');
      const seen: string[] = [];
      let received!: () => void;
      const got = new Promise<void>((resolve) => (received = resolve));
      loop.addSignalHandler(constants.signals.SIGUSR2, () => seen.push('first'));
      loop.addSignalHandler('SIGUSR2', () => {
        seen.push('second');
        received();
      });
      expect(listeners('SIGUSR2')).toBe(before + 1);
      process.kill(process.pid, 'SIGUSR2');
      await within(got, 5000, 'SIGUSR2 handler');
      expect(seen).toEqual(['second']);
      expect(loop.removeSignalHandler(constants.signals.SIGUSR2)).toBe(true);
    });
  });

  it('a removed handler does not run, even for a signal that already arrived', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let calls = 0;
      loop.addSignalHandler('SIGUSR1', () => calls++);
      // A second listener, not ours, tells us the signal was delivered to this process.
      const delivered = new Promise<void>((resolve) => process.once('SIGUSR1', () => resolve()));
      process.kill(process.pid, 'SIGUSR1');
      await within(delivered, 5000, 'signal delivery');
      // Our listener ran too and scheduled the callback; removing now cancels it.
      expect(loop.removeSignalHandler('SIGUSR1')).toBe(true);
      for (let index = 0; index < 10; index++) await new Promise<void>((resolve) => loop.callSoon(() => resolve()));
      expect(calls).toBe(0);
    });
  });

  it('an error in the callback goes to the exception handler; the loop goes on', async () => {
    await run(async () => {
      const loop = getRunningLoop();
      let reported!: (context: unknown) => void;
      const report = new Promise<unknown>((resolve) => (reported = resolve));
      loop.setExceptionHandler((_loop, context) => reported(context));
      loop.addSignalHandler('SIGUSR2', () => {
        throw new Error('handler failed');
      });
      process.kill(process.pid, 'SIGUSR2');
      const context = (await within(report, 5000, 'exception handler')) as { exception: Error };
      expect(context.exception.message).toBe('handler failed');
      expect(loop.removeSignalHandler('SIGUSR2')).toBe(true);
    });
  });

  it('closing the loop removes its handlers', async () => {
    const loop = newEventLoop();
    const before1 = listeners('SIGUSR1');
    const before2 = listeners('SIGUSR2');
    loop.addSignalHandler('SIGUSR1', () => {});
    loop.addSignalHandler('SIGUSR2', () => {});
    expect(listeners('SIGUSR1')).toBe(before1 + 1);
    expect(listeners('SIGUSR2')).toBe(before2 + 1);
    loop.close();
    expect(listeners('SIGUSR1')).toBe(before1);
    expect(listeners('SIGUSR2')).toBe(before2);
    expect(() => loop.addSignalHandler('SIGUSR1', () => {})).toThrow(/Event loop is closed/);
  });

  it('rejects bad signals and callbacks with errors that name them', () => {
    const loop = newEventLoop();
    try {
      expect(() => loop.addSignalHandler('SIGNOPE' as NodeJS.Signals, () => {})).toThrow(RangeError);
      expect(() => loop.addSignalHandler('SIGNOPE' as NodeJS.Signals, () => {})).toThrow(/SIGNOPE/);
      expect(() => loop.addSignalHandler(99999, () => {})).toThrow(/99999/);
      expect(() => loop.addSignalHandler(null as never, () => {})).toThrow(TypeError);
      expect(() => loop.addSignalHandler('SIGUSR1', 'nope' as never)).toThrow(/callback must be a function/);
      expect(() => loop.addSignalHandler('SIGUSR1', async () => {})).toThrow(/coroutines cannot be used with addSignalHandler/);
      expect(() => loop.addSignalHandler('SIGKILL', () => {})).toThrow(/SIGKILL cannot be caught/);
      expect(() => loop.addSignalHandler('SIGSTOP', () => {})).toThrow(/cannot be caught/);
      expect(() => loop.removeSignalHandler('SIGNOPE' as NodeJS.Signals)).toThrow(/SIGNOPE/);
      expect(loop.removeSignalHandler('SIGUSR1')).toBe(false);
    } finally {
      loop.close();
    }
  });
});

describe('in a worker thread', () => {
  it('addSignalHandler throws a clear error', async () => {
    const source = `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../dist/src/index.js', import.meta.url).href)}).then(({ newEventLoop }) => {
        const loop = newEventLoop();
        try {
          loop.addSignalHandler('SIGUSR1', () => {});
          parentPort.postMessage({ ok: true });
        } catch (error) {
          parentPort.postMessage({ name: error.name, message: error.message, remove: (() => { try { loop.removeSignalHandler('SIGUSR1'); } catch (e) { return e.message; } })() });
        } finally {
          loop.close();
        }
      });
    `;
    const worker = new Worker(source, { eval: true });
    const message = await within(new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }), 10_000, 'worker reply');
    await worker.terminate();
    expect(message).toMatchObject({
      name: 'Error',
      message: expect.stringMatching(/addSignalHandler\(\) works only in the main thread/),
      remove: expect.stringMatching(/works only in the main thread/),
    });
  });
});
